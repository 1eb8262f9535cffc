// The `command` provider, resource type command:remote:Command only, with the
// official provider's behaviour (v1.2.1: its schema's inputs and defaults, its
// secretness and its diff; see plugins/README.md for where it deliberately
// differs). Kept apart from main.ts so tests can drive it without starting a
// gRPC server.
import { randomBytes } from "node:crypto";
import type * as provider from "@pulumi/pulumi/provider";
import { packageVersion, ResourceLogger, silentLogger } from "../common/engine";
import {
    changedKeys,
    compact,
    containsSecret,
    containsUnknown,
    isObject,
    isSecret,
    nameFromUrn,
    PropertyMap,
    PropertyValue,
    reveal,
    secret,
    unwrapSecret,
} from "../common/props";
import { cancelAll, environmentNameProblem, maskSecrets, OutputStream, RemoteCommandError, runRemote, SshConnection, SshOptions } from "./ssh";

export const remoteCommandType = "command:remote:Command";

/** Every input of command:remote:Command; anything else in the state is an output. */
export const commandInputKeys = ["addPreviousOutputInEnv", "connection", "create", "delete", "environment", "logging", "stdin", "triggers", "update"] as const;

export const loggingValues = ["stdout", "stderr", "stdoutAndStderr", "none"] as const;
type Logging = (typeof loggingValues)[number];

/**
 * Defaults of ConnectionArgs, as the SDK's connectionArgsProvideDefaults and the
 * official schema set them. These are the only defaults the official schema has:
 * `logging` and `addPreviousOutputInEnv` stay unset unless given (their
 * behaviour when unset is below), so check does not write them either.
 */
export const connectionDefaults = { port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 } as const;

/** What an unset `logging` and `addPreviousOutputInEnv` mean (documented by the official provider, not written). */
export const unsetMeans = { logging: "stdoutAndStderr", addPreviousOutputInEnv: true } as const;

/** Connection members the official schema marks secret: check makes them secret inside the (secret) connection. */
export const secretConnectionKeys = ["password", "privateKey", "privateKeyPassword"] as const;

const connectionStringKeys = ["host", "user", "password", "privateKey", "privateKeyPassword", "hostKey", "agentSocketPath"];
const connectionNumberKeys = ["port", "dialErrorLimit", "perDialTimeout"];

/**
 * Linux caps a single environment string at 128 KiB, and SendEnv takes values
 * from ssh's own environment; larger previous outputs are left out (with a warning).
 */
export const maxPreviousOutputBytes = 120 * 1024;

export interface CommandProviderOptions {
    logger?: ResourceLogger;
    ssh?: SshOptions;
}

type Failure = provider.CheckFailure;

/**
 * The connection as the official check leaves it: the schema's defaults
 * filled in, the whole connection secret, and inside it password, privateKey
 * and privateKeyPassword secret too. An unknown connection (a preview) is
 * left unknown, but secret.
 */
export function normalizeConnection(conn: PropertyValue): PropertyValue {
    let inner = unwrapSecret(conn);
    while (isSecret(inner)) {
        inner = inner.value;
    }
    if (!isObject(inner)) {
        return secret(inner);
    }
    const out: PropertyMap = { ...inner };
    for (const [k, v] of Object.entries(connectionDefaults)) {
        if (out[k] === undefined || out[k] === null) {
            out[k] = v;
        }
    }
    for (const k of secretConnectionKeys) {
        if (out[k] !== undefined && out[k] !== null) {
            out[k] = secret(out[k]);
        }
    }
    return secret(out);
}

function checkConnection(conn: PropertyValue | undefined, failures: Failure[]): PropertyValue | undefined {
    if (conn === undefined || conn === null) {
        failures.push({ property: "connection", reason: "connection is required (at least connection.host)" });
        return conn ?? undefined;
    }
    const normalized = normalizeConnection(conn);
    const plain = reveal(normalized);
    if (!isObject(plain)) {
        if (!containsUnknown(conn)) {
            failures.push({ property: "connection", reason: "connection must be an object" });
        }
        return normalized;
    }
    const known = (k: string) => !containsUnknown(plain[k]);
    if (plain.host === undefined || plain.host === null || (known("host") && (typeof plain.host !== "string" || plain.host === ""))) {
        failures.push({ property: "connection.host", reason: "connection.host must be a non-empty host name or address" });
    }
    for (const k of connectionStringKeys) {
        if (plain[k] !== undefined && plain[k] !== null && known(k) && typeof plain[k] !== "string") {
            failures.push({ property: `connection.${k}`, reason: `connection.${k} must be a string` });
        }
    }
    for (const k of connectionNumberKeys) {
        if (known(k) && (typeof plain[k] !== "number" || !Number.isInteger(plain[k]))) {
            failures.push({ property: `connection.${k}`, reason: `connection.${k} must be a whole number` });
        }
    }
    if (known("port") && typeof plain.port === "number" && (plain.port < 1 || plain.port > 65535)) {
        failures.push({ property: "connection.port", reason: "connection.port must be between 1 and 65535" });
    }
    if (known("dialErrorLimit") && typeof plain.dialErrorLimit === "number" && plain.dialErrorLimit < -1) {
        failures.push({ property: "connection.dialErrorLimit", reason: "connection.dialErrorLimit must be -1 (no limit) or more" });
    }
    if (known("perDialTimeout") && typeof plain.perDialTimeout === "number" && plain.perDialTimeout < 0) {
        failures.push({ property: "connection.perDialTimeout", reason: "connection.perDialTimeout must be 0 (no limit) or more" });
    }
    if (plain.proxy !== undefined && plain.proxy !== null) {
        failures.push({
            property: "connection.proxy",
            reason: "connection.proxy (a bastion host) is not supported by this project's command provider; reach the host directly",
        });
    }
    return normalized;
}

function checkEnvironment(env: PropertyValue | undefined, failures: Failure[]): void {
    if (env === undefined || env === null) {
        return;
    }
    const plain = reveal(env);
    if (containsUnknown(env) && !isObject(plain)) {
        return;
    }
    if (!isObject(plain)) {
        failures.push({ property: "environment", reason: "environment must be a map of names to strings" });
        return;
    }
    for (const [name, value] of Object.entries(plain)) {
        const problem = environmentNameProblem(name);
        if (problem) {
            failures.push({ property: `environment.${name}`, reason: problem });
        } else if (typeof value !== "string") {
            failures.push({ property: `environment.${name}`, reason: "environment values must be strings" });
        }
    }
}

function optionalString(v: PropertyValue | undefined, what: string): string | undefined {
    const plain = v === undefined ? undefined : reveal(v);
    if (plain === undefined || plain === null) {
        return undefined;
    }
    if (typeof plain !== "string") {
        throw new Error(`${what} must be a string`);
    }
    return plain;
}

/** The connection as plain, typed settings (defaults applied again in case check did not run). */
export function parseConnection(v: PropertyValue | undefined): SshConnection {
    const plain = v === undefined ? undefined : reveal(v);
    if (!isObject(plain)) {
        throw new Error("connection must be an object with at least a host");
    }
    const num = (k: keyof typeof connectionDefaults & string, fallback: number): number => {
        const x = plain[k];
        if (x === undefined || x === null) {
            return fallback;
        }
        if (typeof x !== "number") {
            throw new Error(`connection.${k} must be a number`);
        }
        return x;
    };
    const host = optionalString(plain.host, "connection.host");
    if (!host) {
        throw new Error("connection.host is required");
    }
    if (plain.proxy !== undefined && plain.proxy !== null) {
        throw new Error("connection.proxy is not supported by this project's command provider");
    }
    return {
        host,
        port: num("port", connectionDefaults.port),
        user: optionalString(plain.user, "connection.user") ?? connectionDefaults.user,
        privateKey: optionalString(plain.privateKey, "connection.privateKey"),
        privateKeyPassword: optionalString(plain.privateKeyPassword, "connection.privateKeyPassword"),
        password: optionalString(plain.password, "connection.password"),
        hostKey: optionalString(plain.hostKey, "connection.hostKey"),
        agentSocketPath: optionalString(plain.agentSocketPath, "connection.agentSocketPath"),
        dialErrorLimit: num("dialErrorLimit", connectionDefaults.dialErrorLimit),
        perDialTimeout: num("perDialTimeout", connectionDefaults.perDialTimeout),
    };
}

function parseEnvironment(v: PropertyValue | undefined): Record<string, string> {
    const plain = v === undefined ? undefined : reveal(v);
    const env: Record<string, string> = {};
    if (plain === undefined || plain === null) {
        return env;
    }
    if (!isObject(plain)) {
        throw new Error("environment must be a map of names to strings");
    }
    for (const [k, x] of Object.entries(plain)) {
        if (typeof x !== "string") {
            throw new Error(`environment.${k} must be a string`);
        }
        env[k] = x;
    }
    return env;
}

function parseLogging(v: PropertyValue | undefined): Logging {
    const plain = optionalString(v, "logging") ?? unsetMeans.logging;
    const found = loggingValues.find((l) => l === plain);
    if (!found) {
        throw new Error(`logging must be one of ${loggingValues.join(", ")}`);
    }
    return found;
}

function logs(logging: Logging, stream: OutputStream): boolean {
    return logging === "stdoutAndStderr" || logging === stream;
}

/**
 * The secret strings a failure message or a logged line must not show: the
 * value of every secret command, stdin and environment value (also without
 * its final newline). A multi-line secret is also hidden line by line (lines
 * of 4 characters or more), in case a command prints only part of it.
 */
export function secretStrings(props: PropertyMap): string[] {
    const found: string[] = [];
    const collect = (v: PropertyValue | undefined, inSecret: boolean): void => {
        if (v === undefined || v === null) {
            return;
        }
        const secretHere = inSecret || isSecret(v);
        const inner = unwrapSecret(v);
        if (typeof inner === "string") {
            const whole = inner.replace(/\n+$/, "");
            if (secretHere && whole !== "") {
                // The value as given, and without the final newline a stdin line usually ends with.
                found.push(inner, whole);
                if (whole.includes("\n")) {
                    found.push(
                        ...whole
                            .split("\n")
                            .map((line) => line.trim())
                            .filter((line) => line.length >= 4),
                    );
                }
            }
        } else if (Array.isArray(inner)) {
            inner.forEach((e) => collect(e, secretHere));
        } else if (isObject(inner)) {
            Object.values(inner).forEach((e) => collect(e, secretHere));
        }
    };
    for (const k of ["create", "update", "delete", "stdin", "environment"]) {
        collect(props[k], false);
    }
    return [...new Set(found)];
}

/**
 * The inputs as diff compares them. A state written by an earlier version of
 * this plugin holds `logging: stdoutAndStderr` and `addPreviousOutputInEnv:
 * true` (which the official check does not write) and a connection whose
 * private key was not secret inside it; such a state means exactly what the
 * official inputs mean, so it is compared in the official form instead of
 * re-running every command.
 */
function diffForm(props: PropertyMap): PropertyMap {
    const out: PropertyMap = {};
    for (const k of commandInputKeys) {
        const v = props[k];
        if (v === undefined || v === null) {
            continue;
        }
        if (k === "connection") {
            out[k] = containsUnknown(v) ? v : normalizeConnection(v);
        } else if ((k === "logging" || k === "addPreviousOutputInEnv") && v === unsetMeans[k]) {
            continue;
        } else {
            out[k] = v;
        }
    }
    return out;
}

export class CommandProvider implements provider.Provider {
    readonly version: string;
    private readonly logger: ResourceLogger;
    private readonly sshOptions: SshOptions;

    constructor(opts: CommandProviderOptions = {}) {
        this.version = packageVersion("@pulumi/command");
        this.logger = opts.logger ?? silentLogger;
        this.sshOptions = opts.ssh ?? {};
    }

    private assertType(urn: string): void {
        // URN: urn:pulumi:<stack>::<project>::<[parent$]type>::<name>
        const qualifiedType = urn.split("::")[2] ?? "";
        const type = qualifiedType.split("$").pop();
        if (type !== remoteCommandType) {
            throw new Error(`this command provider implements only ${remoteCommandType}, not ${type}`);
        }
    }

    async check(urn: string, _olds: PropertyMap, news: PropertyMap): Promise<provider.CheckResult> {
        this.assertType(urn);
        const failures: Failure[] = [];
        const connection = checkConnection(news.connection, failures);
        checkEnvironment(news.environment, failures);
        for (const k of ["create", "update", "delete", "stdin"]) {
            const v = news[k] === undefined ? undefined : reveal(news[k]);
            if (v !== undefined && v !== null && !containsUnknown(v) && typeof v !== "string") {
                failures.push({ property: k, reason: `${k} must be a string` });
            }
        }
        // Only what is given is checked and kept: the official schema has no default for these two.
        const logging = news.logging;
        if (logging !== undefined && logging !== null && !containsUnknown(logging) && !loggingValues.some((l) => l === reveal(logging))) {
            failures.push({ property: "logging", reason: `logging must be one of ${loggingValues.join(", ")}` });
        }
        const addPrevious = news.addPreviousOutputInEnv;
        if (addPrevious !== undefined && addPrevious !== null && !containsUnknown(addPrevious) && typeof reveal(addPrevious) !== "boolean") {
            failures.push({ property: "addPreviousOutputInEnv", reason: "addPreviousOutputInEnv must be true or false" });
        }
        const triggers = news.triggers === undefined ? undefined : reveal(news.triggers);
        if (triggers !== undefined && triggers !== null && !containsUnknown(triggers) && !Array.isArray(triggers)) {
            failures.push({ property: "triggers", reason: "triggers must be a list" });
        }
        const inputs = compact({ ...news, connection });
        return { inputs, failures };
    }

    /**
     * As the official provider: any changed input is an update, a changed
     * `triggers` a replacement, and a change of secretness alone is a change.
     */
    async diff(_id: string, urn: string, olds: PropertyMap, news: PropertyMap): Promise<provider.DiffResult> {
        this.assertType(urn);
        const changed = changedKeys(diffForm(olds), diffForm(news), commandInputKeys, { secretness: true });
        // The SDK also asks for replaceOnChanges triggers[*]; saying so here makes the plan right on its own.
        const replaces = changed.filter((k) => k === "triggers");
        return { changes: changed.length > 0, replaces };
    }

    async create(urn: string, inputs: PropertyMap): Promise<provider.CreateResult> {
        this.assertType(urn);
        const id = nameFromUrn(urn) + randomBytes(4).toString("hex");
        let stdout = "";
        let stderr = "";
        if (optionalString(inputs.create, "create") !== undefined) {
            ({ stdout, stderr } = await this.run(urn, inputs, "create", undefined));
        }
        // As the official provider: stdout and stderr are not secret because an input is
        // (mark them with additionalSecretOutputs); the inputs keep their own secretness.
        return { id, outs: { ...inputs, stdout, stderr } };
    }

    async update(_id: string, urn: string, olds: PropertyMap, news: PropertyMap): Promise<provider.UpdateResult> {
        this.assertType(urn);
        // The update command, or create again when there is none.
        const command = (["update", "create"] as const).find((k) => optionalString(news[k], k) !== undefined);
        if (command === undefined) {
            // Nothing to run: the previous output stays (not secret, as the official provider returns it).
            const keep = (v: PropertyValue | undefined) => reveal(v ?? "");
            return { outs: { ...news, stdout: keep(olds.stdout), stderr: keep(olds.stderr) } };
        }
        const { stdout, stderr } = await this.run(urn, news, command, olds);
        return { outs: { ...news, stdout, stderr } };
    }

    async delete(_id: string, urn: string, props: PropertyMap): Promise<void> {
        this.assertType(urn);
        if (optionalString(props.delete, "delete") !== undefined) {
            await this.run(urn, props, "delete", props);
        }
    }

    async read(id: string, urn: string, props?: PropertyMap): Promise<provider.ReadResult> {
        this.assertType(urn);
        // A remote command leaves nothing that could be read back: the state is all there is.
        return { id, props };
    }

    async cancel(): Promise<void> {
        cancelAll();
    }

    /**
     * Runs the resource's `create`, `update` or `delete` command with its
     * connection, stdin and environment. `previous` holds the outputs of the
     * last create/update, offered to the command as PULUMI_COMMAND_STDOUT/STDERR
     * unless addPreviousOutputInEnv is false.
     */
    private async run(
        urn: string,
        props: PropertyMap,
        which: "create" | "update" | "delete",
        previous: PropertyMap | undefined,
    ): Promise<{ stdout: string; stderr: string }> {
        const command = optionalString(props[which], which) ?? "";
        const connection = parseConnection(props.connection);
        const environment = parseEnvironment(props.environment);
        if (previous !== undefined && reveal(props.addPreviousOutputInEnv ?? unsetMeans.addPreviousOutputInEnv) !== false) {
            for (const [name, key] of [
                ["PULUMI_COMMAND_STDOUT", "stdout"],
                ["PULUMI_COMMAND_STDERR", "stderr"],
            ] as const) {
                const value = optionalString(previous[key], key);
                if (!value) {
                    continue;
                }
                if (Buffer.byteLength(value) > maxPreviousOutputBytes) {
                    this.logger.log(
                        "warning",
                        `${name} not set: the previous ${key} (${Buffer.byteLength(value)} bytes) is too large for one environment variable`,
                        urn,
                    );
                    continue;
                }
                environment[name] = value;
            }
        }
        const logging = parseLogging(props.logging);
        const secrets = secretStrings(props);
        try {
            return await runRemote(
                {
                    connection,
                    command,
                    stdin: optionalString(props.stdin, "stdin"),
                    environment,
                    onLine: (stream, line) => {
                        if (logs(logging, stream)) {
                            // The engine shows these lines as they come: a secret stdin or environment value is masked.
                            this.logger.log("info", maskSecrets(line, secrets), urn, true);
                        }
                    },
                    onDialRetry: (attempt, limit, reason) =>
                        this.logger.log("info", `Dial ${attempt}/${limit === Infinity ? "inf" : limit} failed (${reason}): retrying`, urn, true),
                },
                this.sshOptions,
            );
        } catch (e) {
            if (e instanceof RemoteCommandError) {
                // Never stdin. A secret command: neither its text nor its output. Otherwise both,
                // with every secret value (stdin, environment) masked.
                throw new Error(e.describe({ secretCommand: containsSecret(props[which]), secrets }));
            }
            throw e;
        } finally {
            await this.logger.flush();
        }
    }
}
