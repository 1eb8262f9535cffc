// The benchmark (`npm run bench`): how long the lab takes to come up against
// a floor measured in the same run, what the everyday operations cost, what
// the director costs the data path, and how much memory a Pulumi run takes.
// Runs inside the lab host's namespace (labhost/isolated.sh puts it there).
//
// Phases: two floors (the same six guests defined and booted straight with
// virsh through the libvirt layer's own functions, no Pulumi, until each
// accepts SSH; then removed): the lab's image booted as the lab boots it, and
// the minimal floor, the same kernel straight into a minimal userspace
// (proofs/floor.ts); `up` from nothing to a passing smoke test; a
// no-op `up`; a `preview`; wrk through the VIP and to one real server; adding
// one real server; `destroy`. Results go to bench/results/bench.json.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { openStack, OperationResult, PROJECT_ROOT, runOperation, validatedConfig } from "../scripts/automation";
import { floor, FloorResult } from "./floor";
import * as auto from "@pulumi/pulumi/automation";
import { LabConfig } from "../components/config";
import {
    errorText,
    guestCpuSeconds,
    labOutputs,
    leftovers,
    libvirtTargetOf,
    Phase,
    PhaseLog,
    phaseTable,
    resourceNameOf,
    runMain,
    runWrk,
    scalingProblems,
    sweep,
    wrkProblems,
    writeResults,
} from "./kit";
import { smokeTest, SmokeReport } from "./smoke";

// ---------------------------------------------------------------- pure parts

/** a / b rounded to two decimals; undefined when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
    if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
        return undefined;
    }
    return rounded(a / b, 2);
}

/** `value` rounded to `decimals` places, as the results show every figure. */
function rounded(value: number, decimals: 1 | 2): number {
    const scale = 10 ** decimals;
    return Math.round(value * scale) / scale;
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

/** The steps of an operation that took a second or more, by start: where its time went. */
export function timeline(result: Pick<OperationResult, "steps">): { name: string; op: string; startSecond: number; seconds: number }[] {
    return result.steps
        .filter((step) => step.seconds >= 1)
        .sort((a, b) => a.startSecond - b.startSecond)
        .map((step) => ({ name: resourceNameOf(step.urn), op: step.op, startSecond: rounded(step.startSecond, 1), seconds: rounded(step.seconds, 1) }));
}

/** Where the machine's CPU went: the guests' qemu time at SSH in each floor, and after `up` and the smoke test. */
export interface GuestCpu {
    /** Mean CPU seconds a guest had used when it accepted SSH. */
    minimalFloorPerGuest: number;
    imageFloorPerGuest: number;
    /** Every lab guest's CPU seconds once `up` and the smoke test were done, and their sum. */
    upAndSmoke: Record<string, number>;
    upAndSmokeTotal: number;
    /**
     * That sum spread over every core: the least time `up` and the smoke
     * test could take on this machine with the guests doing what they did,
     * whatever the order.
     */
    upAndSmokeOverCores: number;
}

export function guestCpuSummary(
    minimal: Pick<FloorResult, "cpuSecondsAtSsh">,
    image: Pick<FloorResult, "cpuSecondsAtSsh">,
    upAndSmoke: Record<string, number>,
    cores: number,
): GuestCpu {
    const mean = (values: number[]): number => rounded(values.reduce((sum, value) => sum + value, 0) / Math.max(values.length, 1), 2);
    const total = rounded(
        Object.values(upAndSmoke).reduce((sum, value) => sum + value, 0),
        2,
    );
    return {
        minimalFloorPerGuest: mean(Object.values(minimal.cpuSecondsAtSsh)),
        imageFloorPerGuest: mean(Object.values(image.cpuSecondsAtSsh)),
        upAndSmoke,
        upAndSmokeTotal: total,
        upAndSmokeOverCores: rounded(total / cores, 2),
    };
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
        .map(([name, g]) => ({ name, processes: g.processes, largestPeakMiB: rounded(g.largest / 1024, 1) }))
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
        const mib = (kib: number): number => rounded(kib / 1024, 1);
        return {
            method: "VmHWM from /proc/PID/status of the automation process and of each descendant (pulumi CLI/engine, plugins), sampled every 0.5 s; peakTotalRssMiB is the largest sum of their VmRSS at one sample",
            automationPeakMiB: mib(self?.hwm ?? 0),
            children: groupPeaks([...this.peaks.entries()].filter(([pid]) => pid !== process.pid).map(([, p]) => ({ name: p.name, hwmKiB: p.hwm }))),
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
        memoryGiB: rounded(os.totalmem() / 1024 ** 3, 1),
        kernel: os.release(),
        domainType,
        qemu: run("qemu-system-x86_64", ["--version"]),
        libvirt: run("libvirtd", ["--version"]),
        node: process.version,
    };
}

// --------------------------------------------------------------------- main

/** What the bench's parts share: the stack, its config, the phases and the results for bench.json. */
interface BenchRun {
    stack: auto.Stack;
    config: LabConfig;
    results: Record<string, unknown>;
    timings: Phase[];
    /** Runs a phase; a phase whose body failed ends the bench: what follows needs what it made. */
    timed: <T>(name: string, body: () => Promise<T>, check?: (value: T) => string[]) => Promise<T>;
    /** A smoke test of the lab as its outputs are now, as a phase. */
    smoke: (name: string) => Promise<SmokeReport>;
}

/** Seconds the phase of that name took, if it ran. */
const secondsOf = (run: BenchRun, name: string): number | undefined => run.timings.find((t) => t.name === name)?.seconds;

/** Both floors, then `up` from nothing to a passing smoke test (its memory, resources, timeline), the guests' CPU and the headline. */
async function floorsAndUp(run: BenchRun): Promise<void> {
    const { stack, config, results, timed } = run;
    const floorProblems = (f: FloorResult): string[] => [
        ...Object.entries(f.sshSeconds)
            .filter(([, s]) => s === null)
            .map(([name]) => `${name} never accepted SSH`),
        ...f.left.map((entry) => `${entry} left after the floor`),
    ];
    const guests = 2 + config.realServers.length;
    const minimalFloor = await timed(
        `minimal floor: ${guests} guests, the same kernel into minimal-init, until SSH`,
        () => floor(config, 1500, "minimal"),
        floorProblems,
    );
    const imageFloor = await timed(
        `image floor: ${guests} guests booted as the lab boots them, until SSH`,
        () => floor(config, 1500, "image", [config.realServers[0].name]),
        floorProblems,
    );
    results.floors = { minimal: minimalFloor, image: imageFloor };

    const memory = new MemorySampler();
    memory.start();
    const up = await timed("up from nothing", () => runOperation(stack, "up"));
    results.memory = memory.stop();
    results.resources = resourceCounts(up);
    results.upTimeline = timeline(up);
    await run.smoke("smoke after up");
    // Only the lab's guests run now: the floors' are gone.
    const upCpu = guestCpuSeconds(config.libvirtUri);
    results.guestCpu = guestCpuSummary(minimalFloor, imageFloor, upCpu, os.cpus().length);
    const upToSmoke = (secondsOf(run, "up from nothing") ?? 0) + (secondsOf(run, "smoke after up") ?? 0);
    results.headline = {
        upToPassingSmokeSeconds: upToSmoke,
        minimalFloorSeconds: minimalFloor.seconds,
        imageFloorSeconds: imageFloor.seconds,
        /** The goal: up to a passing smoke over what the machine allows. */
        ratio: ratio(upToSmoke, minimalFloor.seconds),
        imageRatio: ratio(upToSmoke, imageFloor.seconds),
        /** What the program adds over booting the lab's image: guest steps and the engine. */
        ownSeconds: rounded(upToSmoke - imageFloor.seconds, 1),
    };
}

/** wrk through the VIP and to one real server directly: what the director costs the data path. */
async function dataPath(run: BenchRun, wrkSeconds: number, wrkConnections: number): Promise<void> {
    const { timed } = run;
    const outputs = await labOutputs(run.stack);
    const direct = `http://${outputs.realServers[0].publicIp}/`;
    // A figure from a run with failed requests measures failures: they are problems of the phase.
    const viaVip = await timed(`wrk ${wrkSeconds} s through the VIP`, () => runWrk(outputs.vipUrl, wrkSeconds, wrkConnections), wrkProblems);
    const oneServer = await timed(
        `wrk ${wrkSeconds} s to ${outputs.realServers[0].name} directly`,
        () => runWrk(direct, wrkSeconds, wrkConnections),
        wrkProblems,
    );
    run.results.dataPath = {
        tool: `wrk -t 2 -c ${wrkConnections} -d ${wrkSeconds}s --latency, from the lab host's namespace`,
        viaVip: { url: outputs.vipUrl, servers: outputs.realServers.length, ...viaVip },
        oneServer: { url: direct, ...oneServer },
        rpsRatio: ratio(viaVip.requestsPerSecond, oneServer.requestsPerSecond),
        p99Ratio: ratio(viaVip.latencyMs.p99, oneServer.latencyMs.p99),
    };
}

/** The summary the bench ends with: the phases, the headline, the guests' CPU, where the results went. */
function printSummary(run: BenchRun, file: string): void {
    const { config, results } = run;
    console.log(`\n=== bench summary (${os.cpus().length} cores, domain type ${config.domainType})`);
    console.log(phaseTable(run.timings, 120));
    const headline = results.headline as { ratio?: number; imageRatio?: number; ownSeconds?: number } | undefined;
    if (headline?.ratio !== undefined) {
        console.log(
            `headline: up to a passing smoke test takes ${headline.ratio}x the minimal floor, ${headline.imageRatio}x the image floor (${headline.ownSeconds} s over it)`,
        );
    }
    const cpu = results.guestCpu as GuestCpu | undefined;
    if (cpu) {
        console.log(
            `guest CPU: ${cpu.minimalFloorPerGuest} s a guest to SSH (minimal floor), ${cpu.imageFloorPerGuest} s (image floor); up and smoke ${cpu.upAndSmokeTotal} s in all, ${cpu.upAndSmokeOverCores} s over ${os.cpus().length} cores`,
        );
    }
    console.log(`total ${(results.totalSeconds as number).toFixed(1)} s; written to ${path.relative(PROJECT_ROOT, file)}`);
}

async function main(): Promise<number> {
    const stackName = process.env.LVSLAB_BENCH_STACK ?? "bench";
    const wrkSeconds = Number(process.env.LVSLAB_BENCH_WRK_SECONDS ?? "15");
    const wrkConnections = Number(process.env.LVSLAB_BENCH_WRK_CONNECTIONS ?? "16");
    const stack = await openStack(stackName);
    const config = await validatedConfig(stack);
    const started = Date.now();
    const log = new PhaseLog("bench");
    const timings = log.phases;
    const results: Record<string, unknown> = {
        stack: stackName,
        when: new Date().toISOString(),
        machine: machineFacts(config.domainType),
        guests: { count: 2 + config.realServers.length, vcpus: config.vm.vcpus, memoryMiB: config.vm.memoryMiB },
        timings,
    };
    const timed = async <T>(name: string, body: () => Promise<T>, check: (value: T) => string[] = () => []): Promise<T> => {
        const outcome = await log.run(name, body, check);
        if ("error" in outcome) {
            throw outcome.error;
        }
        return outcome.value as T;
    };
    const smoke = async (name: string): Promise<SmokeReport> =>
        timed(
            name,
            async () => smokeTest(await labOutputs(stack), 200),
            (report) => report.problems,
        );
    const run: BenchRun = { stack, config, results, timings, timed, smoke };

    try {
        await timed("clean start (destroy leftovers of an earlier run)", () => runOperation(stack, "destroy", () => undefined));
        await floorsAndUp(run);
        const noop = await timed(
            "no-op up",
            () => runOperation(stack, "up", () => undefined),
            (r) => r.steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.urn}`),
        );
        results.noopChanges = noop.changes;
        await timed("preview", () => runOperation(stack, "preview", () => undefined));
        await dataPath(run, wrkSeconds, wrkConnections);

        const count = config.realServers.length;
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(count + 1) });
        await timed(
            `add a real server (${count} -> ${count + 1})`,
            () => runOperation(stack, "up"),
            (r) =>
                scalingProblems(
                    r,
                    `web${count + 1}`,
                    config.directors.map((director) => director.name),
                ),
        );
        await smoke(`smoke with ${count + 1}`);
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(count) });

        const libvirt = await libvirtTargetOf(stack);
        await timed("destroy", () => runOperation(stack, "destroy"));
        if (libvirt === undefined) {
            throw new Error("the stack named nothing in libvirt, so what is left cannot be told");
        }
        await timed(
            "nothing left",
            async () => leftovers(libvirt.uri, libvirt.pool, libvirt.prefix),
            (left) => left.map((entry) => `${entry} is still there`),
        );
    } catch (error) {
        console.error(`bench: ${errorText(error)}`);
        results.error = errorText(error);
    } finally {
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(config.realServers.length) }).catch(() => undefined);
        results.totalSeconds = (Date.now() - started) / 1000;
        results.passed = results.error === undefined && timings.every((t) => t.ok);
        printSummary(run, writeResults("bench.json", results));
    }
    return results.passed ? 0 : 1;
}

/** `bench.js sweep PREFIX [POOL [URI]]`: removes libvirt objects by name prefix (the harness's last resort). */
async function sweepCommand(prefix: string | undefined, pool: string | undefined, uri = "qemu:///system"): Promise<number> {
    if (!prefix || prefix.length < 4) {
        console.error("usage: node bin/proofs/bench.js sweep PREFIX [POOL [URI]]   (PREFIX at least 4 characters)");
        return 64;
    }
    let where = { uri, pool: pool ?? "" };
    if (!pool) {
        const config = await validatedConfig(await openStack(process.env.LVSLAB_BENCH_STACK ?? "bench"));
        where = { uri: config.libvirtUri, pool: config.storagePool };
    }
    const removed = await sweep(where.uri, where.pool, prefix);
    console.log(removed.length ? `removed: ${removed.join(", ")}` : `nothing named ${prefix}*`);
    return 0;
}

runMain("bench", module, () => (process.argv[2] === "sweep" ? sweepCommand(process.argv[3], process.argv[4], process.argv[5]) : main()));
