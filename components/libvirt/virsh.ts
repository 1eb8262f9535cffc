// Running virsh and other host commands for the libvirt resources.
//
// Everything here is a plain module-level function: the dynamic providers call
// these, and Pulumi serializes the providers (with every function they reach)
// into the state. Node built-ins are captured as require()s; this module is
// captured by value, so it must stay free of Pulumi objects and heavy state.

import { spawn } from "child_process";

/** What a finished command left behind. */
export interface RunResult {
    /** Exit code; null when the command was killed (see timedOut). */
    code: number | null;
    stdout: string;
    stderr: string;
    /** True when the command ran past its time limit and was killed. */
    timedOut: boolean;
}

export interface RunOptions {
    /** Bytes written to the command's standard input (default: none). */
    input?: string;
    /** Kill the command after this many milliseconds (default: 120 000). */
    timeoutMs?: number;
    /** Working directory (default: this process's). */
    cwd?: string;
    /** Variables set for the command over this process's own (default: none). */
    env?: Readonly<Record<string, string>>;
}

/** Default time limit of one virsh call: generous for a loaded 2-core host. */
export const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Runs `file` with `args` (no shell), collecting its output. Resolves with
 * the result whatever the exit code; rejects only when the command cannot be
 * started at all (e.g. not installed).
 */
export function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
        // LC_ALL=C: virsh's messages are matched (e.g. "not found") and must
        // not be translated.
        const child = spawn(file, args, {
            env: { ...process.env, ...options.env, LC_ALL: "C" },
            stdio: ["pipe", "pipe", "pipe"],
            cwd: options.cwd,
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        child.on("error", (e: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            const hint = e.code === "ENOENT" ? ` (is ${file} installed and on PATH?)` : "";
            reject(new Error(`cannot run ${file}: ${e.message}${hint}`));
        });
        child.on("close", (code: number | null) => {
            clearTimeout(timer);
            resolve({
                code,
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8"),
                timedOut,
            });
        });
        // A command that does not read its stdin must not fail us with EPIPE.
        child.stdin.on("error", () => undefined);
        child.stdin.end(options.input ?? "");
    });
}

/** Runs `virsh -q -c uri ARGS...`. */
export function virsh(uri: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
    return runCommand("virsh", ["-q", "-c", uri, ...args], options);
}

/** The best one-line account of why a command failed. */
export function failureText(r: RunResult, timeoutMs?: number): string {
    if (r.timedOut) {
        return `timed out${timeoutMs ? ` after ${timeoutMs / 1000} s` : ""} and was killed`;
    }
    const text = (r.stderr.trim() || r.stdout.trim()).replace(/\n+/g, " ");
    return text || `exit code ${r.code}`;
}

/**
 * The error a user sees: names the object and the virsh sub-command and
 * carries virsh's own message, e.g.
 * `libvirt Domain "lab-web1": virsh start failed: error: ...`.
 */
export function virshError(kind: string, name: string, args: string[], r: RunResult, timeoutMs?: number): Error {
    return new Error(`libvirt ${kind} "${name}": virsh ${args[0]} failed: ${failureText(r, timeoutMs)}`);
}

/** Runs virsh and returns its stdout, or throws {@link virshError}. */
export async function virshOk(
    kind: string,
    name: string,
    uri: string,
    args: string[],
    options: RunOptions = {},
): Promise<string> {
    const r = await virsh(uri, args, options);
    if (r.code !== 0) {
        throw virshError(kind, name, args, r, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    }
    return r.stdout;
}

/** True when virsh failed because the object it was asked about does not exist. */
export function isNotFound(r: RunResult): boolean {
    if (r.code === 0 || r.timedOut) {
        return false;
    }
    return /\b(Domain|Network|Storage volume|Storage pool) not found\b|failed to get (domain|network|vol|pool)\b/.test(
        r.stderr,
    );
}

/**
 * True for a URI whose libvirt runs on this machine (`qemu:///system`,
 * `qemu+unix:///system`): only then may we touch its files directly.
 */
export function isLocalUri(uri: string): boolean {
    return /^[a-z][a-z0-9+.-]*:\/\/\//i.test(uri) && !/\+(ssh|tcp|tls|libssh2?)\b/i.test(uri);
}

/** Parses virsh's `Key:   value` listings (dominfo, net-info, pool-info). */
export function parseInfo(text: string): Record<string, string> {
    const info: Record<string, string> = {};
    for (const line of text.split("\n")) {
        const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
        if (m) {
            info[m[1].trim()] = m[2].trim();
        }
    }
    return info;
}

/**
 * What libvirt's own words say went wrong, when it is something the user can
 * put right: libvirt not answering, or a network that cannot start because
 * its subnet, bridge or an address is already taken on the host. `text` is
 * virsh's stderr, or an error built by {@link virshError} (the network's name
 * is then read from its `libvirt Network "NAME"` head). Undefined for
 * anything else.
 */
export type VirshTrouble =
    | { kind: "unreachable"; socket?: string; reason: string }
    | { kind: "subnet-in-use"; network?: string; iface: string }
    | { kind: "bridge-in-use"; network?: string; bridge: string }
    | { kind: "address-in-use"; network?: string; detail: string };

export function diagnoseVirshError(text: string): VirshTrouble | undefined {
    const network = /libvirt Network "([^"]+)"/.exec(text)?.[1] ?? /Failed to (?:start|define|create) network (\S+)/.exec(text)?.[1];
    const subnet = /Network is already in use by interface (\S+?)\.?(?:\s|$)/.exec(text);
    if (subnet) {
        return { kind: "subnet-in-use", network, iface: subnet[1] };
    }
    const bridge = /bridge name '([^']+)' already in use/.exec(text);
    if (bridge) {
        return { kind: "bridge-in-use", network, bridge: bridge[1] };
    }
    const address = /(failed to (?:create listening socket|bind)[^:]*?(?: for \S+?)?): Address already in use/i.exec(text);
    if (address || /Address already in use/.test(text)) {
        return { kind: "address-in-use", network, detail: address ? `${address[1]}: Address already in use` : "Address already in use" };
    }
    const socket = /Failed to connect socket to '([^']+)': ([A-Za-z][A-Za-z ]*[a-z])/.exec(text);
    if (socket) {
        return { kind: "unreachable", socket: socket[1], reason: socket[2] };
    }
    const lost = /(Cannot recv data: [A-Za-z ]*[a-z]|Cannot write data: [A-Za-z ]*[a-z]|End of file while reading data|client socket is closed)/.exec(text);
    if (lost) {
        return { kind: "unreachable", reason: lost[1] };
    }
    if (/failed to connect to the hypervisor/.test(text)) {
        return { kind: "unreachable", reason: "failed to connect to the hypervisor" };
    }
    return undefined;
}
