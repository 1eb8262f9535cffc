// Runs the lab program through the Automation API's inline mode: the engine
// talks to this process's own language server, so no Node.js language host
// is needed. The stack config comes from Pulumi.<stack>.yaml in the project
// as it would for `pulumi up`. Used by scripts/lab and the e2e harness.
import * as auto from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { clearLessonMark } from "../lessons/mark";
import { checkStatus, driftSummary, factsTable, liveFacts, recordedFacts, RevealedResource } from "./drift";
import { LabConfig, RawConfig } from "../components/config";
import { diagnoseVirshError, failureText, isLocalUri, virsh } from "../components/libvirt";
import { lab, loadLabConfig } from "../components/program";
import { PROJECT_NAME, PROJECT_ROOT, pulumiEnvironment } from "./pulumiEnv";
// main.ts only, not the kit's index: the kit reads stacks through this module.
import { commandLineOrExit, errorText, runMain } from "../proofs/kit/main";
import {
    describeFailure,
    explainVirshTrouble,
    FailureContext,
    fileBackendDir,
    LabError,
    lockVerdict,
    ownBridges,
    parseLockContent,
    parseProcNetRoute,
    stackLockDirs,
    subnetClashError,
    subnetClashes,
} from "./errors";

export { PROJECT_NAME, PROJECT_ROOT, pulumiEnvironment } from "./pulumiEnv";

export type Operation = "up" | "preview" | "refresh" | "destroy";

/** One resource step the engine took, as seen in its events. */
export interface ResourceStep {
    urn: string;
    type: string;
    op: string;
    /** Seconds from the operation's start to the engine starting this step. */
    startSecond: number;
    /** Seconds the step took (0 for a step the engine announced only when done). */
    seconds: number;
}

export interface OperationResult {
    operation: Operation;
    seconds: number;
    /** Counts per kind of change, as the engine's summary gives them. */
    changes: auto.OpMap;
    steps: ResourceStep[];
}

/** Opens (or creates) a stack of this project, with the program inline. */
export async function openStack(stackName: string): Promise<auto.Stack> {
    return auto.LocalWorkspace.createOrSelectStack(
        { stackName, projectName: PROJECT_NAME, program: async () => lab() },
        { workDir: PROJECT_ROOT, envVars: pulumiEnvironment() },
    );
}

/**
 * Runs one operation, streaming the engine's progress to stdout, and returns
 * what it changed. Each resource step is recorded so callers can check that
 * e.g. scaling created and updated only what it had to.
 */
export async function runOperation(
    stack: auto.Stack,
    operation: Operation,
    onOutput: (text: string) => void = (text) => process.stdout.write(text),
    options: { refresh?: boolean } = {},
): Promise<OperationResult> {
    const steps: ResourceStep[] = [];
    const started = Date.now();
    const stepStarts = new Map<string, number>();
    const onEvent = (event: auto.EngineEvent): void => {
        const now = (Date.now() - started) / 1000;
        const pre = event.resourcePreEvent?.metadata;
        if (pre) {
            stepStarts.set(pre.urn, now);
        }
        const metadata = event.resOutputsEvent?.metadata;
        if (metadata) {
            const startSecond = stepStarts.get(metadata.urn) ?? now;
            steps.push({ urn: metadata.urn, type: metadata.type, op: metadata.op, startSecond, seconds: now - startSecond });
        }
    };
    let changes: auto.OpMap = {};
    switch (operation) {
        case "up": {
            // refresh: read every resource first, as `pulumi up --refresh`, so a
            // machine changed by hand is put back (its facts drifted).
            const result = await stack.up({ onOutput, onEvent, color: "never", refresh: options.refresh ?? false });
            changes = result.summary.resourceChanges ?? {};
            break;
        }
        case "preview": {
            const result = await stack.preview({ onOutput, onEvent, color: "never" });
            changes = result.changeSummary;
            break;
        }
        case "refresh": {
            const result = await stack.refresh({ onOutput, onEvent, color: "never" });
            changes = result.summary.resourceChanges ?? {};
            break;
        }
        case "destroy": {
            const result = await stack.destroy({ onOutput, onEvent, color: "never" });
            changes = result.summary.resourceChanges ?? {};
            break;
        }
    }
    return { operation, seconds: (Date.now() - started) / 1000, changes, steps };
}

// How a state file marks a secret value: an object with this key and value,
// and with `--show-secrets`, its JSON text in "plaintext".
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** A value from an exported state with every secret replaced by what it holds. */
export function revealSecrets(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(revealSecrets);
    }
    if (value === null || typeof value !== "object") {
        return value;
    }
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG_KEY] === SECRET_SIG) {
        if (typeof record.plaintext !== "string") {
            throw new Error("the exported state holds a secret output without its plaintext (exported without --show-secrets?)");
        }
        return revealSecrets(JSON.parse(record.plaintext));
    }
    return Object.fromEntries(Object.entries(record).map(([key, inner]) => [key, revealSecrets(inner)]));
}

/** The stack resource's outputs in an exported deployment (none before the first `up`). */
export function stackOutputsOf(deployment: auto.Deployment): Record<string, unknown> {
    const root = resourcesOf(deployment).find((resource) => resource.type === "pulumi:pulumi:Stack");
    return revealSecrets(root?.outputs ?? {}) as Record<string, unknown>;
}

/**
 * The stack's outputs as plain values, secrets included (for local tools
 * only): one `stack export --show-secrets`, where `stack.outputs()` starts
 * the CLI twice (once masked, once not) to learn which are secret.
 */
export async function plainOutputs(stack: auto.Stack): Promise<Record<string, unknown>> {
    return stackOutputsOf(await stack.exportStack());
}

/** The stack's config as the program would read it: this project's keys, without the namespace. */
export function rawConfigFrom(config: auto.ConfigMap, project: string = PROJECT_NAME): RawConfig {
    const raw: Record<string, string | undefined> = {};
    for (const [key, entry] of Object.entries(config)) {
        if (key.startsWith(`${project}:`)) {
            raw[key.slice(project.length + 1)] = entry.value;
        }
    }
    return raw;
}

/**
 * The stack's config, validated exactly as the program validates it; throws
 * ConfigError (every problem, each with its fix) before the engine runs.
 */
export async function validatedConfig(stack: auto.Stack): Promise<LabConfig> {
    return loadLabConfig(rawConfigFrom(await stack.getAllConfig()));
}

/** A resource of the stack's state, as far as the tools here read it. */
export interface StateResource {
    urn: string;
    type: string;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}

/** The resources of an exported deployment (none before the first `up`). */
export function resourcesOf(state: auto.Deployment): StateResource[] {
    const resources = (state.deployment as { resources?: unknown } | undefined)?.resources;
    return Array.isArray(resources) ? (resources as StateResource[]) : [];
}

async function stateResources(stack: auto.Stack): Promise<StateResource[]> {
    return resourcesOf(await stack.exportStack());
}

/** The state's resources with their outputs' secrets revealed (for local tools only). */
export async function revealedResources(stack: auto.Stack): Promise<RevealedResource[]> {
    return (await stateResources(stack)).map((resource) => ({
        type: resource.type,
        outputs: revealSecrets(resource.outputs ?? {}) as Record<string, unknown>,
    }));
}

/** Fails with one clear message unless libvirt answers at `uri`. */
export async function checkLibvirtAnswers(uri: string, context: FailureContext): Promise<void> {
    let r;
    try {
        r = await virsh(uri, ["uri"], { timeoutMs: 30_000 });
    } catch (e) {
        throw new LabError(
            `virsh cannot be run, so libvirt at ${uri} cannot be reached (${errorText(e)})`,
            "install the libvirt client (apt-get install libvirt-clients; scripts/lab setup installs everything the lab needs)",
        );
    }
    if (r.code !== 0) {
        const text = `${r.stderr}\n${r.stdout}`;
        const trouble = diagnoseVirshError(text) ?? { kind: "unreachable" as const, reason: failureText(r, 30_000) };
        throw explainVirshTrouble(trouble, { ...context, libvirtUri: uri });
    }
}

/**
 * Checks what would make the engine fail part-way through for a reason the
 * user can fix, before it starts: for `up`, a lab subnet already routed
 * through another interface of this host (libvirt refuses to start a network
 * on it); then libvirt not answering (every URI the stack's resources use,
 * and for `up` every configured host's).
 */
async function preflight(resources: StateResource[], operation: Operation, config: LabConfig | undefined, context: FailureContext): Promise<void> {
    const uris = new Set<string>();
    for (const resource of resources) {
        const uri = resource.inputs?.connectionUri;
        if (resource.type.startsWith("pulumi-nodejs:dynamic/libvirt:") && typeof uri === "string") {
            uris.add(uri);
        }
    }
    if (operation === "up" && config) {
        // Every host of a spread lab: one that cannot be reached is said
        // before anything is made on the others.
        for (const host of config.hosts) {
            uris.add(host.uri);
        }
    }
    if (operation === "up" && config && isLocalUri(config.libvirtUri) && fs.existsSync("/proc/net/route")) {
        const clashes = subnetClashes(
            parseProcNetRoute(fs.readFileSync("/proc/net/route", "utf8"), os.endianness()),
            [
                { key: "publicSubnet", subnet: config.publicSubnet },
                { key: "storageSubnet", subnet: config.storageSubnet },
            ],
            ownBridges(resources),
        );
        if (clashes.length > 0) {
            throw subnetClashError(clashes[0], context);
        }
    }
    for (const uri of uris) {
        await checkLibvirtAnswers(uri, context);
    }
}

/** Whether a process with this PID exists on this host (one we may not signal counts). */
function isRunning(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Clears a file backend stack's locks left by a pulumi run that is gone
 * (killed, crashed): removes a lock only when it was taken on this host by a
 * process that no longer exists; anything else is left alone and explained.
 */
export function unlockStack(stackName: string, backendUrl: string = pulumiEnvironment().PULUMI_BACKEND_URL): string[] {
    const dir = fileBackendDir(backendUrl, os.homedir());
    if (!dir) {
        throw new LabError(
            `scripts/lab unlock clears locks of a file backend only, and ${backendUrl} is not one`,
            `cancel the other run with the backend's own tools: pulumi cancel --stack ${stackName}`,
        );
    }
    const files = stackLockDirs(dir, PROJECT_NAME, stackName).flatMap((lockDir) =>
        fs.existsSync(lockDir)
            ? fs
                  .readdirSync(lockDir)
                  .filter((name) => name.endsWith(".json"))
                  .map((name) => path.join(lockDir, name))
            : [],
    );
    if (files.length === 0) {
        return [`stack ${stackName} is not locked`];
    }
    const here = { hostname: os.hostname(), isRunning };
    const report: string[] = [];
    const refusals: string[] = [];
    for (const file of files) {
        const lock = parseLockContent(fs.readFileSync(file, "utf8"));
        const who = lock ? `pid ${lock.pid} (${lock.username}@${lock.hostname}) since ${lock.timestamp}` : "";
        switch (lockVerdict(lock, here)) {
            case "stale":
                fs.rmSync(file, { force: true });
                report.push(`removed the lock of ${who}: that process is gone`);
                break;
            case "held":
                refusals.push(`${who} is still running; wait for it to finish, or stop it (kill ${lock?.pid}) and unlock again`);
                break;
            case "other-host":
                refusals.push(
                    `${file} was taken on host ${lock?.hostname} by ${who}; from here it cannot be told whether that run is alive: if you are sure it is gone, delete that file`,
                );
                break;
            case "unreadable":
                refusals.push(`${file} is not a lock file this tool can read; if no pulumi run is going on, delete it`);
                break;
        }
    }
    if (refusals.length > 0) {
        throw new LabError(`stack ${stackName} is still locked${report.length ? ` (${report.join("; ")})` : ""}`, refusals.join("\n  fix: "));
    }
    return report;
}

const USAGE = `usage: node bin/scripts/automation.js <up|preview|refresh|destroy|outputs|check|remove|unlock> [--stack NAME]

Runs the lab program on a stack through the Automation API (inline mode).
  up             refreshes first (as pulumi up --refresh), so what drifted is
                 put back; --no-refresh skips that
  refresh        reads every resource; then says which machines' facts drifted
  check          reads every machine's facts live (one SSH login each) and
                 holds them against what the lab wants (--json for JSON);
                 exit 0 as wanted, 1 drift, 3 a machine that did not answer
  unlock         clear the stack's lock left by a pulumi run that is gone
                 (file backend; a lock of a live process is left alone)
  --stack NAME   stack to use (default: dev; config from Pulumi.NAME.yaml)
Environment: PULUMI_BACKEND_URL (default file:///var/lib/lvs-dr-lab/state),
PULUMI_CONFIG_PASSPHRASE (default "lvs-dr-lab").`;

async function main(argv: string[]): Promise<number> {
    const [operation, ...rest] = argv;
    if (operation === undefined || operation === "--help" || operation === "-h") {
        console.log(USAGE);
        return operation === undefined ? 64 : 0;
    }
    const line = commandLineOrExit(rest, { "no-refresh": "flag", json: "flag" }, USAGE);
    if (typeof line === "number") {
        return line;
    }
    const stackName = line.stack;
    if (!["up", "preview", "refresh", "destroy", "outputs", "check", "remove", "unlock"].includes(operation)) {
        console.error(`unknown operation "${operation}"\n${USAGE}`);
        return 64;
    }
    const context: FailureContext = { stack: stackName, operation };
    try {
        if (operation === "unlock") {
            for (const line of unlockStack(stackName)) {
                console.error(line);
            }
            return 0;
        }
        const stack = await openStack(stackName);
        if (operation === "outputs") {
            console.log(JSON.stringify(await plainOutputs(stack), undefined, 2));
            return 0;
        }
        if (operation === "check") {
            const machines = await liveFacts(await revealedResources(stack));
            if (machines.length === 0) {
                console.error(`stack ${stackName} has no machines to check: bring the lab up first (scripts/lab up)`);
                return 64;
            }
            console.log(
                line.values.json
                    ? JSON.stringify({ stack: stackName, machines, status: checkStatus(machines) }, undefined, 2)
                    : factsTable(machines, true).join("\n"),
            );
            console.error(driftSummary(machines));
            return checkStatus(machines);
        }
        if (operation === "remove") {
            await stack.workspace.removeStack(stackName);
            console.error(`removed stack ${stackName}`);
            return 0;
        }
        // Only up and preview run the program; refresh and destroy work
        // from the state, so a config gone bad must not block them.
        let config: LabConfig | undefined;
        // The state is read while the config is (each is a CLI run).
        const state = operation === "preview" ? undefined : stateResources(stack);
        // Awaited below; a refused config must not leave it unhandled.
        state?.catch(() => undefined);
        if (operation === "up" || operation === "preview") {
            config = await validatedConfig(stack);
            context.libvirtUri = config.libvirtUri;
            context.publicSubnet = config.publicSubnet.cidr;
            context.storageSubnet = config.storageSubnet.cidr;
        }
        if (state !== undefined) {
            await preflight(await state, operation as Operation, config, context);
        }
        context.streamed = "";
        const result = await runOperation(
            stack,
            operation as Operation,
            (text) => {
                context.streamed += text;
                process.stdout.write(text);
            },
            { refresh: operation === "up" && line.values["no-refresh"] !== true },
        );
        console.error(`${operation} of stack ${stackName} took ${result.seconds.toFixed(1)} s: ${JSON.stringify(result.changes)}`);
        if ((operation === "up" && line.values["no-refresh"] !== true) || operation === "destroy") {
            // What a lesson broke is put back (or gone): the view stops saying so.
            clearLessonMark(stackName);
        }
        if (operation === "refresh") {
            // What the refresh read, by machine and fact: the engine shows it as changed outputs.
            const machines = recordedFacts(await revealedResources(stack));
            for (const text of factsTable(
                machines.filter((machine) => machine.drifted > 0 || !machine.reachable),
                false,
            )) {
                console.error(text);
            }
            console.error(driftSummary(machines));
        }
        return 0;
    } catch (error) {
        console.error(describeFailure(error, context));
        return 1;
    }
}

// main() reports its own failures; runMain's is the last resort.
runMain("automation", module, () => main(process.argv.slice(2)));
