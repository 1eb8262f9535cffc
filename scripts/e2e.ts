// The end-to-end test: the dev topology on a fresh stack, for real, with two
// directors, HTTP health checks and a second service port. Runs inside the
// lab host's namespace (scripts/e2e.sh puts it there). Phases: up, smoke, a
// no-op up; under continuous requests a real server's web server stopped and
// started (out of the table and back); every web server stopped (the sorry
// page) and started; the MASTER's keepalived stopped and started (VIP to the
// BACKUP and back); scale to N+1 and back; drain web1
// (weight 0); DR -> NAT -> TUN in place (smoke each time, nothing else replaced); destroy, and proof
// that nothing of the lab is left in libvirt.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { openStack, OperationResult, plainOutputs, PROJECT_ROOT, runOperation } from "./automation";
import { LoadProbe, ProbeSample, summarizeProbe } from "./probe";
import { get, smokeTest, SmokeInputs } from "./smoke";
import { sshRun } from "./ssh";

/** What the e2e stack sets on top of the dev topology. */
export const E2E_CONFIG: Readonly<Record<string, string>> = {
    directors: "2",
    healthCheck: "http",
    healthCheckInterval: "2",
    healthCheckTimeout: "1",
    healthCheckRetries: "1",
    extraPorts: "[8080]",
    sorryServer: "true",
};

/** The modes the e2e switches to in place after testing DR. */
export const LATER_MODES = ["nat", "tun"] as const;

/** A failover must serve again within this many seconds ("within a few seconds"). */
export const FAILOVER_LIMIT_SECONDS = 10;

interface Phase {
    name: string;
    seconds: number;
    ok: boolean;
    detail: string;
}

const phases: Phase[] = [];
/** What the drills measured, for bench/results/e2e.json. */
const measurements: Record<string, Record<string, number | string | undefined>> = {};

async function phase<T>(name: string, body: () => Promise<T>, check: (value: T) => string[] = () => []): Promise<T> {
    console.log(`\n=== e2e: ${name}`);
    const started = Date.now();
    let value: T;
    try {
        value = await body();
    } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        phases.push({ name, seconds: (Date.now() - started) / 1000, ok: false, detail });
        throw new Error(`phase "${name}" failed: ${detail}`);
    }
    const problems = check(value);
    const seconds = (Date.now() - started) / 1000;
    phases.push({ name, seconds, ok: problems.length === 0, detail: problems.join("; ") });
    console.log(`=== e2e: ${name}: ${seconds.toFixed(1)} s${problems.length ? ` FAILED: ${problems.join("; ")}` : ""}`);
    if (problems.length) {
        throw new Error(`phase "${name}" failed: ${problems.join("; ")}`);
    }
    return value;
}

/** Resource steps other than `same`, as "op type name" lines. */
export function changedSteps(result: OperationResult): { op: string; type: string; name: string }[] {
    return result.steps
        .filter((step) => step.op !== "same")
        .map((step) => ({ op: step.op, type: step.type, name: step.urn.split("::").pop() ?? step.urn }));
}

/**
 * What an in-place change may touch: create or delete the resources of
 * `ownedBy` (a server being added or removed), update the `updatable` steps
 * in place; every step in `required` must have been updated. Anything else
 * (a replace, or a change to another machine) is a problem.
 */
export function inPlaceProblems(result: OperationResult, allowed: { ownedBy?: string; updatable: string[]; required: string[] }): string[] {
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
export function scalingProblems(result: OperationResult, serverName: string, directorNames: string[]): string[] {
    const tables = directorNames.map((name) => `${name}-lb`);
    return inPlaceProblems(result, { ownedBy: serverName, updatable: tables, required: tables });
}

/** A mode switch: the directors' tables and the real servers' forwarding, all in place. */
export function modeSwitchProblems(result: OperationResult, directorNames: string[], serverNames: string[]): string[] {
    const tables = directorNames.map((name) => `${name}-lb`);
    const forwarding = serverNames.map((name) => `${name}-forwarding`);
    return inPlaceProblems(result, { updatable: [...tables, ...forwarding], required: [...tables, ...forwarding] });
}

/** libvirt objects whose names start with the lab's prefix. */
export function leftovers(uri: string, pool: string, prefix: string): string[] {
    const virsh = (...args: string[]): string[] => {
        try {
            return execFileSync("virsh", ["-c", uri, ...args], { encoding: "utf8" })
                .split("\n")
                .map((line) => line.trim())
                .filter((line) => line !== "");
        } catch {
            return [];
        }
    };
    const found = [
        ...virsh("list", "--all", "--name").map((name) => `domain ${name}`),
        ...virsh("net-list", "--all", "--name").map((name) => `network ${name}`),
        ...virsh("vol-list", pool)
            .slice(2)
            .map((line) => `volume ${line.split(/\s+/)[0]}`),
    ];
    return found.filter((entry) => entry.split(" ")[1].startsWith(prefix));
}

interface DrillOutputs extends SmokeInputs {
    healthCheck: { kind: string; windowSeconds: number };
    sorryPage: string | null;
    directors: { name: string; role: string; publicIp: string }[];
    realServers: { name: string; publicIp: string; weight: number; forwardingAddress: string }[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `test` once a second until it holds; returns when it did (ms since the epoch), or undefined after `limitMs`. */
async function waitFor(test: () => Promise<boolean>, limitMs: number): Promise<number | undefined> {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
        if (await test().catch(() => false)) {
            return Date.now();
        }
        await sleep(1000);
    }
    return undefined;
}

/** Waits (bounded) until the probe's last `count` requests all succeeded. */
async function waitForSteadySuccess(samples: readonly ProbeSample[], since: number, count: number, limitMs: number): Promise<void> {
    await waitFor(async () => {
        const recent = samples.filter((sample) => sample.at >= since).slice(-count);
        return recent.length === count && recent.every((sample) => sample.ok);
    }, limitMs);
}

const seconds = (from: number, to: number | undefined): string => (to === undefined ? "never" : `${((to - from) / 1000).toFixed(1)} s`);

function holdsVip(out: DrillOutputs, directorIp: string): Promise<boolean> {
    return sshRun(out.ssh, directorIp, "ip -o -4 addr show", 15_000).then((text) => text.includes(` ${out.vip}/`));
}

function inTable(out: DrillOutputs, directorIp: string, address: string): Promise<boolean> {
    return sshRun(out.ssh, directorIp, `sudo ipvsadm -Ln -t ${out.vip}:${out.port}`, 15_000).then((text) => text.includes(` ${address}:${out.port} `));
}

/**
 * A real server's web server stopped under load: the health check takes it
 * out within its window (the only time requests may fail), and puts it back
 * once it is started again.
 */
async function healthDrill(out: DrillOutputs): Promise<string[]> {
    const server = out.realServers[0];
    const director = out.directors[0];
    const windowMs = out.healthCheck.windowSeconds * 1000;
    const probe = new LoadProbe(out.vipUrl, out.identityHeader, out.expectedPage);
    probe.start();
    await sleep(3000);
    const stoppedAt = Date.now();
    await sshRun(out.ssh, server.publicIp, "sudo systemctl stop apache2");
    const outAt = await waitFor(async () => !(await inTable(out, director.publicIp, server.forwardingAddress)), windowMs + 30_000);
    await sleep(4000);
    const startedAt = Date.now();
    await sshRun(out.ssh, server.publicIp, "sudo systemctl start apache2");
    const backAt = await waitFor(() => inTable(out, director.publicIp, server.forwardingAddress), windowMs + 30_000);
    await sleep(4000);
    const samples = await probe.stop();
    const summary = summarizeProbe(samples, stoppedAt);
    const answeredAgain = backAt !== undefined && samples.some((sample) => sample.at > backAt && sample.server === server.name);
    console.log(
        `health drill: ${server.name} left the table after ${seconds(stoppedAt, outAt)} (window ${out.healthCheck.windowSeconds} s), ` +
            `came back ${seconds(startedAt, backAt)} after apache started; ${summary.failed} of ${summary.requests} requests failed, ` +
            `from ${summary.firstFailureAfterSeconds?.toFixed(1) ?? "-"} s to ${summary.lastFailureAfterSeconds?.toFixed(1) ?? "-"} s after the stop command (an outage of ${summary.outageSeconds.toFixed(1)} s)`,
    );
    measurements.healthCheck = {
        server: server.name,
        windowSeconds: out.healthCheck.windowSeconds,
        leftTableAfterSeconds: outAt === undefined ? undefined : (outAt - stoppedAt) / 1000,
        backInTableAfterSeconds: backAt === undefined ? undefined : (backAt - startedAt) / 1000,
        requests: summary.requests,
        failedRequests: summary.failed,
        firstFailureAfterSeconds: summary.firstFailureAfterSeconds,
        lastFailureAfterSeconds: summary.lastFailureAfterSeconds,
        outageSeconds: summary.outageSeconds,
    };
    const problems: string[] = [];
    if (outAt === undefined) {
        problems.push(`${server.name} never left the table`);
    }
    if (backAt === undefined) {
        problems.push(`${server.name} never came back into the table`);
    } else if (!answeredAgain) {
        problems.push(`${server.name} is back in the table but answered no request`);
    }
    // Allowed: failures from the moment apache is down until the check
    // notices (its window), plus 3 s for the slow clocks of emulated guests.
    // Counted from the first failure: the SSH login and apache's graceful
    // stop before it are no part of the check.
    if (summary.outageSeconds > out.healthCheck.windowSeconds + 3) {
        problems.push(`requests failed for ${summary.outageSeconds.toFixed(1)} s, longer than the ${out.healthCheck.windowSeconds} s health-check window (+3 s)`);
    }
    return problems;
}

/**
 * Every real server's web server stopped: once the checks have taken them all
 * out, the active director answers with the sorry page; started again, the
 * site is back.
 */
async function sorryDrill(out: DrillOutputs): Promise<string[]> {
    if (out.sorryPage === null) {
        return ["the stack has no sorry page (sorryServer is false)"];
    }
    const sorryPage = out.sorryPage;
    const limitMs = out.healthCheck.windowSeconds * 1000 + 30_000;
    const answers = async (page: string, fromSorry: boolean): Promise<boolean> => {
        const answer = await get(out.vipUrl, out.identityHeader, 2000);
        return answer.status === 200 && answer.body.trim() === page && (answer.server ?? "").startsWith("sorry-") === fromSorry;
    };
    const everyServer = (command: string): Promise<string[]> => Promise.all(out.realServers.map((server) => sshRun(out.ssh, server.publicIp, command)));
    const stoppedAt = Date.now();
    await everyServer("sudo systemctl stop apache2");
    const sorryAt = await waitFor(() => answers(sorryPage, true), limitMs);
    const startedAt = Date.now();
    await everyServer("sudo systemctl start apache2");
    const backAt = await waitFor(() => answers(out.expectedPage, false), limitMs);
    measurements.sorryServer = {
        sorryPageAfterSeconds: sorryAt === undefined ? undefined : (sorryAt - stoppedAt) / 1000,
        siteBackAfterSeconds: backAt === undefined ? undefined : (backAt - startedAt) / 1000,
    };
    console.log(`sorry drill: every apache stopped, the sorry page answered after ${seconds(stoppedAt, sorryAt)}; started again, the site was back after ${seconds(startedAt, backAt)}`);
    const problems: string[] = [];
    if (sorryAt === undefined) {
        problems.push("the sorry page never answered with every real server down");
    }
    if (backAt === undefined) {
        problems.push("the site did not come back after the real servers' apache started");
    }
    return problems;
}

/**
 * The MASTER's keepalived stopped under load: the BACKUP takes the VIP and
 * requests succeed again within FAILOVER_LIMIT_SECONDS; started again, the
 * MASTER takes the VIP back, likewise.
 */
async function failoverDrill(out: DrillOutputs): Promise<string[]> {
    const [master, backup] = out.directors;
    const problems: string[] = [];
    const probe = new LoadProbe(out.vipUrl, out.identityHeader, out.expectedPage);
    probe.start();
    await sleep(3000);
    const stoppedAt = Date.now();
    await sshRun(out.ssh, master.publicIp, "sudo systemctl stop keepalived");
    const movedAt = await waitFor(() => holdsVip(out, backup.publicIp), 30_000);
    await waitForSteadySuccess(probe.samples, stoppedAt, 20, 60_000);
    const away = summarizeProbe(probe.samples, stoppedAt);
    const startedAt = Date.now();
    await sshRun(out.ssh, master.publicIp, "sudo systemctl start keepalived");
    const backAt = await waitFor(async () => (await holdsVip(out, master.publicIp)) && !(await holdsVip(out, backup.publicIp)), 60_000);
    await waitForSteadySuccess(probe.samples, startedAt, 20, 60_000);
    const samples = await probe.stop();
    const back = summarizeProbe(
        samples.filter((sample) => sample.at >= startedAt),
        startedAt,
    );
    const awayFailures = samples.filter((sample) => !sample.ok && sample.at >= stoppedAt && sample.at < startedAt).length;
    console.log(
        `failover drill: MASTER's keepalived stopped: VIP on ${backup.name} after ${seconds(stoppedAt, movedAt)}, ` +
            `${awayFailures} request(s) failed (an outage of ${away.outageSeconds.toFixed(1)} s), serving again ${away.recoveredAfterSeconds.toFixed(1)} s after the stop command; ` +
            `started again: VIP back on ${master.name} after ${seconds(startedAt, backAt)}, ${back.failedAfterEvent} request(s) failed ` +
            `(an outage of ${back.outageSeconds.toFixed(1)} s); ${samples.length} requests in all`,
    );
    measurements.failover = {
        vipMovedAfterSeconds: movedAt === undefined ? undefined : (movedAt - stoppedAt) / 1000,
        failedRequestsOnFailover: awayFailures,
        servingAgainAfterSeconds: away.recoveredAfterSeconds,
        outageOnFailoverSeconds: away.outageSeconds,
        vipBackAfterSeconds: backAt === undefined ? undefined : (backAt - startedAt) / 1000,
        failedRequestsOnFailback: back.failedAfterEvent,
        servingAgainAfterFailbackSeconds: back.recoveredAfterSeconds,
        outageOnFailbackSeconds: back.outageSeconds,
        requests: samples.length,
    };
    if (movedAt === undefined) {
        problems.push(`the VIP never moved to ${backup.name}`);
    }
    if (away.outageSeconds > FAILOVER_LIMIT_SECONDS) {
        problems.push(`requests failed for ${away.outageSeconds.toFixed(1)} s when the MASTER stopped (limit ${FAILOVER_LIMIT_SECONDS} s)`);
    }
    if (backAt === undefined) {
        problems.push(`the VIP never moved back to ${master.name}`);
    }
    if (back.outageSeconds > FAILOVER_LIMIT_SECONDS) {
        problems.push(`requests failed for ${back.outageSeconds.toFixed(1)} s when the MASTER returned (limit ${FAILOVER_LIMIT_SECONDS} s)`);
    }
    return problems;
}

async function main(): Promise<number> {
    const stackName = process.env.LVSLAB_E2E_STACK ?? "e2e";
    const requests = Number(process.env.LVSLAB_E2E_REQUESTS ?? "200");
    const stack = await openStack(stackName);
    const started = Date.now();
    const baseCount = Number((await stack.getConfig("lvs-dr-lab:realServerCount")).value);
    const outputs = async (): Promise<DrillOutputs> => (await plainOutputs(stack)) as unknown as DrillOutputs;
    // Every smoke phase reads the outputs afresh: scaling and modes change them.
    const smokePhase = (name: string) => phase(name, async () => smokeTest(await outputs(), requests), (report) => report.problems);
    const directorNames = ["director", "director2"];

    try {
        await phase("clean start (destroy leftovers of an earlier run)", () => runOperation(stack, "destroy"));
        for (const [key, value] of Object.entries(E2E_CONFIG)) {
            await stack.setConfig(`lvs-dr-lab:${key}`, { value });
        }
        await phase("up from nothing (DR, two directors, HTTP checks, ports 80 and 8080)", () => runOperation(stack, "up"));
        // What the stack made in libvirt, to prove after destroy that it is gone.
        const { libvirt } = (await plainOutputs(stack)) as unknown as { libvirt: { uri: string; pool: string; prefix: string } };
        await smokePhase("smoke (dr)");
        await phase("no-op up", () => runOperation(stack, "up"), (result) => {
            const changed = changedSteps(result);
            return changed.length === 0 ? [] : changed.map((step) => `${step.op} ${step.type} ${step.name}`);
        });
        await phase("health check: web1's apache stopped and started under load", async () => healthDrill(await outputs()), (problems) => problems);
        await phase("sorry page: every real server's apache stopped and started", async () => sorryDrill(await outputs()), (problems) => problems);
        await phase("failover: MASTER's keepalived stopped and started under load", async () => failoverDrill(await outputs()), (problems) => problems);
        await smokePhase("smoke after the drills");

        const added = `web${baseCount + 1}`;
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(baseCount + 1) });
        await phase(`scale to ${baseCount + 1} real servers`, () => runOperation(stack, "up"), (result) => scalingProblems(result, added, directorNames));
        await smokePhase(`smoke with ${baseCount + 1}`);
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(baseCount) });
        await phase(`scale back to ${baseCount}`, () => runOperation(stack, "up"), (result) => scalingProblems(result, added, directorNames));
        await smokePhase(`smoke with ${baseCount}`);

        const tables = directorNames.map((name) => `${name}-lb`);
        const drained = JSON.stringify([0, ...Array<number>(baseCount - 1).fill(1)]);
        await stack.setConfig("lvs-dr-lab:realServerWeights", { value: drained });
        await phase(`drain web1 (weights ${drained}) in place`, () => runOperation(stack, "up"), (result) =>
            inPlaceProblems(result, { updatable: tables, required: tables }),
        );
        await smokePhase("smoke with web1 drained (no new connections to it)");
        // The first mode switch also gives web1 its weight back.
        await stack.removeConfig("lvs-dr-lab:realServerWeights");

        const servers = Array.from({ length: baseCount }, (_, index) => `web${index + 1}`);
        for (const mode of LATER_MODES) {
            await stack.setConfig("lvs-dr-lab:mode", { value: mode });
            await phase(`switch to ${mode} in place`, () => runOperation(stack, "up"), (result) => modeSwitchProblems(result, directorNames, servers));
            await smokePhase(`smoke (${mode})`);
        }
        await phase("destroy", () => runOperation(stack, "destroy"));
        await phase("nothing left", async () => leftovers(libvirt.uri, libvirt.pool, libvirt.prefix), (left) =>
            left.map((entry) => `${entry} is still there`),
        );
    } finally {
        const results = {
            stack: stackName,
            when: new Date().toISOString(),
            totalSeconds: (Date.now() - started) / 1000,
            domainType: (await stack.getConfig("lvs-dr-lab:domainType").catch(() => ({ value: "kvm" }))).value,
            passed: phases.length > 0 && phases.every((p) => p.ok),
            phases,
            measurements,
        };
        const file = path.join(PROJECT_ROOT, "bench", "results", "e2e.json");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(results, undefined, 2)}\n`);
        console.log("\n=== e2e summary");
        for (const p of phases) {
            console.log(`  ${p.ok ? "ok  " : "FAIL"} ${p.name.padEnd(52)} ${p.seconds.toFixed(1).padStart(7)} s${p.detail ? `  ${p.detail}` : ""}`);
        }
        console.log(`  total ${results.totalSeconds.toFixed(1)} s; written to ${path.relative(PROJECT_ROOT, file)}`);
    }
    const passed = phases.filter((p) => p.ok).length;
    console.log(`e2e: ${passed} passed, ${phases.length - passed} failed`);
    return phases.every((p) => p.ok) ? 0 : 1;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(`e2e: ${error instanceof Error ? error.message : String(error)}`);
            const passed = phases.filter((p) => p.ok).length;
            console.log(`e2e: ${passed} passed, ${phases.length - passed} failed`);
            process.exit(1);
        },
    );
}
