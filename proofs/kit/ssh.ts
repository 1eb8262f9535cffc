// SSH to the lab's guests with the operator key: a command's output, a
// login held open between a setup and its teardown, and waiting until a
// guest accepts logins.
import { guestSshOptions } from "../../components/guestSsh";
import { execFile, spawn } from "child_process";
import type { LabConfig } from "../../components/config";
import { shellQuote } from "../../components/libvirt/host";
import type { LabOutputValues } from "../../components/program";
import { delay } from "./wait";

/** Who logs in and with which key: the `ssh` output. */
export type SshAccess = LabOutputValues["ssh"];

/** The login a stack's config gives (its sshUser and sshKeyPath), for when there are no outputs yet. */
export function sshAccessOf(config: Pick<LabConfig, "sshUser" | "sshKeyPath">): SshAccess {
    return { user: config.sshUser, privateKeyPath: config.sshKeyPath };
}

/** ssh's options for a lab guest (the same the facts resource logs in with). */
export const sshOptions = guestSshOptions;

/** ssh's arguments for a command on a lab guest. */
export function sshArgs(access: SshAccess, host: string, command: string, connectTimeoutSeconds = 10): string[] {
    return [...sshOptions(access.privateKeyPath, connectTimeoutSeconds), `${access.user}@${host}`, command];
}

/** Runs a command on a lab guest; its stdout, or a rejection (connection refused, non-zero exit, `timeoutMs` passed). */
export function sshRun(access: SshAccess, host: string, command: string, timeoutMs = 60_000, connectTimeoutSeconds = 10): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("ssh", sshArgs(access, host, command, connectTimeoutSeconds), { timeout: timeoutMs }, (error, stdout) =>
            error ? reject(error) : resolve(stdout),
        );
    });
}

/** What `sshHold`'s guest side prints once its setup is done. */
const HOLD_READY = "lvslab-hold-ready";

/** A login `sshHold` keeps open: `release` runs its teardown and ends it. */
export interface HeldLogin {
    /** Ends the wait on the guest, so the teardown runs; rejects when the teardown failed. */
    release(): Promise<void>;
}

/**
 * Runs `setup` on a lab guest (as root) and keeps that login open until
 * `release()`, then runs `teardown` in it: one SSH login where two would
 * each cost seconds of a busy emulated guest. The teardown runs however the
 * hold ends: released, setup failed, this process gone (the connection
 * closes), or `holdSeconds` passed on the guest. Rejects when the setup fails.
 */
export function sshHold(access: SshAccess, host: string, setup: string, teardown: string, holdSeconds = 600): Promise<HeldLogin> {
    const script = `{ ${setup} && echo ${HOLD_READY} && { read -r -t ${holdSeconds} _ || true; }; }; ${teardown}`;
    return new Promise((resolve, reject) => {
        const child = spawn("ssh", sshArgs(access, host, `sudo bash -c ${shellQuote(script)}`), { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        let ready = false;
        // The guest gives up after holdSeconds; this side a minute later.
        const timer = setTimeout(() => child.kill(), (holdSeconds + 60) * 1000);
        const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
        void exited.then((code) => {
            clearTimeout(timer);
            if (!ready) {
                reject(new Error(`${host}: ${stderr.trim() || `ssh exited with ${code} before the setup was done`}`));
            }
        });
        child.on("error", reject);
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.stdout.on("data", (chunk: Buffer) => {
            stdout += chunk.toString();
            if (!ready && stdout.includes(HOLD_READY)) {
                ready = true;
                resolve({
                    release: async () => {
                        child.stdin.end();
                        const code = await exited;
                        if (code !== 0) {
                            throw new Error(`${host}: the teardown failed (exit ${code}): ${stderr.trim()}`);
                        }
                    },
                });
            }
        });
    });
}

/** A yes/no test on a guest, watched: when (host clock, ms) it was first seen true or false. */
export interface GuestWatch {
    /** The last answer seen; undefined before the first. */
    readonly current: boolean | undefined;
    /** The first moment at or after `since` the test answered `answer` (`since` itself if it already did then); undefined after `limitMs` or once the watch ended. */
    until(answer: boolean, since: number, limitMs: number): Promise<number | undefined>;
    /** Ends the watch (the guest's loop ends with the login). */
    stop(): void;
}

/**
 * A watch's answers as they arrive: `feed` takes the loop's output, each
 * "yes" or "no" line dated by `now()`; `close` says no more will come.
 * The GuestWatch's reading side, apart from the login that feeds it.
 */
export class AnswerLog implements Omit<GuestWatch, "stop"> {
    private readonly changes: { at: number; answer: boolean }[] = [];
    private readonly waiters: (() => void)[] = [];
    private buffered = "";
    private ended = false;

    constructor(private readonly now: () => number = Date.now) {}

    feed(text: string): void {
        this.buffered += text;
        const lines = this.buffered.split("\n");
        this.buffered = lines.pop() ?? "";
        for (const line of lines.filter((entry) => entry === "yes" || entry === "no")) {
            this.changes.push({ at: this.now(), answer: line === "yes" });
        }
        this.wakeAll();
    }

    close(): void {
        this.ended = true;
        this.wakeAll();
    }

    get current(): boolean | undefined {
        return this.changes.at(-1)?.answer;
    }

    async until(answer: boolean, since: number, limitMs: number): Promise<number | undefined> {
        const deadline = this.now() + limitMs;
        for (;;) {
            if (this.changes.filter((change) => change.at < since).at(-1)?.answer === answer) {
                return since;
            }
            const seen = this.changes.find((change) => change.at >= since && change.answer === answer);
            if (seen) {
                return seen.at;
            }
            const left = deadline - this.now();
            if (left <= 0 || this.ended) {
                return undefined;
            }
            await new Promise<void>((wake) => {
                const wait = setTimeout(wake, left);
                this.waiters.push(() => {
                    clearTimeout(wait);
                    wake();
                });
            });
        }
    }

    private wakeAll(): void {
        this.waiters.splice(0).forEach((wake) => wake());
    }
}

/**
 * Watches a shell test on a guest over one login: a root loop runs `test`
 * every `everyMs` and prints its answer when it changes, which this side
 * dates on arrival. A drill that times the guest with a new login per poll
 * (about a CPU-second each under emulation) keeps the guest's only CPU
 * busy and slows what it times. The loop ends after `limitSeconds`, or
 * with the login.
 */
export function watchOnGuest(access: SshAccess, host: string, test: string, limitSeconds = 300, everyMs = 250): GuestWatch {
    const loop =
        `end=$((SECONDS + ${limitSeconds})); last=; ` +
        `while [ "$SECONDS" -lt "$end" ]; do ` +
        `if { ${test}; } >/dev/null 2>&1; then now=yes; else now=no; fi; ` +
        `if [ "$now" != "$last" ]; then echo "$now"; last=$now; fi; sleep ${everyMs / 1000}; done`;
    const child = spawn("ssh", sshArgs(access, host, `sudo bash -c ${shellQuote(loop)}`), { stdio: ["pipe", "pipe", "ignore"] });
    const log = new AnswerLog();
    child.stdout.on("data", (chunk: Buffer) => log.feed(chunk.toString()));
    child.on("error", () => undefined);
    const timer = setTimeout(() => child.kill(), (limitSeconds + 30) * 1000);
    child.on("close", () => {
        clearTimeout(timer);
        log.close();
    });
    return {
        get current() {
            return log.current;
        },
        until: (answer, since, limitMs) => log.until(answer, since, limitMs),
        stop() {
            child.stdin.end();
            child.kill();
        },
    };
}

/**
 * Tries `ssh true` until it works or the deadline passes; returns the seconds
 * since `since`, or undefined. Each try may take 30 s to connect and 60 s in
 * all: under emulation sshd's banner and a login (PAM, systemd --user) can
 * take longer than 10 s, and cutting a try short only starts another one.
 */
export async function waitForSsh(access: SshAccess, host: string, since: number, deadlineMs: number): Promise<number | undefined> {
    while (Date.now() < deadlineMs) {
        const ok = await sshRun(access, host, "true", 60_000, 30).then(
            () => true,
            () => false,
        );
        if (ok) {
            return (Date.now() - since) / 1000;
        }
        await delay(2000);
    }
    return undefined;
}
