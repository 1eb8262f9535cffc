// The one harness of the live checks (smoke, e2e, bench, drills, drain):
// everything two of them need lives here once, and the scenario files hold
// scenarios only. Stack outputs and config, phases and result files, HTTP,
// SSH with the lab's options, virsh, what is left in libvirt, wrk.
//
// A helper that cannot see (libvirt not answering, SSH refused) throws or
// reports a problem; it never answers "clean".
import * as auto from "@pulumi/pulumi/automation";
import { execFile, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { LabConfig } from "../components/config";
import { shellQuote } from "../components/guestConfig";
import { removeDomain } from "../components/libvirt";
import { removeNetwork } from "../components/libvirt";
import { removeVolume } from "../components/libvirt";
import { OperationResult, plainOutputs, PROJECT_ROOT, resourcesOf } from "../scripts/automation";

// ------------------------------------------------------------------ basics

export function errorText(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `test` every `intervalMs` until it holds; returns when it did (ms since the epoch), or undefined after `limitMs`. */
export async function waitFor(test: () => Promise<boolean>, limitMs: number, intervalMs = 1000): Promise<number | undefined> {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
        if (await test().catch(() => false)) {
            return Date.now();
        }
        await delay(intervalMs);
    }
    return undefined;
}

/** Runs a tool's main when its file is the program: its exit code, or 1 with the error on one line. */
export function runMain(tool: string, module: NodeJS.Module, main: () => Promise<number>): void {
    if (require.main !== module) {
        return;
    }
    main().then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(`${tool}: ${errorText(error)}`);
            process.exit(1);
        },
    );
}

// ------------------------------------------------------------------- stacks

/** The stack's outputs as plain values, typed as the caller reads them. */
export async function labOutputs<T>(stack: auto.Stack): Promise<T> {
    return (await plainOutputs(stack)) as unknown as T;
}

/** A resource's name: the last part of its URN. */
export function resourceNameOf(urn: string): string {
    return urn.split("::").pop() ?? urn;
}

/** A resource step other than `same`: what it did, its type and its name. */
export interface ChangedStep {
    op: string;
    type: string;
    name: string;
}

/** Resource steps other than `same`. */
export function changedSteps(result: Pick<OperationResult, "steps">): ChangedStep[] {
    return result.steps
        .filter((step) => step.op !== "same")
        .map((step) => ({ op: step.op, type: step.type, name: resourceNameOf(step.urn) }));
}

/**
 * What an in-place change may touch: create or delete the resources of
 * `ownedBy` (a server being added or removed), update the `updatable` steps
 * in place; every step in `required` must have been updated. Anything else
 * (a replace, or a change to another machine) is a problem.
 */
export function inPlaceProblems(result: Pick<OperationResult, "steps">, allowed: { ownedBy?: string; updatable: string[]; required: string[] }): string[] {
    const problems: string[] = [];
    const changed = changedSteps(result);
    for (const step of changed) {
        const owned = allowed.ownedBy !== undefined && (step.name === allowed.ownedBy || step.name.startsWith(`${allowed.ownedBy}-`));
        if ((step.op === "create" || step.op === "delete") && owned) {
            continue;
        }
        if (step.op === "update" && allowed.updatable.includes(step.name)) {
            continue;
        }
        // Dynamic providers are configured with the whole stack config, so
        // their provider shows as updated when any setting changes; it is no
        // machine and nothing is replaced by it.
        if (step.op === "update" && step.type.startsWith("pulumi:providers:")) {
            continue;
        }
        problems.push(`unexpected ${step.op} of ${step.type} ${step.name}`);
    }
    for (const name of allowed.required) {
        if (!changed.some((step) => step.op === "update" && step.name === name)) {
            problems.push(`${name} was not updated`);
        }
    }
    return problems;
}

/** Scaling: the one server's own resources come or go, every director's table is updated in place. */
export function scalingProblems(result: Pick<OperationResult, "steps">, serverName: string, directorNames: string[]): string[] {
    const tables = directorNames.map((name) => `${name}-lb`);
    return inPlaceProblems(result, { ownedBy: serverName, updatable: tables, required: tables });
}

/** Where the stack's libvirt objects live and how their names start. */
export interface LibvirtTarget {
    uri: string;
    pool: string;
    prefix: string;
}

/**
 * The libvirt name prefix recorded in an exported stack state, for when `up`
 * failed before the stack had outputs: the foundation component's
 * `libvirtPrefix` output, else `namePrefix`-the random suffix (the
 * component records its outputs only once all of them resolved).
 * Undefined if neither is there: nothing of the stack was named yet.
 */
export function prefixFromDeployment(deployment: unknown, namePrefix: string): string | undefined {
    const resources = (deployment as { resources?: unknown } | undefined)?.resources;
    if (!Array.isArray(resources)) {
        return undefined;
    }
    const list = resources as { urn?: string; type?: string; outputs?: Record<string, unknown> }[];
    for (const resource of list) {
        const prefix = resource?.outputs?.libvirtPrefix;
        if (typeof prefix === "string" && prefix !== "") {
            return prefix;
        }
    }
    for (const resource of list) {
        const suffix = resource?.outputs?.result;
        if (resource?.type === "random:index/randomString:RandomString" && (resource.urn ?? "").endsWith("-suffix") && typeof suffix === "string" && suffix !== "") {
            return `${namePrefix}-${suffix}`;
        }
    }
    return undefined;
}

/** The stack's libvirt target: from its outputs, else from its state and config; undefined if nothing of it was ever named. */
export async function libvirtTargetOf(stack: auto.Stack): Promise<LibvirtTarget | undefined> {
    const outputs = (await plainOutputs(stack).catch(() => ({}))) as { libvirt?: LibvirtTarget };
    if (outputs.libvirt?.prefix) {
        return outputs.libvirt;
    }
    const config = async (key: string, fallback: string): Promise<string> => (await stack.getConfig(`lvs-dr-lab:${key}`).catch(() => ({ value: fallback }))).value;
    const state = await stack.exportStack().catch(() => undefined);
    const prefix = prefixFromDeployment(state?.deployment, await config("namePrefix", "lvslab"));
    if (prefix === undefined) {
        return undefined;
    }
    return { uri: await config("libvirtUri", "qemu:///system"), pool: await config("storagePool", "default"), prefix };
}

/** The names (last URN part) of the resources in the stack's state. */
export async function resourceNames(stack: auto.Stack): Promise<string[]> {
    return resourcesOf(await stack.exportStack()).map((r) => resourceNameOf(r.urn));
}

// ------------------------------------------------------- phases and results

export interface Phase {
    name: string;
    seconds: number;
    ok: boolean;
    /** Not run, because a phase it depends on failed. */
    skipped?: boolean;
    detail: string;
}

/**
 * How a phase went: `value` is there whenever its body completed, even if
 * its check found problems; `error` is what the body threw, if it did.
 */
export interface Outcome<T> {
    ok: boolean;
    value: T | undefined;
    error?: unknown;
}

/** The phases of one run (e2e, bench), each timed, judged and logged as `=== TOOL: name`. */
export class PhaseLog {
    readonly phases: Phase[] = [];

    constructor(private readonly tool: string) {}

    /**
     * Runs one phase and records it; never throws. A body that throws is a
     * failed phase without a value; a check that finds problems is a failed
     * phase with one (the change it judged did happen).
     */
    async run<T>(name: string, body: () => Promise<T>, check: (value: T) => string[] = () => []): Promise<Outcome<T>> {
        console.log(`\n=== ${this.tool}: ${name}`);
        const started = Date.now();
        let value: T;
        try {
            value = await body();
        } catch (error) {
            this.record(name, started, [errorText(error)]);
            return { ok: false, value: undefined, error };
        }
        let problems: string[];
        try {
            problems = check(value);
        } catch (error) {
            problems = [`the check itself failed: ${errorText(error)}`];
        }
        this.record(name, started, problems);
        return { ok: problems.length === 0, value };
    }

    /** Records a phase that cannot mean anything because `cause` failed. */
    skip(name: string, cause: string): void {
        const detail = `skipped: "${cause}" failed`;
        this.phases.push({ name, seconds: 0, ok: false, skipped: true, detail });
        console.log(`\n=== ${this.tool}: ${name}: ${detail}`);
    }

    private record(name: string, started: number, problems: string[]): void {
        const seconds = (Date.now() - started) / 1000;
        this.phases.push({ name, seconds, ok: problems.length === 0, detail: problems.join("; ") });
        console.log(`=== ${this.tool}: ${name}: ${seconds.toFixed(1)} s${problems.length ? ` FAILED: ${problems.join("; ")}` : ""}`);
    }
}

/** "N passed, M failed, K skipped" of a run's phases. */
export function tally(list: readonly Phase[]): { passed: number; failed: number; skipped: number } {
    const skipped = list.filter((p) => p.skipped === true).length;
    const passed = list.filter((p) => p.ok).length;
    return { passed, failed: list.length - passed - skipped, skipped };
}

/** A plain-text table: a header row, a rule, then the rows, columns padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
    const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)));
    const line = (cells: readonly string[]): string =>
        cells
            .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Writes a run's results as JSON under bench/results; returns the file. */
export function writeResults(name: string, results: unknown): string {
    const file = path.join(PROJECT_ROOT, "bench", "results", name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(results, undefined, 2)}\n`);
    return file;
}

// -------------------------------------------------------------------- HTTP

export interface HttpAnswer {
    status: number;
    body: string;
    /** The identity header: which real server answered. */
    server: string | undefined;
}

/**
 * One GET on a new connection (IPVS schedules connections, not requests),
 * bounded by `timeoutMs`. Rejects when there is no answer; the error's
 * `code` is "timeout" for no answer in time, else the socket's (ECONNREFUSED...).
 */
export function get(url: string, header: string, timeoutMs: number): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
        const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => {
                const value = response.headers[header.toLowerCase()];
                resolve({ status: response.statusCode ?? 0, body, server: Array.isArray(value) ? value[0] : value });
            });
        });
        request.on("timeout", () => request.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "timeout" })));
        request.on("error", reject);
    });
}

/** What a failed `get` was, in one word: "timeout", the socket's code, or the message. */
export function failureKind(error: unknown): string {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    return typeof code === "string" ? code : errorText(error);
}

/**
 * Requests one after the other in the background, each made by `request`
 * (which never rejects: what went wrong is in its sample), until stopped and
 * never longer than `limitMs`. What the drills judge while they break things.
 */
export class BackgroundRequests<T> {
    readonly samples: T[] = [];
    private running = false;
    private loop: Promise<void> = Promise.resolve();

    constructor(
        private readonly request: () => Promise<T>,
        private readonly pauseMs: number,
        private readonly limitMs: number,
    ) {}

    start(): void {
        this.running = true;
        const deadline = Date.now() + this.limitMs;
        this.loop = (async () => {
            while (this.running && Date.now() < deadline) {
                this.samples.push(await this.request());
                await delay(this.pauseMs);
            }
        })();
    }

    async stop(): Promise<T[]> {
        this.running = false;
        await this.loop;
        return this.samples;
    }
}

// --------------------------------------------------------------------- SSH

export interface SshAccess {
    user: string;
    privateKeyPath: string;
}

/**
 * ssh's arguments for a command on a lab guest with the operator key. Host
 * keys are not checked: the guests are new on every run and reachable only
 * inside the lab host's namespace.
 */
export function sshArgs(access: SshAccess, host: string, command: string, connectTimeoutSeconds = 10): string[] {
    return [
        "-i", access.privateKeyPath,
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
        "-o", `ConnectTimeout=${connectTimeoutSeconds}`,
        `${access.user}@${host}`,
        command,
    ];
}

/** Runs a command on a lab guest; its stdout, or a rejection (connection refused, non-zero exit, `timeoutMs` passed). */
export function sshRun(access: SshAccess, host: string, command: string, timeoutMs = 60_000, connectTimeoutSeconds = 10): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("ssh", sshArgs(access, host, command, connectTimeoutSeconds), { timeout: timeoutMs }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
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

/** Whether the director at `directorIp` holds the VIP (its addresses, over SSH). */
export function holdsVip(lab: { ssh: SshAccess; vip: string }, directorIp: string): Promise<boolean> {
    return sshRun(lab.ssh, directorIp, "ip -o -4 addr show", 15_000).then((text) => text.includes(` ${lab.vip}/`));
}

/** Whether the director's table for the VIP's first port lists `address` (ipvsadm over SSH). */
export function inTable(lab: { ssh: SshAccess; vip: string; port: number }, directorIp: string, address: string): Promise<boolean> {
    return sshRun(lab.ssh, directorIp, `sudo ipvsadm -Ln -t ${lab.vip}:${lab.port}`, 15_000).then((text) => text.includes(` ${address}:${lab.port} `));
}

/**
 * Tries `ssh true` until it works or the deadline passes; returns the seconds
 * since `since`, or undefined. Each try may take 30 s to connect and 60 s in
 * all: under emulation sshd's banner and a login (PAM, systemd --user) can
 * take longer than 10 s, and cutting a try short only starts another one.
 */
export async function waitForSsh(config: LabConfig, host: string, since: number, deadlineMs: number): Promise<number | undefined> {
    const access = { user: config.sshUser, privateKeyPath: config.sshKeyPath };
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

/** The path of the export on the NFS store, from the `nfsExport` output ("192.168.7.250:/opt/wwwroot"). */
export function exportPathOf(nfsExport: string): string {
    const colon = nfsExport.indexOf(":");
    const exportPath = nfsExport.slice(colon + 1);
    if (colon < 1 || !exportPath.startsWith("/")) {
        throw new Error(`nfsExport "${nfsExport}" is not address:/path`);
    }
    return exportPath;
}

// ------------------------------------------------------------------ libvirt

/**
 * The CPU time each domain's qemu has used, in seconds, from `virsh domstats
 * --cpu-total` ("Domain: 'name'" then "  cpu.time=NANOSECONDS" lines).
 */
export function parseCpuTotals(domstats: string): Record<string, number> {
    const seconds: Record<string, number> = {};
    let domain: string | undefined;
    for (const line of domstats.split("\n")) {
        const name = /^Domain: '(.*)'$/.exec(line.trim());
        if (name) {
            domain = name[1];
            continue;
        }
        const time = /^cpu\.time=(\d+)$/.exec(line.trim());
        if (time && domain !== undefined) {
            seconds[domain] = Math.round(Number(time[1]) / 1e7) / 100;
        }
    }
    return seconds;
}

/** CPU seconds used so far by the running domains named (all running ones when none are). */
export function guestCpuSeconds(uri: string, ...domains: string[]): Record<string, number> {
    return parseCpuTotals(virshText(uri, "domstats", "--cpu-total", ...domains));
}

/** `virsh -c URI ARGS...`'s output; throws with virsh's own message when it fails. */
export function virshText(uri: string, ...args: string[]): string {
    try {
        return execFileSync("virsh", ["-c", uri, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    } catch (error) {
        const stderr = (error as { stderr?: string }).stderr?.trim();
        throw new Error(`virsh -c ${uri} ${args.join(" ")} failed${stderr ? `: ${stderr}` : ""}`);
    }
}

/** libvirt objects whose names start with the lab's prefix, as "domain NAME", "network NAME", "volume NAME". */
export function leftovers(uri: string, pool: string, prefix: string): string[] {
    // A libvirt that cannot be asked is no proof that nothing is left: it throws.
    const names = (...args: string[]): string[] => {
        let text: string;
        try {
            text = virshText(uri, ...args);
        } catch (error) {
            throw new Error(`cannot tell what is left: ${errorText(error)}`);
        }
        return text
            .split("\n")
            .map((line) => line.trim())
            .filter((line) => line !== "");
    };
    const found = [
        ...names("list", "--all", "--name").map((name) => `domain ${name}`),
        ...names("net-list", "--all", "--name").map((name) => `network ${name}`),
        ...names("vol-list", pool)
            .slice(2)
            .map((line) => `volume ${line.split(/\s+/)[0]}`),
    ];
    return found.filter((entry) => entry.split(" ")[1].startsWith(prefix));
}

/** Removes every domain, volume and network whose name starts with prefix; returns what was removed. */
export async function sweep(uri: string, pool: string, prefix: string): Promise<string[]> {
    const found = leftovers(uri, pool, prefix);
    const named = (kind: string): string[] => found.filter((e) => e.startsWith(`${kind} `)).map((e) => e.slice(kind.length + 1));
    for (const name of named("domain")) {
        await removeDomain(uri, name, name, undefined);
    }
    for (const name of named("volume")) {
        await removeVolume("Volume", uri, ["--pool", pool, name], name);
    }
    for (const name of named("network")) {
        await removeNetwork(uri, name, name);
    }
    return found;
}

// --------------------------------------------------------------------- wrk

/** What one wrk run reports. Latencies in milliseconds. */
export interface WrkResult {
    requestsPerSecond: number;
    requests: number;
    seconds: number;
    latencyMs: { mean: number; max: number; p50: number; p75: number; p90: number; p99: number };
    /** Answers with a status of 400 or more ("Non-2xx or 3xx responses"). */
    non2xx: number;
    socketErrors: { connect: number; read: number; write: number; timeout: number };
    /** Socket errors plus non-2xx/3xx answers. */
    errors: number;
}

/** "10.52ms", "830.00us", "1.20s", "2.00m" in milliseconds. */
export function parseDuration(text: string): number {
    const match = /^([0-9.]+)(us|ms|s|m)$/.exec(text.trim());
    if (!match) {
        throw new Error(`not a wrk duration: "${text}"`);
    }
    const value = Number(match[1]);
    const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
    return value * scale[match[2]];
}

/** Parses the output of `wrk --latency`; throws if a figure is missing. wrk prints its error lines only when there were errors. */
export function parseWrk(output: string): WrkResult {
    const find = (pattern: RegExp, what: string): RegExpExecArray => {
        const match = pattern.exec(output);
        if (!match) {
            throw new Error(`wrk output has no ${what}:\n${output}`);
        }
        return match;
    };
    const thread = find(/^\s*Latency\s+(\S+)\s+\S+\s+(\S+)/m, "latency line");
    const percentile = (p: number): number => parseDuration(find(new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m"), `${p}% percentile`)[1]);
    const total = find(/^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)/m, "request count");
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
    const socketErrors = socket
        ? { connect: Number(socket[1]), read: Number(socket[2]), write: Number(socket[3]), timeout: Number(socket[4]) }
        : { connect: 0, read: 0, write: 0, timeout: 0 };
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? "0");
    return {
        requestsPerSecond: Number(find(/^Requests\/sec:\s+([0-9.]+)/m, "Requests/sec")[1]),
        requests: Number(total[1]),
        seconds: parseDuration(`${total[2]}${total[3]}`) / 1000,
        latencyMs: {
            mean: parseDuration(thread[1]),
            max: parseDuration(thread[2]),
            p50: percentile(50),
            p75: percentile(75),
            p90: percentile(90),
            p99: percentile(99),
        },
        non2xx,
        socketErrors,
        errors: non2xx + socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout,
    };
}

/** A wrk run's problems: no completed request, error answers, socket errors of any kind. */
export function wrkProblems(result: WrkResult): string[] {
    const problems: string[] = [];
    if (result.requests === 0) {
        problems.push("no request completed");
    }
    if (result.non2xx > 0) {
        problems.push(`${result.non2xx} of ${result.requests} answers were not 2xx or 3xx`);
    }
    const { connect, read, write, timeout } = result.socketErrors;
    if (connect + read + write + timeout > 0) {
        problems.push(`socket errors: connect ${connect}, read ${read}, write ${write}, timeout ${timeout}`);
    }
    return problems;
}

/** Runs `wrk --latency` against url from here; rejects when wrk fails or its output cannot be read. */
export function runWrk(url: string, seconds: number, connections: number): Promise<WrkResult> {
    return new Promise((resolve, reject) => {
        execFile(
            "wrk",
            ["-t", "2", "-c", String(connections), "-d", `${seconds}s`, "--timeout", "5s", "--latency", url],
            { timeout: (seconds + 30) * 1000 },
            (error, stdout) => {
                if (error) {
                    reject(new Error(`wrk ${url}: ${error.message}`));
                    return;
                }
                try {
                    resolve(parseWrk(stdout));
                } catch (parseError) {
                    reject(parseError);
                }
            },
        );
    });
}
