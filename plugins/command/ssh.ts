// Runs one command on a remote host with the OpenSSH client. The official
// provider embeds an SSH library; here the `ssh` binary does the protocol and
// this module adds what the provider promises on top: dial retries, a clear
// line between "could not connect" and "the command failed", secrets kept off
// the process list, and complete capture of stdout and stderr.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface SshConnection {
    host: string;
    port: number;
    user: string;
    privateKey?: string;
    privateKeyPassword?: string;
    password?: string;
    /** A public key line ("ssh-ed25519 AAAA...") the server must present. */
    hostKey?: string;
    agentSocketPath?: string;
    /** Failed dials allowed before giving up; -1 means no limit. */
    dialErrorLimit: number;
    /** Seconds per dial attempt; 0 means no limit. */
    perDialTimeout: number;
}

export type OutputStream = "stdout" | "stderr";

export interface RemoteRun {
    connection: SshConnection;
    command: string;
    stdin?: string;
    /** Sent with SSH "env" requests, so only what the server's AcceptEnv allows arrives. */
    environment: Record<string, string>;
    /** Each complete line of the command's output, as it arrives. */
    onLine?: (stream: OutputStream, line: string) => void;
    /** Told about every failed dial that will be retried. */
    onDialRetry?: (attempt: number, limit: number, reason: string) => void;
}

export interface RemoteResult {
    stdout: string;
    stderr: string;
}

export interface SshOptions {
    /** The ssh client to run (default: `ssh` from PATH). */
    sshPath?: string;
    /** Pause before dial attempt `attempt + 1`, in ms. */
    retryPauseMs?: (attempt: number) => number;
}

/** Environment variable names this module uses itself, so a resource's `environment` may not set them. */
export const reservedEnvironmentNames: readonly string[] = [
    "SHELL",
    "DISPLAY",
    "SSH_ASKPASS",
    "SSH_ASKPASS_REQUIRE",
    "SSH_AUTH_SOCK",
    "PULUMI_COMMAND_SSH_PASSWORD",
    "PULUMI_COMMAND_SSH_KEY_PASSPHRASE",
];

const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why an environment variable name cannot be sent, or undefined if it can. */
export function environmentNameProblem(name: string): string | undefined {
    if (!envNamePattern.test(name)) {
        return `"${name}" is not a valid environment variable name (letters, digits and _, not starting with a digit)`;
    }
    if (reservedEnvironmentNames.includes(name) || name.startsWith("LD_")) {
        return `"${name}" is used by the local ssh client and cannot be sent as an environment variable`;
    }
    return undefined;
}

/** The host could not be reached or would not let us in, after every allowed attempt. */
export class DialError extends Error {
    constructor(
        readonly destination: string,
        readonly attempts: number,
        readonly lastError: string,
    ) {
        super(`could not connect to ${destination} after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${lastError}`);
        this.name = "DialError";
    }
}

/** What a failure message leaves out. It never shows the command's stdin. */
export interface FailureRedaction {
    /** The command is secret: leave out its text and its output (which may print any part of it). */
    secretCommand: boolean;
    /** Strings masked wherever they occur in the command or its output. */
    secrets: readonly string[];
}

/** The connection worked and the command ran, but did not succeed. */
export class RemoteCommandError extends Error {
    constructor(
        readonly destination: string,
        readonly command: string,
        readonly exitCode: number | null,
        readonly signal: string | null,
        readonly stdout: string,
        readonly stderr: string,
    ) {
        super(describeFailure(destination, command, exitCode, signal, stdout, stderr, { secretCommand: false, secrets: [] }));
        this.name = "RemoteCommandError";
    }

    /** The message with the secret command left out, or secrets masked, as asked. */
    describe(redaction: FailureRedaction): string {
        return describeFailure(this.destination, this.command, this.exitCode, this.signal, this.stdout, this.stderr, redaction);
    }
}

/** What a masked secret reads as in a failure message. */
export const maskedSecret = "[secret]";

/** `text` with every occurrence of each secret replaced by the mask, longest secrets first. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
    return [...secrets]
        .filter((s) => s !== "")
        .sort((a, b) => b.length - a.length)
        .reduce((masked, s) => masked.split(s).join(maskedSecret), text);
}

const maxTailChars = 4000;
const stdoutTailLines = 20;

function tail(text: string, maxLines: number): string {
    const lines = text.split("\n");
    let out = lines.slice(-maxLines).join("\n");
    if (out.length > maxTailChars) {
        out = "..." + out.slice(-maxTailChars);
    }
    return out;
}

function describeFailure(
    destination: string,
    command: string,
    exitCode: number | null,
    signal: string | null,
    stdout: string,
    stderr: string,
    redaction: FailureRedaction,
): string {
    let status: string;
    if (exitCode === 255) {
        // ssh itself exits 255 when the session breaks, so both causes are possible.
        status = "exit status 255 (the command's own, or the connection was lost after it started)";
    } else if (exitCode !== null) {
        status = `exit status ${exitCode}`;
    } else {
        status = `signal ${signal ?? "unknown"}`;
    }
    if (redaction.secretCommand) {
        return `remote command failed on ${destination} with ${status}, running a secret command\n(its output is withheld: it may show part of the command)`;
    }
    const mask = (text: string) => maskSecrets(text, redaction.secrets);
    let msg = `remote command failed on ${destination} with ${status}, running ${JSON.stringify(mask(command))}`;
    // Masked before the tail is cut, so no part of a secret survives at the cut.
    const err = mask(stderr);
    const out = mask(stdout);
    msg += err.trim() ? `\nstderr:\n${tail(err.trimEnd(), 200)}` : "\nstderr: (empty)";
    if (out.trim()) {
        msg += `\nstdout (last ${stdoutTailLines} lines):\n${tail(out.trimEnd(), stdoutTailLines)}`;
    }
    return msg;
}

export function destinationOf(c: SshConnection): string {
    const host = c.host.includes(":") ? `[${c.host}]` : c.host;
    return `${c.user}@${host}:${c.port}`;
}

/** Default pause between dial attempts: 0.5 s doubling up to 2 s, so a guest's sshd is noticed soon after it answers. */
export function defaultRetryPauseMs(attempt: number): number {
    return Math.min(500 * 2 ** (attempt - 1), 2000);
}

// Alias the host key is recorded under, so a given hostKey matches whatever address or port we dial.
const hostKeyAlias = "pulumi-command-target";
// Safe to embed unquoted-in-single-quotes in the LocalCommand shell line.
const safePathPattern = /^[A-Za-z0-9_./-]+$/;

/** Files one run needs on the local disk; all in one private directory removed afterwards. */
interface Workspace {
    dir: string;
    marker: string;
    keyFile?: string;
    knownHosts?: string;
    askpass?: string;
}

/**
 * The SSH_ASKPASS program: ssh runs it with the prompt as $1 ("Enter passphrase
 * for key ..." or "user@host's password: ") and reads the answer from its stdout.
 */
export const askpassScript = [
    "#!/bin/sh",
    'case "$1" in',
    "  *assphrase*) printf '%s\\n' \"$PULUMI_COMMAND_SSH_KEY_PASSPHRASE\" ;;",
    "  *) printf '%s\\n' \"$PULUMI_COMMAND_SSH_PASSWORD\" ;;",
    "esac",
    "",
].join("\n");

function prepareWorkspace(c: SshConnection): Workspace {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-command-ssh-"));
    fs.chmodSync(dir, 0o700);
    if (!safePathPattern.test(dir)) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw new Error(`temporary directory path ${JSON.stringify(dir)} has characters ssh's LocalCommand cannot take; set TMPDIR to a plain path`);
    }
    const ws: Workspace = { dir, marker: path.join(dir, "connected") };
    if (c.privateKey !== undefined) {
        ws.keyFile = path.join(dir, "id");
        // ssh refuses keys without a final newline in some formats.
        const key = c.privateKey.endsWith("\n") ? c.privateKey : c.privateKey + "\n";
        fs.writeFileSync(ws.keyFile, key, { mode: 0o600 });
    }
    if (c.hostKey !== undefined) {
        ws.knownHosts = path.join(dir, "known_hosts");
        fs.writeFileSync(ws.knownHosts, `${hostKeyAlias} ${c.hostKey.trim()}\n`, { mode: 0o600 });
    }
    if (c.password !== undefined || c.privateKeyPassword !== undefined) {
        // ssh asks its askpass program for the key passphrase and for passwords; this one answers
        // from environment variables, so neither appears on a command line or in a file.
        ws.askpass = path.join(dir, "askpass");
        fs.writeFileSync(ws.askpass, askpassScript, { mode: 0o700 });
    }
    return ws;
}

function sshArguments(run: RemoteRun, ws: Workspace): string[] {
    const c = run.connection;
    const interactiveSecrets = ws.askpass !== undefined;
    const o = (opt: string) => ["-o", opt];
    const args = [
        "-F",
        "/dev/null",
        "-T",
        // BatchMode=yes would also stop ssh from asking askpass for a key passphrase or a password.
        ...o(`BatchMode=${interactiveSecrets ? "no" : "yes"}`),
        ...o("LogLevel=ERROR"),
        ...o("ConnectionAttempts=1"),
        ...o("GlobalKnownHostsFile=/dev/null"),
        // Keepalives turn a vanished host (a guest that reboots under us) into an error instead of a hang.
        ...o("ServerAliveInterval=15"),
        ...o("ServerAliveCountMax=4"),
        ...o("PreferredAuthentications=publickey,keyboard-interactive,password"),
        ...o(`PasswordAuthentication=${c.password !== undefined ? "yes" : "no"}`),
        ...o(`KbdInteractiveAuthentication=${c.password !== undefined ? "yes" : "no"}`),
        ...o("NumberOfPasswordPrompts=1"),
        // Runs locally once authentication succeeded: its marker file tells a dial failure
        // (ssh exits 255 before the command ran) from the command's own exit status.
        ...o("PermitLocalCommand=yes"),
        ...o(`LocalCommand=: > '${ws.marker}'`),
    ];
    if (ws.knownHosts !== undefined) {
        args.push(...o("StrictHostKeyChecking=yes"), ...o(`UserKnownHostsFile=${ws.knownHosts}`), ...o(`HostKeyAlias=${hostKeyAlias}`));
    } else {
        args.push(...o("StrictHostKeyChecking=no"), ...o("UserKnownHostsFile=/dev/null"));
    }
    if (c.perDialTimeout > 0) {
        args.push(...o(`ConnectTimeout=${Math.ceil(c.perDialTimeout)}`));
    }
    if (ws.keyFile !== undefined) {
        args.push("-i", ws.keyFile, ...o("IdentitiesOnly=yes"));
    }
    if (c.agentSocketPath !== undefined) {
        args.push(...o(`IdentityAgent=${c.agentSocketPath}`));
    }
    for (const name of Object.keys(run.environment)) {
        args.push(...o(`SendEnv=${name}`));
    }
    args.push("-p", String(c.port), "-l", c.user, "--", c.host, run.command);
    return args;
}

function sshEnvironment(run: RemoteRun, ws: Workspace): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of reservedEnvironmentNames) {
        delete env[name];
    }
    // The reserved names are ours to set; SSH_AUTH_SOCK stays as inherited, because the
    // official provider also uses the agent from SSH_AUTH_SOCK when there is one.
    if (process.env.SSH_AUTH_SOCK) {
        env.SSH_AUTH_SOCK = process.env.SSH_AUTH_SOCK;
    }
    // SendEnv sends the named variables of ssh's own environment; values never touch argv.
    Object.assign(env, run.environment);
    env.SHELL = "/bin/sh";
    const c = run.connection;
    if (ws.askpass !== undefined) {
        env.SSH_ASKPASS = ws.askpass;
        env.SSH_ASKPASS_REQUIRE = "force";
        if (c.password !== undefined) {
            env.PULUMI_COMMAND_SSH_PASSWORD = c.password;
        }
        if (c.privateKeyPassword !== undefined) {
            env.PULUMI_COMMAND_SSH_KEY_PASSPHRASE = c.privateKeyPassword;
        }
    }
    return env;
}

interface Attempt {
    connected: boolean;
    exitCode: number | null;
    signal: string | null;
    timedOut: boolean;
    stdout: Buffer;
    stderr: Buffer;
}

/** Splits a byte stream into lines without cutting multi-byte characters. */
class LineSplitter {
    private pending: Buffer = Buffer.alloc(0);
    constructor(private readonly emit: (line: string) => void) {}
    push(chunk: Buffer): void {
        let data = Buffer.concat([this.pending, chunk]);
        let nl = data.indexOf(0x0a);
        while (nl >= 0) {
            this.emit(data.subarray(0, nl).toString("utf8").replace(/\r$/, ""));
            data = data.subarray(nl + 1);
            nl = data.indexOf(0x0a);
        }
        this.pending = data;
    }
    end(): void {
        if (this.pending.length > 0) {
            this.emit(this.pending.toString("utf8"));
            this.pending = Buffer.alloc(0);
        }
    }
}

// Every running ssh, so a cancel from the engine can stop them.
const running = new Set<ChildProcess>();

/** Stops every ssh started by this module (the engine's Cancel). */
export function cancelAll(): void {
    for (const child of running) {
        child.kill("SIGTERM");
    }
}

function attemptOnce(run: RemoteRun, ws: Workspace, sshPath: string): Promise<Attempt> {
    return new Promise((resolve, reject) => {
        fs.rmSync(ws.marker, { force: true });
        const hasStdin = run.stdin !== undefined && run.stdin.length > 0;
        const child = spawn(sshPath, sshArguments(run, ws), {
            env: sshEnvironment(run, ws),
            stdio: [hasStdin ? "pipe" : "ignore", "pipe", "pipe"],
            // Own session: ssh then has no terminal to prompt on and must use askpass.
            detached: true,
        });
        running.add(child);
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let connected = false;
        const isConnected = () => connected || (connected = fs.existsSync(ws.marker));
        const splitters = {
            stdout: new LineSplitter((l) => run.onLine?.("stdout", l)),
            stderr: new LineSplitter((l) => run.onLine?.("stderr", l)),
        };
        const collect = (stream: OutputStream, sink: Buffer[]) => (chunk: Buffer) => {
            sink.push(chunk);
            // Before the marker exists, output is ssh's own (connection errors), not the command's.
            if (run.onLine && isConnected()) {
                splitters[stream].push(chunk);
            }
        };
        child.stdout?.on("data", collect("stdout", out));
        child.stderr?.on("data", collect("stderr", err));
        if (hasStdin && child.stdin) {
            // The command may exit without reading its input; that is not our error.
            child.stdin.on("error", () => undefined);
            child.stdin.end(run.stdin);
        }
        // ConnectTimeout covers TCP and the handshake; this also bounds authentication.
        let timedOut = false;
        const perDial = run.connection.perDialTimeout;
        const watchdog =
            perDial > 0
                ? setTimeout(
                      () => {
                          if (!isConnected()) {
                              timedOut = true;
                              child.kill("SIGKILL");
                          }
                      },
                      (perDial * 2 + 5) * 1000,
                  )
                : undefined;
        child.on("error", (e: NodeJS.ErrnoException) => {
            clearTimeout(watchdog);
            running.delete(child);
            const hint = e.code === "ENOENT" ? "; install openssh-client" : "";
            reject(new Error(`cannot run the ssh client (${sshPath}): ${e.message}${hint}`));
        });
        child.on("close", (code, signal) => {
            clearTimeout(watchdog);
            running.delete(child);
            const wasConnected = isConnected();
            if (wasConnected) {
                splitters.stdout.end();
                splitters.stderr.end();
            }
            resolve({
                connected: wasConnected,
                exitCode: code,
                signal,
                timedOut,
                stdout: Buffer.concat(out),
                stderr: Buffer.concat(err),
            });
        });
    });
}

function trimFinalNewline(s: string): string {
    return s.endsWith("\n") ? s.slice(0, -1) : s;
}

/**
 * Runs `run.command` on the remote host. Dials again (up to dialErrorLimit
 * attempts) while ssh fails before authentication completes; then resolves
 * with the output of a zero exit status or rejects with RemoteCommandError.
 */
export async function runRemote(run: RemoteRun, opts: SshOptions = {}): Promise<RemoteResult> {
    const c = run.connection;
    if (c.host === "" || c.host.startsWith("-") || /[\s\x00-\x1f]/.test(c.host)) {
        throw new Error(`invalid host ${JSON.stringify(c.host)}`);
    }
    for (const name of Object.keys(run.environment)) {
        const problem = environmentNameProblem(name);
        if (problem) {
            throw new Error(`environment: ${problem}`);
        }
    }
    const destination = destinationOf(c);
    const limit = c.dialErrorLimit < 0 ? Infinity : Math.max(1, c.dialErrorLimit);
    const pause = opts.retryPauseMs ?? defaultRetryPauseMs;
    const ws = prepareWorkspace(c);
    try {
        for (let attempt = 1; ; attempt++) {
            const a = await attemptOnce(run, ws, opts.sshPath ?? "ssh");
            if (a.connected) {
                const stdout = trimFinalNewline(a.stdout.toString("utf8"));
                const stderr = trimFinalNewline(a.stderr.toString("utf8"));
                if (a.exitCode === 0) {
                    return { stdout, stderr };
                }
                throw new RemoteCommandError(destination, run.command, a.exitCode, a.signal, stdout, stderr);
            }
            const reason = a.timedOut
                ? `timed out after ${c.perDialTimeout * 2 + 5} s without completing authentication`
                : a.stderr.toString("utf8").trim() || `ssh exited with ${a.exitCode ?? a.signal} before connecting`;
            if (attempt >= limit) {
                throw new DialError(destination, attempt, reason);
            }
            run.onDialRetry?.(attempt, limit, reason);
            await new Promise((r) => setTimeout(r, pause(attempt)));
        }
    } finally {
        fs.rmSync(ws.dir, { recursive: true, force: true });
    }
}
