// The repeated-drain runner (`scripts/lab drain`, inside the lab host's
// namespace: `node bin/proofs/drain/runner.js --stack dev --times 10`): on a
// running lab, N rounds of the drain check (check.ts), each through Pulumi:
// all weights 1 (up), ports landing on the server and a download held on
// it, the server's weight to 0 (up), then the checks. The weights (and the
// stack's config file) are put back at the end.
import * as auto from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as path from "path";
import type { LabOutputValues } from "../../components/program";
import { openStack, PROJECT_ROOT, runOperation } from "../../scripts/automation";
import { errorText, labOutputs, readCommandLine, runMain, UsageError } from "../kit";
import { DrainCheck, freshConnections, weightsJson } from "./check";
import { LongFile, prepareLongFile, removeLongFile } from "./download";

const USAGE = `usage: node bin/proofs/drain/runner.js [--stack NAME] [--times N] [--server NAME] [--ports N] [--size-mib N] [--verbose]

Drains a real server of a running lab N times in a row and checks each time
that no new connection reaches it (also from reused source ports) and that a
download started on it before the drain completes. Each round: all weights 1
(up), ports landing on the server and a download held on it, the server's
weight to 0 (up), then the checks. The weights are put back at the end.
Run it where the VIP is reachable (scripts/lab drain).
  --stack NAME    stack (default dev)
  --times N       rounds (default 10)
  --server NAME   the server to drain (default: the first, web1)
  --ports N       source ports reused per round (default 10)
  --size-mib N    size of the download (default 32)
  --verbose       stream Pulumi's output (default: shown only when an up fails)`;

interface RunnerOptions {
    stack: string;
    times: number;
    server: string | undefined;
    ports: number;
    sizeMib: number;
    verbose: boolean;
}

/** The runner's options, or what is wrong with the command line. */
export function parseRunnerArgs(argv: readonly string[]): RunnerOptions | string {
    let line;
    try {
        line = readCommandLine(argv, { times: "value", server: "value", ports: "value", "size-mib": "value", verbose: "flag" });
    } catch (error) {
        if (error instanceof UsageError) {
            return error.message;
        }
        throw error;
    }
    const { values } = line;
    const whole = (name: string, value: string | undefined, fallback: number, max: number): number | string => {
        if (value === undefined) {
            return fallback;
        }
        const number = Number(value);
        return Number.isInteger(number) && number >= 1 && number <= max ? number : `${name} must be a whole number from 1 to ${max}`;
    };
    if (values.server === "") {
        return "--server needs a name";
    }
    const times = whole("--times", values.times, 10, 1000);
    const ports = whole("--ports", values.ports, 10, 100);
    const sizeMib = whole("--size-mib", values["size-mib"], 32, 1024);
    for (const number of [times, ports, sizeMib]) {
        if (typeof number === "string") {
            return number;
        }
    }
    return {
        stack: line.stack,
        times: times as number,
        server: values.server,
        ports: ports as number,
        sizeMib: sizeMib as number,
        verbose: values.verbose === true,
    };
}

/** Whether two stack configs (key -> value, secret) say the same, whatever their order. */
export function sameConfig(
    a: Readonly<Record<string, { value: string; secret?: boolean }>>,
    b: Readonly<Record<string, { value: string; secret?: boolean }>>,
): boolean {
    const text = (config: Readonly<Record<string, { value: string; secret?: boolean }>>): string =>
        JSON.stringify(
            Object.keys(config)
                .sort()
                .map((key) => [key, config[key].value, config[key].secret === true]),
        );
    return text(a) === text(b);
}

/** Keeps the last lines of Pulumi's output, to show when an up fails. */
class OutputTail {
    private text = "";

    constructor(private readonly verbose: boolean) {}

    readonly write = (chunk: string): void => {
        if (this.verbose) {
            process.stdout.write(chunk);
        }
        this.text = (this.text + chunk).slice(-20_000);
    };

    lines(count = 40): string {
        return this.text.split("\n").slice(-count).join("\n");
    }
}

/** A run on its stack: the server to drain, the download's file, and an `up` that shows Pulumi's tail when it fails. */
interface Run {
    options: RunnerOptions;
    stack: auto.Stack;
    outputs: () => Promise<LabOutputValues>;
    serverName: string;
    count: number;
    drainedIndex: number;
    file: LongFile;
    up: () => Promise<void>;
}

/** Checks that the stack can be drained this way; an exit code when it cannot. */
async function drainable(options: RunnerOptions, stack: auto.Stack, first: LabOutputValues): Promise<number | { serverName: string; drainedIndex: number }> {
    if (!first.vipUrl) {
        console.error(`stack ${options.stack} has no outputs: is the lab up? (scripts/lab up --stack ${options.stack})`);
        return 2;
    }
    const explicit = await stack.getConfig("lvs-dr-lab:realServers").catch(() => undefined);
    if (explicit !== undefined && explicit.value !== "") {
        console.error(`stack ${options.stack} lists realServers explicitly; this runner drains through realServerWeights, which that excludes`);
        return 2;
    }
    const serverName = options.server ?? first.realServers[0]?.name;
    const drainedIndex = first.realServers.findIndex((server) => server.name === serverName);
    if (serverName === undefined || drainedIndex < 0) {
        console.error(`no real server ${serverName ?? ""} in stack ${options.stack} (${first.realServers.map((s) => s.name).join(", ")})`);
        return 64;
    }
    if (first.realServers.length < 2) {
        console.error("draining the only real server leaves nothing to serve; the lab needs at least 2");
        return 64;
    }
    return { serverName, drainedIndex };
}

/** One round: weights all 1, the check prepared, the server drained around it, then reuse, the download and fresh connections. */
async function drainRound(run: Run, round: number): Promise<boolean> {
    const { options, stack, serverName, count, file } = run;
    const started = Date.now();
    const problems: string[] = [];
    const facts: string[] = [];
    let check: DrainCheck | undefined;
    try {
        await stack.setConfig("lvs-dr-lab:realServerWeights", { value: weightsJson(count) });
        await run.up();
        check = new DrainCheck(await run.outputs(), serverName, { count: options.ports, file });
        problems.push(...(await check.prepare()).problems);
        await stack.setConfig("lvs-dr-lab:realServerWeights", { value: weightsJson(count, run.drainedIndex) });
        const drainStarted = Date.now();
        await check.around(run.up);
        facts.push(`drain up ${((Date.now() - drainStarted) / 1000).toFixed(0)} s`);
        const after = await run.outputs();
        const reuse = await check.reuse(after);
        problems.push(...reuse.problems);
        const elsewhere = reuse.reused.filter((landing) => landing.status === 200 && landing.server !== undefined && landing.server !== serverName);
        facts.push(`reuse: ${elsewhere.length}/${reuse.reused.length} elsewhere, ${reuse.live?.length ?? "?"} meeting a live entry`);
        const transfer = await check.finishTransfer();
        problems.push(...transfer.problems);
        facts.push(
            `download ${transfer.result.bytes === file.size && transfer.result.sha256 === file.sha256 ? "whole" : "NOT whole"} after ${transfer.result.heldSeconds.toFixed(0)} s held`,
        );
        const fresh = await freshConnections(after, serverName);
        problems.push(...fresh.problems);
        facts.push(fresh.summary);
    } catch (error) {
        problems.push(`round aborted: ${errorText(error)}`);
        check?.abort();
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (problems.length === 0) {
        console.log(`round ${round}/${options.times}: PASS in ${seconds} s (${facts.join("; ")})`);
    } else {
        console.log(`round ${round}/${options.times}: FAIL in ${seconds} s: ${problems.join("; ")}${facts.length ? ` (${facts.join("; ")})` : ""}`);
    }
    return problems.length === 0;
}

/** The stack's config before the run: realServerWeights, the whole config, and its file's text. */
interface ConfigBefore {
    weights: auto.ConfigValue | undefined;
    config: auto.ConfigMap;
    stackFile: string;
    fileText: string | undefined;
}

async function configBefore(stack: auto.Stack, stackName: string): Promise<ConfigBefore> {
    const weights = await stack.getConfig("lvs-dr-lab:realServerWeights").catch(() => undefined);
    const stackFile = path.join(PROJECT_ROOT, `Pulumi.${stackName}.yaml`);
    const fileText = fs.existsSync(stackFile) ? fs.readFileSync(stackFile, "utf8") : undefined;
    return { weights, stackFile, fileText, config: await stack.getAllConfig() };
}

/**
 * Puts the weights back as they were and runs `up`; the stack's config file
 * too (its comments and layout: the rounds changed realServerWeights through
 * Pulumi, which rewrote it), unless someone changed the config meanwhile.
 * Then removes the download's file.
 */
async function putBack(run: Run, before: ConfigBefore): Promise<void> {
    const { options, stack } = run;
    const { weights: original, stackFile, fileText: fileBefore } = before;
    console.log("drain runner: putting the weights back");
    try {
        if (original !== undefined) {
            await stack.setConfig("lvs-dr-lab:realServerWeights", original);
        } else {
            await stack.removeConfig("lvs-dr-lab:realServerWeights");
        }
        if (fileBefore !== undefined && fs.readFileSync(stackFile, "utf8") !== fileBefore) {
            if (sameConfig(before.config, await stack.getAllConfig())) {
                fs.writeFileSync(stackFile, fileBefore);
            } else {
                console.log(
                    `drain runner: the config of stack ${options.stack} changed during the run; ${path.basename(stackFile)} is left as Pulumi wrote it`,
                );
            }
        }
        await run.up();
        await removeLongFile(await run.outputs());
    } catch (error) {
        console.log(`drain runner: could not put the weights back: ${errorText(error)} (run: scripts/lab up --stack ${options.stack})`);
    }
}

async function runner(options: RunnerOptions): Promise<number> {
    const stack = await openStack(options.stack);
    const outputs = (): Promise<LabOutputValues> => labOutputs(stack);
    const first = await outputs();
    const target = await drainable(options, stack, first);
    if (typeof target === "number") {
        return target;
    }
    // The rounds change realServerWeights through Pulumi; putBack undoes it.
    const before = await configBefore(stack, options.stack);
    const tail = new OutputTail(options.verbose);
    const up = async (): Promise<void> => {
        try {
            await runOperation(stack, "up", tail.write);
        } catch (error) {
            if (!options.verbose) {
                console.log(tail.lines().replace(/^/gm, "    | "));
            }
            throw error;
        }
    };
    const count = first.realServers.length;
    console.log(
        `drain runner: stack ${options.stack} (${first.mode}, ${first.directors.length} director(s), ${count} real servers): ` +
            `${options.times} round(s) of draining ${target.serverName}, ${options.ports} reused ports, a ${options.sizeMib} MiB download`,
    );
    const file = await prepareLongFile(first, options.sizeMib * 1024 * 1024);
    const run: Run = { options, stack, outputs, ...target, count, file, up };
    let passed = 0;
    let rounds = 0;
    // Ctrl-C ends the run after the current round, weights put back; a second one stops at once.
    let stopping = false;
    const onInterrupt = (): void => {
        if (stopping) {
            process.exit(130);
        }
        stopping = true;
        console.log("drain runner: interrupted; finishing this round, then putting the weights back (Ctrl-C again to stop at once)");
    };
    process.on("SIGINT", onInterrupt);
    process.on("SIGTERM", onInterrupt);
    try {
        for (let round = 1; round <= options.times && !stopping; round++) {
            rounds = round;
            passed += (await drainRound(run, round)) ? 1 : 0;
        }
    } finally {
        await putBack(run, before);
    }
    const failed = rounds - passed;
    console.log(
        `drain: ${passed} passed, ${failed} failed${rounds < options.times ? ` (${options.times - rounds} of ${options.times} rounds not run: interrupted)` : ""}`,
    );
    return passed === options.times ? 0 : stopping ? 130 : 1;
}

runMain("drain", module, async () => {
    const argv = process.argv.slice(2);
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(USAGE);
        return 0;
    }
    const options = parseRunnerArgs(argv);
    if (typeof options === "string") {
        console.error(`${options}\n${USAGE}`);
        return 64;
    }
    return runner(options);
});
