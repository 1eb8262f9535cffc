// The `command` provider, resource type command:remote:Command only, with the
// official provider's documented behaviour (see plugins/README.md for where it
// deliberately differs). Kept apart from main.ts so tests can drive it without
// starting a gRPC server.
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
    mapSecret,
    nameFromUrn,
    PropertyMap,
    PropertyValue,
    reveal,
    secretIf,
} from "../common/props";
import { cancelAll, environmentNameProblem, OutputStream, RemoteCommandError, runRemote, SshConnection, SshOptions } from "./ssh";

export const remoteCommandType = "command:remote:Command";

/** Every input of command:remote:Command; anything else in the state is an output. */
export const commandInputKeys = [
    "addPreviousOutputInEnv",
    "connection",
    "create",
    "delete",
    "environment",
    "logging",
    "stdin",
    "triggers",
    "update",
] as const;

const loggingValues = ["stdout", "stderr", "stdoutAndStderr", "none"] as const;
type Logging = (typeof loggingValues)[number];

/** Defaults of ConnectionArgs, as the SDK's connectionArgsProvideDefaults and the official schema set them. */
export const connectionDefaults = { port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 } as const;

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

function checkConnection(conn: PropertyValue | undefined, failures: Failure[]): PropertyValue | undefined {
    if (conn === undefined || conn === null) {
        failures.push({ property: "connection", reason: "connection is required (at least connection.host)" });
        return conn ?? undefined;
    }
    if (containsUnknown(conn) && !isObject(reveal(conn))) {
        return conn;
    }
    return mapSecret(conn, (inner) => {
        if (!isObject(inner)) {
            failures.push({ property: "connection", reason: "connection must be an object" });
            return inner;
        }
        const withDefaults: PropertyMap = { ...inner };
        for (const [k, v] of Object.entries(connectionDefaults)) {
            if (withDefaults[k] === undefined || withDefaults[k] === null) {
                withDefaults[k] = v;
            }
        }
        const plain = reveal(withDefaults) as PropertyMap;
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
        return withDefaults;
    });
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
    const plain = optionalString(v, "logging") ?? "stdoutAndStderr";
    const found = loggingValues.find((l) => l === plain);
    if (!found) {
        throw new Error(`logging must be one of ${loggingValues.join(", ")}`);
    }
    return found;
}

function logs(logging: Logging, stream: OutputStream): boolean {
    return logging === "stdoutAndStderr" || logging === stream;
}

/** stdout and stderr are secret when what produced them was: the commands, stdin or environment. */
export function outputsAreSecret(props: PropertyMap): boolean {
    return ["create", "update", "delete", "stdin", "environment"].some((k) => containsSecret(props[k]));
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
        const logging = news.logging ?? "stdoutAndStderr";
        const plainLogging = reveal(logging);
        if (!containsUnknown(logging) && !loggingValues.some((l) => l === plainLogging)) {
            failures.push({ property: "logging", reason: `logging must be one of ${loggingValues.join(", ")}` });
        }
        const addPrevious = news.addPreviousOutputInEnv ?? true;
        if (!containsUnknown(addPrevious) && typeof reveal(addPrevious) !== "boolean") {
            failures.push({ property: "addPreviousOutputInEnv", reason: "addPreviousOutputInEnv must be true or false" });
        }
        const triggers = news.triggers === undefined ? undefined : reveal(news.triggers);
        if (triggers !== undefined && triggers !== null && !containsUnknown(triggers) && !Array.isArray(triggers)) {
            failures.push({ property: "triggers", reason: "triggers must be a list" });
        }
        const inputs = compact({ ...news, connection, logging, addPreviousOutputInEnv: addPrevious });
        return { inputs, failures };
    }

    async diff(_id: string, urn: string, olds: PropertyMap, news: PropertyMap): Promise<provider.DiffResult> {
        this.assertType(urn);
        const changed = changedKeys(olds, news, commandInputKeys);
        // The SDK also asks for replaceOnChanges triggers[*]; saying so here makes the plan right on its own.
        const replaces = changed.filter((k) => k === "triggers");
        return { changes: changed.length > 0, replaces };
    }

    async create(urn: string, inputs: PropertyMap): Promise<provider.CreateResult> {
        this.assertType(urn);
        const id = nameFromUrn(urn) + randomBytes(4).toString("hex");
        const command = optionalString(inputs.create, "create");
        let stdout = "";
        let stderr = "";
        if (command !== undefined) {
            ({ stdout, stderr } = await this.run(urn, inputs, command, undefined));
        }
        const secret = outputsAreSecret(inputs);
        return { id, outs: { ...inputs, stdout: secretIf(secret, stdout), stderr: secretIf(secret, stderr) } };
    }

    async update(_id: string, urn: string, olds: PropertyMap, news: PropertyMap): Promise<provider.UpdateResult> {
        this.assertType(urn);
        const command = optionalString(news.update, "update") ?? optionalString(news.create, "create");
        const secret = outputsAreSecret(news);
        if (command === undefined) {
            // Nothing to run: the previous output stays, as secret as it was or has become.
            const keep = (v: PropertyValue | undefined) => secretIf(secret || isSecret(v), reveal(v ?? ""));
            return { outs: { ...news, stdout: keep(olds.stdout), stderr: keep(olds.stderr) } };
        }
        const { stdout, stderr } = await this.run(urn, news, command, olds);
        return { outs: { ...news, stdout: secretIf(secret, stdout), stderr: secretIf(secret, stderr) } };
    }

    async delete(_id: string, urn: string, props: PropertyMap): Promise<void> {
        this.assertType(urn);
        const command = optionalString(props.delete, "delete");
        if (command !== undefined) {
            await this.run(urn, props, command, props);
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
     * Runs a command with the resource's connection, stdin and environment.
     * `previous` holds the outputs of the last create/update, offered to the
     * command as PULUMI_COMMAND_STDOUT/STDERR unless addPreviousOutputInEnv is false.
     */
    private async run(
        urn: string,
        props: PropertyMap,
        command: string,
        previous: PropertyMap | undefined,
    ): Promise<{ stdout: string; stderr: string }> {
        const connection = parseConnection(props.connection);
        const environment = parseEnvironment(props.environment);
        if (previous !== undefined && reveal(props.addPreviousOutputInEnv ?? true) !== false) {
            for (const [name, key] of [["PULUMI_COMMAND_STDOUT", "stdout"], ["PULUMI_COMMAND_STDERR", "stderr"]] as const) {
                const value = optionalString(previous[key], key);
                if (!value) {
                    continue;
                }
                if (Buffer.byteLength(value) > maxPreviousOutputBytes) {
                    this.logger.log("warning", `${name} not set: the previous ${key} (${Buffer.byteLength(value)} bytes) is too large for one environment variable`, urn);
                    continue;
                }
                environment[name] = value;
            }
        }
        const logging = parseLogging(props.logging);
        try {
            return await runRemote(
                {
                    connection,
                    command,
                    stdin: optionalString(props.stdin, "stdin"),
                    environment,
                    onLine: (stream, line) => {
                        if (logs(logging, stream)) {
                            this.logger.log("info", line, urn, true);
                        }
                    },
                    onDialRetry: (attempt, limit, reason) =>
                        this.logger.log("info", `Dial ${attempt}/${limit === Infinity ? "inf" : limit} failed (${reason}): retrying`, urn, true),
                },
                this.sshOptions,
            );
        } catch (e) {
            if (e instanceof RemoteCommandError && outputsAreSecret(props)) {
                throw new Error(e.redactedMessage());
            }
            throw e;
        } finally {
            await this.logger.flush();
        }
    }
}
