// The benchmark (`npm run bench`): how long the lab takes to come up against
// a floor measured in the same run, what the everyday operations cost, what
// the director costs the data path, and how much memory a Pulumi run takes.
// Runs inside the lab host's namespace (scripts/isolated.sh puts it there).
//
// Phases: the floor (the same six guests defined and booted straight with
// virsh through the libvirt layer's own functions, no Pulumi, until each
// accepts SSH; then removed); `up` from nothing to a passing smoke test; a
// no-op `up`; a `preview`; wrk through the VIP and to one real server; adding
// one real server; `destroy`. Results go to bench/results/bench.json.
import * as auto from "@pulumi/pulumi/automation";
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LabConfig, RawConfig } from "../components/config";
import { removeDomain } from "../components/libvirt/domain";
import { removeNetwork } from "../components/libvirt/network";
import { removeVolume } from "../components/libvirt/volume";
import { loadLabConfig } from "../program";
import { openStack, OperationResult, plainOutputs, PROJECT_ROOT, runOperation } from "./automation";
import { leftovers, scalingProblems } from "./e2e";
import { floor } from "./floor";
import { smokeTest, SmokeInputs } from "./smoke";

// ---------------------------------------------------------------- pure parts

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

/** a / b rounded to two decimals; undefined when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
    if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
        return undefined;
    }
    return Math.round((a / b) * 100) / 100;
}

/** What one wrk run reports. Latencies in milliseconds. */
export interface WrkResult {
    requestsPerSecond: number;
    requests: number;
    seconds: number;
    latencyMs: { mean: number; max: number; p50: number; p75: number; p90: number; p99: number };
    /** Socket errors (connect + read + write + timeout) plus non-2xx/3xx answers. */
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

/** Parses the output of `wrk --latency`; throws if a figure is missing. */
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
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
    const errors =
        (socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
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
        errors,
    };
}

/** The fields of /proc/PID/status the memory sampler reads (kB as the kernel gives them). */
export interface ProcStatus {
    name: string;
    ppid: number;
    vmHwmKiB: number;
    vmRssKiB: number;
}

export function parseProcStatus(text: string): ProcStatus {
    const field = (key: string): string => new RegExp(`^${key}:\\s*(.*)$`, "m").exec(text)?.[1]?.trim() ?? "";
    const kib = (key: string): number => Number(/^(\d+)/.exec(field(key))?.[1] ?? "0");
    return { name: field("Name"), ppid: Number(field("PPid") || "0"), vmHwmKiB: kib("VmHWM"), vmRssKiB: kib("VmRSS") };
}

/** Every pid below root (children, grandchildren, ...), given each pid's parent. */
export function descendants(parents: ReadonlyMap<number, number>, root: number): number[] {
    const found: number[] = [];
    const frontier = [root];
    while (frontier.length > 0) {
        const parent = frontier.pop() as number;
        for (const [pid, ppid] of parents) {
            if (ppid === parent && !found.includes(pid)) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    return found;
}

/** Resource steps per type, most frequent first, and the total. */
export function resourceCounts(result: Pick<OperationResult, "steps">): { total: number; byType: Record<string, number> } {
    const byType: Record<string, number> = {};
    for (const step of result.steps) {
        byType[step.type] = (byType[step.type] ?? 0) + 1;
    }
    const sorted = Object.entries(byType).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    return { total: result.steps.length, byType: Object.fromEntries(sorted) };
}

// ------------------------------------------------------------ memory sampler

export interface ProcessGroupPeak {
    name: string;
    processes: number;
    largestPeakMiB: number;
}

/** Per-process peaks (KiB) grouped by process name, largest first. */
export function groupPeaks(peaks: readonly { name: string; hwmKiB: number }[]): ProcessGroupPeak[] {
    const groups = new Map<string, { processes: number; largest: number }>();
    for (const peak of peaks) {
        const group = groups.get(peak.name) ?? { processes: 0, largest: 0 };
        group.processes += 1;
        group.largest = Math.max(group.largest, peak.hwmKiB);
        groups.set(peak.name, group);
    }
    return [...groups.entries()]
        .map(([name, g]) => ({ name, processes: g.processes, largestPeakMiB: Math.round((g.largest / 1024) * 10) / 10 }))
        .sort((a, b) => b.largestPeakMiB - a.largestPeakMiB || a.name.localeCompare(b.name));
}

export interface MemoryReport {
    /** What was measured, in words (goes into the JSON). */
    method: string;
    /** This (automation) process's peak resident set, VmHWM. */
    automationPeakMiB: number;
    /**
     * The processes below it by name (pulumi: the CLI and engine; MainThread:
     * the Node.js plugins; ssh, virsh: what the plugins run): how many were
     * seen and the largest VmHWM among them.
     */
    children: ProcessGroupPeak[];
    /** Highest sum of VmRSS over this process and its descendants at one sample. */
    peakTotalRssMiB: number;
}

/**
 * Samples /proc every 500 ms while an operation runs: the VmHWM (peak RSS the
 * kernel keeps per process) of this process and of every descendant (the
 * pulumi CLI, which runs the engine, and the plugins it starts), and the sum
 * of their current VmRSS.
 */
export class MemorySampler {
    private readonly peaks = new Map<number, { name: string; hwm: number }>();
    private peakTotalRss = 0;
    private timer: NodeJS.Timeout | undefined;

    start(): void {
        this.sample();
        this.timer = setInterval(() => this.sample(), 500);
    }

    stop(): MemoryReport {
        if (this.timer) {
            clearInterval(this.timer);
        }
        this.sample();
        const self = this.peaks.get(process.pid);
        const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;
        return {
            method:
                "VmHWM from /proc/PID/status of the automation process and of each descendant (pulumi CLI/engine, plugins), sampled every 0.5 s; peakTotalRssMiB is the largest sum of their VmRSS at one sample",
            automationPeakMiB: mib(self?.hwm ?? 0),
            children: groupPeaks(
                [...this.peaks.entries()].filter(([pid]) => pid !== process.pid).map(([, p]) => ({ name: p.name, hwmKiB: p.hwm })),
            ),
            peakTotalRssMiB: mib(this.peakTotalRss),
        };
    }

    private sample(): void {
        const statuses = new Map<number, ProcStatus>();
        for (const entry of fs.readdirSync("/proc")) {
            if (/^\d+$/.test(entry)) {
                try {
                    statuses.set(Number(entry), parseProcStatus(fs.readFileSync(`/proc/${entry}/status`, "utf8")));
                } catch {
                    // gone between readdir and read
                }
            }
        }
        const parents = new Map([...statuses].map(([pid, s]) => [pid, s.ppid]));
        let total = 0;
        for (const pid of [process.pid, ...descendants(parents, process.pid)]) {
            const status = statuses.get(pid);
            if (!status) {
                continue;
            }
            total += status.vmRssKiB;
            const known = this.peaks.get(pid);
            if (!known || status.vmHwmKiB > known.hwm) {
                this.peaks.set(pid, { name: status.name, hwm: status.vmHwmKiB });
            }
        }
        this.peakTotalRss = Math.max(this.peakTotalRss, total);
    }
}

// ------------------------------------------------------------------ helpers

/** The stack's config as the raw strings validation takes. */
export async function stackLabConfig(stack: auto.Stack): Promise<LabConfig> {
    const all = await stack.getAllConfig();
    const raw: Record<string, string> = {};
    for (const [key, value] of Object.entries(all)) {
        if (key.startsWith("lvs-dr-lab:")) {
            raw[key.slice("lvs-dr-lab:".length)] = value.value;
        }
    }
    return loadLabConfig(raw as RawConfig);
}

/**
 * Tries `ssh true` until it works or the deadline passes; returns the seconds
 * since `since`, or undefined. Each try may take 30 s to connect and 60 s in
 * all: under emulation sshd's banner and a login (PAM, systemd --user) can
 * take longer than 10 s, and cutting a try short only starts another one.
 */
export async function waitForSsh(config: LabConfig, host: string, since: number, deadlineMs: number): Promise<number | undefined> {
    const args = [
        "-i", config.sshKeyPath,
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
        "-o", "ConnectTimeout=30",
        `${config.sshUser}@${host}`,
        "true",
    ];
    while (Date.now() < deadlineMs) {
        const ok = await new Promise<boolean>((resolve) => execFile("ssh", args, { timeout: 60_000 }, (error) => resolve(!error)));
        if (ok) {
            return (Date.now() - since) / 1000;
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    return undefined;
}

/** Removes every domain, volume and network whose name starts with prefix; returns what was removed. */
export async function sweep(uri: string, pool: string, prefix: string): Promise<string[]> {
    const found = leftovers(uri, pool, prefix);
    for (const entry of found.filter((e) => e.startsWith("domain "))) {
        await removeDomain(uri, entry.slice(7), entry.slice(7), undefined);
    }
    for (const entry of found.filter((e) => e.startsWith("volume "))) {
        await removeVolume("Volume", uri, ["--pool", pool, entry.slice(7)], entry.slice(7));
    }
    for (const entry of found.filter((e) => e.startsWith("network "))) {
        await removeNetwork(uri, entry.slice(8), entry.slice(8));
    }
    return found;
}

export function errorText(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

export function writeResults(name: string, results: unknown): string {
    const file = path.join(PROJECT_ROOT, "bench", "results", name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(results, undefined, 2)}\n`);
    return file;
}

export function machineFacts(domainType: string): Record<string, string | number> {
    const run = (file: string, args: string[]): string => {
        try {
            return execFileSync(file, args, { encoding: "utf8", timeout: 10_000 }).trim().split("\n")[0];
        } catch {
            return "unknown";
        }
    };
    return {
        nproc: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
        kernel: os.release(),
        domainType,
        qemu: run("qemu-system-x86_64", ["--version"]),
        libvirt: run("libvirtd", ["--version"]),
        node: process.version,
    };
}

// -------------------------------------------------------------------- wrk

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

// --------------------------------------------------------------------- main

interface Timing {
    name: string;
    seconds: number;
    ok: boolean;
    detail: string;
}

async function main(): Promise<number> {
    const stackName = process.env.LVSLAB_BENCH_STACK ?? "bench";
    const wrkSeconds = Number(process.env.LVSLAB_BENCH_WRK_SECONDS ?? "15");
    const wrkConnections = Number(process.env.LVSLAB_BENCH_WRK_CONNECTIONS ?? "16");
    const stack = await openStack(stackName);
    const config = await stackLabConfig(stack);
    const started = Date.now();
    const timings: Timing[] = [];
    const results: Record<string, unknown> = {
        stack: stackName,
        when: new Date().toISOString(),
        machine: machineFacts(config.domainType),
        guests: { count: 2 + config.realServers.length, vcpus: config.vm.vcpus, memoryMiB: config.vm.memoryMiB },
        timings,
    };
    const timed = async <T>(name: string, body: () => Promise<T>, check: (value: T) => string[] = () => []): Promise<T> => {
        console.log(`\n=== bench: ${name}`);
        const t0 = Date.now();
        try {
            const value = await body();
            const problems = check(value);
            timings.push({ name, seconds: (Date.now() - t0) / 1000, ok: problems.length === 0, detail: problems.join("; ") });
            console.log(`=== bench: ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s${problems.length ? ` PROBLEMS: ${problems.join("; ")}` : ""}`);
            return value;
        } catch (error) {
            timings.push({ name, seconds: (Date.now() - t0) / 1000, ok: false, detail: errorText(error) });
            throw error;
        }
    };
    const seconds = (name: string): number | undefined => timings.find((t) => t.name === name)?.seconds;
    const smoke = async (name: string) =>
        timed(name, async () => smokeTest((await plainOutputs(stack)) as unknown as SmokeInputs, 200), (report) => report.problems);

    try {
        await timed("clean start (destroy leftovers of an earlier run)", () => runOperation(stack, "destroy", () => undefined));
        const floorResult = await timed("floor: 6 guests with virsh, until SSH", () => floor(config, 1500), (f) => [
            ...Object.entries(f.sshSeconds)
                .filter(([, s]) => s === null)
                .map(([name]) => `${name} never accepted SSH`),
            ...f.left.map((entry) => `${entry} left after the floor`),
        ]);
        results.floor = floorResult;

        const memory = new MemorySampler();
        memory.start();
        const up = await timed("up from nothing", () => runOperation(stack, "up"));
        results.memory = memory.stop();
        results.resources = resourceCounts(up);
        await smoke("smoke after up");
        const upToSmoke = (seconds("up from nothing") ?? 0) + (seconds("smoke after up") ?? 0);
        results.headline = {
            upToPassingSmokeSeconds: upToSmoke,
            floorSeconds: floorResult.seconds,
            ratio: ratio(upToSmoke, floorResult.seconds),
        };

        const noop = await timed("no-op up", () => runOperation(stack, "up", () => undefined), (r) =>
            r.steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.urn}`),
        );
        results.noopChanges = noop.changes;
        await timed("preview", () => runOperation(stack, "preview", () => undefined));

        const outputs = (await plainOutputs(stack)) as unknown as SmokeInputs;
        const direct = `http://${outputs.realServers[0].publicIp}/`;
        const viaVip = await timed(`wrk ${wrkSeconds} s through the VIP`, () => runWrk(outputs.vipUrl, wrkSeconds, wrkConnections));
        const oneServer = await timed(`wrk ${wrkSeconds} s to ${outputs.realServers[0].name} directly`, () =>
            runWrk(direct, wrkSeconds, wrkConnections),
        );
        results.dataPath = {
            tool: `wrk -t 2 -c ${wrkConnections} -d ${wrkSeconds}s --latency, from the lab host's namespace`,
            viaVip: { url: outputs.vipUrl, servers: outputs.realServers.length, ...viaVip },
            oneServer: { url: direct, ...oneServer },
            rpsRatio: ratio(viaVip.requestsPerSecond, oneServer.requestsPerSecond),
            p99Ratio: ratio(viaVip.latencyMs.p99, oneServer.latencyMs.p99),
        };

        const count = config.realServers.length;
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(count + 1) });
        await timed(`add a real server (${count} -> ${count + 1})`, () => runOperation(stack, "up"), (r) =>
            scalingProblems(
                r,
                `web${count + 1}`,
                config.directors.map((director) => director.name),
            ),
        );
        await smoke(`smoke with ${count + 1}`);
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(count) });

        const libvirt = ((await plainOutputs(stack)) as unknown as { libvirt: { uri: string; pool: string; prefix: string } }).libvirt;
        await timed("destroy", () => runOperation(stack, "destroy"));
        await timed("nothing left", async () => leftovers(libvirt.uri, libvirt.pool, libvirt.prefix), (left) =>
            left.map((entry) => `${entry} is still there`),
        );
    } catch (error) {
        console.error(`bench: ${errorText(error)}`);
        results.error = errorText(error);
    } finally {
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(config.realServers.length) }).catch(() => undefined);
        results.totalSeconds = (Date.now() - started) / 1000;
        results.passed = results.error === undefined && timings.every((t) => t.ok);
        const file = writeResults("bench.json", results);
        console.log(`\n=== bench summary (${os.cpus().length} cores, domain type ${config.domainType})`);
        console.log(
            formatTable(
                ["phase", "seconds", "ok", "detail"],
                timings.map((t) => [t.name, t.seconds.toFixed(1), t.ok ? "ok" : "FAIL", t.detail.slice(0, 120)]),
            ),
        );
        const headline = results.headline as { ratio?: number } | undefined;
        if (headline?.ratio !== undefined) {
            console.log(`headline: up to a passing smoke test takes ${headline.ratio}x the floor`);
        }
        console.log(`total ${(results.totalSeconds as number).toFixed(1)} s; written to ${path.relative(PROJECT_ROOT, file)}`);
    }
    return results.passed ? 0 : 1;
}

/** `bench.js sweep PREFIX [POOL [URI]]`: removes libvirt objects by name prefix (the harness's last resort). */
async function sweepCommand(prefix: string | undefined, pool: string | undefined, uri = "qemu:///system"): Promise<number> {
    if (!prefix || prefix.length < 4) {
        console.error("usage: node bin/scripts/bench.js sweep PREFIX [POOL [URI]]   (PREFIX at least 4 characters)");
        return 64;
    }
    let where = { uri, pool: pool ?? "" };
    if (!pool) {
        const config = await stackLabConfig(await openStack(process.env.LVSLAB_BENCH_STACK ?? "bench"));
        where = { uri: config.libvirtUri, pool: config.storagePool };
    }
    const removed = await sweep(where.uri, where.pool, prefix);
    console.log(removed.length ? `removed: ${removed.join(", ")}` : `nothing named ${prefix}*`);
    return 0;
}

if (require.main === module) {
    (process.argv[2] === "sweep" ? sweepCommand(process.argv[3], process.argv[4], process.argv[5]) : main()).then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(`bench: ${errorText(error)}`);
            process.exit(1);
        },
    );
}
