// Errors a person can read. Every failure a user can cause (a refused
// config, a missing image, libvirt not answering, a locked stack, a subnet or
// address already in use) becomes one message naming the cause and the fix,
// printed once, without a JavaScript stack. Pure functions only: the texts
// they read are the engine's and virsh's own words, the decisions they make
// (is this lock stale? does this route clash?) take the facts as arguments.
import * as path from "path";
import { ConfigError } from "../components/config";
import { diagnoseVirshError, VirshTrouble } from "../components/libvirt";
import { Subnet } from "../components/net";

/** A failure the user can put right: what went wrong, and what to do about it. */
export class LabError extends Error {
    constructor(
        readonly problem: string,
        readonly fix: string,
    ) {
        super(`${problem}\n  fix: ${fix}`);
        this.name = "LabError";
    }
}

/** What is known about the run that failed, to make the message concrete. */
export interface FailureContext {
    /** The stack's name, e.g. "dev". */
    stack: string;
    /** up, preview, refresh, destroy, ... */
    operation: string;
    /** The stack's libvirtUri, when its config could be read. */
    libvirtUri?: string;
    /** The stack's publicSubnet and storageSubnet CIDRs, when known. */
    publicSubnet?: string;
    storageSubnet?: string;
    /** What the engine's output already showed the user (streamed as it ran). */
    streamed?: string;
}

/** The shape of the Automation API's CommandError (duck-typed: this module stays free of the SDK). */
interface CommandErrorLike {
    commandResult: { stdout: string; stderr: string; code: number };
}

function isCommandError(error: unknown): error is CommandErrorLike {
    if (typeof error !== "object" || error === null || !("commandResult" in error)) {
        return false;
    }
    const result = (error as { commandResult: unknown }).commandResult;
    return typeof result === "object" && result !== null && "stdout" in result && "stderr" in result;
}

/** A JavaScript stack frame line, e.g. `    at loadLabConfig (/x/bin/program.js:71:15)`. */
export const STACK_LINE = /^\s+at\s/;

/**
 * The one text to print for a failure of scripts/automation.ts: the cause and
 * the fix, nothing the engine already streamed, no stack lines.
 */
export function describeFailure(error: unknown, context: FailureContext): string {
    if (error instanceof ConfigError || error instanceof LabError) {
        return `error: ${error.message}`;
    }
    if (isCommandError(error)) {
        // A failed command's result holds everything in stderr: the SDK's
        // "Command failed with exit code N: pulumi ..." line, the engine's
        // stderr, then its stdout (which was streamed to the user already).
        const { stdout, stderr } = error.commandResult;
        const explained = explainEngineOutput(`${stdout}\n${stderr}`, context);
        if (explained) {
            return `error: ${explained.message}`;
        }
        // Not one we know: the engine's diagnostics (streamed above) say
        // why; add only the lines the user has not seen.
        const seen = `${context.streamed ?? ""}\n${stdout}`;
        const extra = withoutStackLines(stderr)
            .split("\n")
            .map((line) => line.trim())
            .filter((line) => line !== "" && !seen.includes(line) && !line.startsWith("Command failed with exit code"))
            .map((line) => line.replace(/^error:\s*/, ""));
        const head = `error: pulumi ${context.operation} of stack ${context.stack} failed`;
        return extra.length > 0 ? `${head}: ${extra.join("\n  ")}` : `${head}; the engine's diagnostics above say why`;
    }
    const text = error instanceof Error ? error.message : String(error);
    const explained = explainEngineOutput(text, context);
    return `error: ${explained ? explained.message : withoutStackLines(text).trim()}`;
}

export function withoutStackLines(text: string): string {
    return text
        .split("\n")
        .filter((line) => !STACK_LINE.test(line))
        .join("\n");
}

/**
 * The user-caused failure the engine's output (or a provider's error) shows,
 * if it is one this project knows; undefined otherwise.
 */
export function explainEngineOutput(text: string, context: FailureContext): LabError | undefined {
    return explainLocked(text, context) ?? explainPassphrase(text, context) ?? explainMissingImage(text) ?? explainVirshText(text, context);
}

// ------------------------------------------------------------- locked stack

/** One lock the engine listed: `  file:///…/<id>.json?no_tmp_dir=true: created by root@host (pid 42) at 2025-…`. */
export interface LockLine {
    file: string;
    user: string;
    host: string;
    pid: number;
    since: string;
}

/** The locks named in the file backend's "the stack is currently locked by N lock(s)" error. */
export function parseLockLines(text: string): LockLine[] {
    const locks: LockLine[] = [];
    for (const m of text.matchAll(/^\s*(\S+?\.json)(?:\?\S*)?: created by ([^@\s]+)@(\S+) \(pid (\d+)\) at (\S+)/gm)) {
        locks.push({ file: m[1], user: m[2], host: m[3], pid: Number(m[4]), since: m[5] });
    }
    return locks;
}

export function explainLocked(text: string, context: FailureContext): LabError | undefined {
    if (!/the stack is currently locked by \d+ lock\(s\)|\[409\] Conflict: Another update is currently in progress/.test(text)) {
        return undefined;
    }
    const holders = parseLockLines(text).map((lock) => `pid ${lock.pid} (${lock.user}@${lock.host}) since ${lock.since}`);
    return new LabError(
        `stack ${context.stack} is locked by another pulumi run${holders.length ? `: ${holders.join(", ")}` : ""}; nothing was changed`,
        `wait for that run to finish; if it is gone (killed, crashed, host rebooted), clear the lock with: scripts/lab unlock --stack ${context.stack}`,
    );
}

// -------------------------------------------------------------- passphrase

export function explainPassphrase(text: string, context: FailureContext): LabError | undefined {
    if (!/incorrect passphrase/.test(text)) {
        return undefined;
    }
    return new LabError(
        `PULUMI_CONFIG_PASSPHRASE does not open stack ${context.stack}'s secrets (incorrect passphrase)`,
        `set PULUMI_CONFIG_PASSPHRASE to the passphrase the stack was created with (the lab's default is "lvs-dr-lab") and run it again`,
    );
}

// ------------------------------------------------------------ missing image

export function explainMissingImage(text: string): LabError | undefined {
    const download = /download of (\S+) failed: ([^\n]+?)(?:\s*$|\n)/m.exec(text);
    if (download) {
        return new LabError(
            `the base image ${download[1]} (config key baseImage) could not be downloaded: ${download[2].trim()}`,
            "point baseImage at a reachable qcow2 image (pulumi config set baseImage URL-or-PATH), or build the lab's own with scripts/lab image and set baseImage to /var/lib/lvs-dr-lab/images/lvslab-debian12.qcow2",
        );
    }
    const unreadable = /qemu-img info (\S+) failed: [^\n]*Could not open '[^']*': ([^\n]+?)(?:\s*$|\n)/m.exec(text);
    if (unreadable) {
        return new LabError(
            `the base image ${unreadable[1]} (config key baseImage) cannot be read: ${unreadable[2].trim()}`,
            "build the lab's image with scripts/lab image, or point baseImage at an existing qcow2 image: pulumi config set baseImage PATH",
        );
    }
    return undefined;
}

// ---------------------------------------------------------------- libvirt

/** The config key holding a lab network's range, from the network's libvirt name (`<prefix>-public`). */
export function subnetKeyOf(network: string | undefined): "publicSubnet" | "storageSubnet" | undefined {
    if (network?.endsWith("-public")) {
        return "publicSubnet";
    }
    if (network?.endsWith("-storage")) {
        return "storageSubnet";
    }
    return undefined;
}

/** A bridge of some lab stack: `lv<6-character suffix>-p|s` (components/foundation.ts). */
const LAB_BRIDGE = /^lv[a-z0-9]{6}-[ps]$/;

export function explainVirshTrouble(trouble: VirshTrouble, context: FailureContext): LabError {
    const stackArg = `--stack ${context.stack}`;
    switch (trouble.kind) {
        case "unreachable": {
            const at = context.libvirtUri ? ` at ${context.libvirtUri}` : "";
            const why = trouble.socket ? `${trouble.socket}: ${trouble.reason}` : trouble.reason;
            if (/Permission denied/.test(trouble.reason)) {
                return new LabError(
                    `libvirt${at} refuses this user (${why})`,
                    "run the lab as root (scripts/lab runs everything as root), or add the user to the libvirt group",
                );
            }
            return new LabError(
                `libvirt is not answering${at} (${why})`,
                `start the lab host with: scripts/lab host start (scripts/lab up does it too); for a libvirtd of your own, start it or point libvirtUri at it: pulumi config set libvirtUri URI ${stackArg}`,
            );
        }
        case "subnet-in-use": {
            const key = subnetKeyOf(trouble.network);
            return subnetInUse(key, key ? context[key] : undefined, trouble.iface, trouble.network, context);
        }
        case "bridge-in-use":
            return new LabError(
                `bridge ${trouble.bridge} already exists on the lab host, so libvirt will not define network ${trouble.network ?? ""}`.trimEnd(),
                `remove the leftover bridge (ip link delete ${trouble.bridge}, or destroy the stack or libvirt network that owns it: virsh net-list --all), then run it again`,
            );
        case "address-in-use": {
            const key = subnetKeyOf(trouble.network);
            return new LabError(
                `an address or port that libvirt network ${trouble.network ?? ""} needs is already in use on the lab host (${trouble.detail})`.replace(
                    "network  ",
                    "network ",
                ),
                `stop what holds it (ss -lnptu shows the listener), or give this stack another range: pulumi config set ${key ?? "publicSubnet|storageSubnet"} CIDR ${stackArg}`,
            );
        }
    }
}

export function explainVirshText(text: string, context: FailureContext): LabError | undefined {
    const trouble = diagnoseVirshError(text);
    return trouble ? explainVirshTrouble(trouble, context) : undefined;
}

// ------------------------------------------------- pre-flight: routes in use

/** One line of /proc/net/route: the interface and the IPv4 destination and mask (host numbers). */
export interface Route {
    iface: string;
    destination: number;
    mask: number;
}

function swap32(value: number): number {
    return (((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24)) >>> 0;
}

/**
 * Parses /proc/net/route, whose addresses are the kernel's network-order
 * words printed as hex in host byte order (so reversed on little-endian).
 */
export function parseProcNetRoute(text: string, endianness: "LE" | "BE" = "LE"): Route[] {
    const routes: Route[] = [];
    for (const line of text.split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        if (fields.length < 8 || !/^[0-9A-Fa-f]{8}$/.test(fields[1]) || !/^[0-9A-Fa-f]{8}$/.test(fields[7])) {
            continue;
        }
        const word = (hex: string): number => (endianness === "LE" ? swap32(parseInt(hex, 16)) : parseInt(hex, 16));
        routes.push({ iface: fields[0], destination: word(fields[1]), mask: word(fields[7]) });
    }
    return routes;
}

/**
 * The subnets libvirt would refuse to start a network on: a route with the
 * same destination and mask on an interface that is not one of this stack's
 * own bridges (libvirt's own check when it starts a network).
 */
export function subnetClashes(
    routes: Route[],
    subnets: { key: "publicSubnet" | "storageSubnet"; subnet: Subnet }[],
    ownBridges: ReadonlySet<string>,
): { key: "publicSubnet" | "storageSubnet"; cidr: string; iface: string }[] {
    const clashes: { key: "publicSubnet" | "storageSubnet"; cidr: string; iface: string }[] = [];
    for (const { key, subnet } of subnets) {
        const mask = subnet.prefixLength === 0 ? 0 : (0xffffffff << (32 - subnet.prefixLength)) >>> 0;
        const route = routes.find((r) => r.destination === subnet.network && r.mask === mask && !ownBridges.has(r.iface));
        if (route) {
            clashes.push({ key, cidr: subnet.cidr, iface: route.iface });
        }
    }
    return clashes;
}

/** The message for a clash found before the engine ran. */
export function subnetClashError(clash: { key: "publicSubnet" | "storageSubnet"; cidr: string; iface: string }, context: FailureContext): LabError {
    return subnetInUse(clash.key, clash.cidr, clash.iface, undefined, context);
}

/** A lab network's range is routed through another interface of the lab host, so libvirt will not start the network. */
function subnetInUse(
    key: "publicSubnet" | "storageSubnet" | undefined,
    cidr: string | undefined,
    iface: string,
    network: string | undefined,
    context: FailureContext,
): LabError {
    const range = key ? `${key}${cidr ? ` ${cidr}` : ""}` : "the subnet of a lab network";
    const otherLab = LAB_BRIDGE.test(iface);
    return new LabError(
        `${range} is already in use on the lab host: interface ${iface}${otherLab ? " (the bridge of another lab stack)" : ""} has a route for it, so libvirt will not start ${network ? `network ${network}` : "the lab's network"}`,
        `give stack ${context.stack} a free range (pulumi config set ${key ?? "publicSubnet|storageSubnet"} CIDR --stack ${context.stack}, and move its addresses into it), or remove what holds the range (${otherLab ? "scripts/lab destroy --stack OTHER" : `ip route show dev ${iface}`})`,
    );
}

/**
 * The bridges that belong to this stack, from its state: those its Network
 * resources hold, and the two its name suffix gives (a network an
 * interrupted run created but did not record).
 */
export function ownBridges(resources: readonly { urn: string; type: string; outputs?: Record<string, unknown> }[]): Set<string> {
    const bridges = new Set<string>();
    for (const resource of resources) {
        const outputs = resource.outputs ?? {};
        if (resource.type === "pulumi-nodejs:dynamic/libvirt:Network" && typeof outputs.bridgeName === "string") {
            bridges.add(outputs.bridgeName);
        }
        if (resource.type === "random:index/randomString:RandomString" && resource.urn.endsWith("-suffix") && typeof outputs.result === "string") {
            bridges.add(`lv${outputs.result}-p`);
            bridges.add(`lv${outputs.result}-s`);
        }
    }
    return bridges;
}

// ------------------------------------------------------------ stale locks

/** What a file backend's lock file holds (pkg/backend/diy/lock.go's lockContent). */
export interface LockContent {
    pid: number;
    username: string;
    hostname: string;
    timestamp: string;
}

export function parseLockContent(text: string): LockContent | undefined {
    try {
        const value = JSON.parse(text) as Record<string, unknown>;
        if (typeof value.pid === "number" && typeof value.hostname === "string") {
            return {
                pid: value.pid,
                username: typeof value.username === "string" ? value.username : "?",
                hostname: value.hostname,
                timestamp: typeof value.timestamp === "string" ? value.timestamp : "?",
            };
        }
    } catch {
        // not JSON: not a lock we can judge
    }
    return undefined;
}

/**
 * Whether a lock may be removed: only when it was taken on this host by a
 * process that is gone. A live process, another host's lock or an unreadable
 * file is left alone.
 */
export function lockVerdict(
    lock: LockContent | undefined,
    here: { hostname: string; isRunning: (pid: number) => boolean },
): "stale" | "held" | "other-host" | "unreadable" {
    if (!lock) {
        return "unreadable";
    }
    if (lock.hostname !== here.hostname) {
        return "other-host";
    }
    return here.isRunning(lock.pid) ? "held" : "stale";
}

/** The directory of a `file://` backend URL (`file://~/x` is under the home directory); undefined for other backends. */
export function fileBackendDir(url: string, homeDir: string): string | undefined {
    if (!url.startsWith("file://")) {
        return undefined;
    }
    const rest = decodeURIComponent(url.slice("file://".length).replace(/\?.*$/, ""));
    if (rest === "~" || rest.startsWith("~/")) {
        return path.join(homeDir, rest.slice(1));
    }
    return path.resolve(rest);
}

/** Where the file backend keeps a stack's locks: project-scoped (today's layout) and the legacy layout. */
export function stackLockDirs(backendDir: string, project: string, stack: string): string[] {
    const locks = path.join(backendDir, ".pulumi", "locks");
    if (stack.includes("/")) {
        return [path.join(locks, ...stack.split("/"))];
    }
    return [path.join(locks, "organization", project, stack), path.join(locks, stack)];
}
