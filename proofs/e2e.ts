// The end-to-end test: the dev topology on a fresh stack, for real, with two
// directors, HTTP health checks and a second service port. Runs inside the
// lab host's namespace (labhost/isolated.sh puts it there). Phases: up, smoke, a
// no-op up; under continuous requests a real server's web server stopped and
// started (out of the table and back); every web server stopped (the sorry
// page) and started; the MASTER's keepalived stopped and started (VIP to the
// BACKUP and back); the lab tools' drills (capture, view in Chromium, 100%
// loss on a link, a split brain: proofs/toolDrills.ts); scale to N+1 and back (the removed server's source ports
// reused: they land elsewhere); then in DR, NAT and TUN (switched in place,
// smoke each time, nothing else replaced): drain web1 (weight 0) with a long
// download open on it and connections landing meanwhile, reuse the source
// ports that had landed on web1 (none may land there again), finish the
// download, smoke; destroy, and proof that nothing of the lab is left in
// libvirt. A failed phase does not end the run: what does not depend on it
// still runs, what does is recorded as skipped, and destroy always runs.
import { Stack } from "@pulumi/pulumi/automation";
import * as path from "path";
import type { LabOutputValues } from "../components/program";
import { openStack, OperationResult, PROJECT_ROOT, runOperation } from "../scripts/automation";
import { DrainCheck, LongFile, prepareLongFile, weightsJson } from "./drain";
import { changeByHand, HandChange, refreshAndRead, refreshProblems, repairProblems, runCheck } from "./drift";
import { failoverDrill } from "./failover";
import {
    changedSteps,
    delay,
    errorText,
    get,
    inPlaceProblems,
    watchTable,
    labOutputs,
    leftovers,
    libvirtTargetOf,
    Outcome,
    PhaseLog,
    runMain,
    scalingProblems,
    sshRun,
    tally,
    waitFor,
    writeResults,
} from "./kit";
import { failureTimes, startLoadProbe, summarizeProbe } from "./probe";
import { smokeTest } from "./smoke";
import { captureDrill, DrillReport, lossDrill, splitBrainDrill, viewDrill } from "./toolDrills";
import { LabTopology, topologyFromOutputs } from "../scripts/tools/topology";

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

/** The modes the e2e checks draining in, switching in place from one to the next (DR first). */
export const MODES = ["dr", "nat", "tun"] as const;

/** Source ports reused per drain or scale-in check. */
export const REUSED_PORTS = 10;

/** What the drills measured, for bench/results/e2e.json. */
const measurements: Record<string, Record<string, number | string | undefined>> = {};

const log = new PhaseLog("e2e");
const phase = log.run.bind(log);
const skip = log.skip.bind(log);

/** A mode switch: the directors' tables and the real servers' forwarding, all in place. */
export function modeSwitchProblems(result: OperationResult, directorNames: string[], serverNames: string[]): string[] {
    const tables = directorNames.map((name) => `${name}-lb`);
    const forwarding = serverNames.map((name) => `${name}-forwarding`);
    return inPlaceProblems(result, { updatable: [...tables, ...forwarding], required: [...tables, ...forwarding] });
}

const seconds = (from: number, to: number | undefined): string => (to === undefined ? "never" : `${((to - from) / 1000).toFixed(1)} s`);

/**
 * A real server's web server stopped under load: the health check takes it
 * out within its window (the only time requests may fail), and puts it back
 * once it is started again.
 */
async function healthDrill(out: LabOutputValues): Promise<string[]> {
    const server = out.realServers[0];
    const director = out.directors[0];
    const windowMs = out.healthCheck.windowSeconds * 1000;
    const probe = startLoadProbe(out.vipUrl, out.identityHeader, out.expectedPage);
    const table = watchTable(out, director.publicIp, server.forwardingAddress);
    await delay(3000);
    const stoppedAt = Date.now();
    await sshRun(out.ssh, server.publicIp, "sudo systemctl stop apache2");
    const outAt = await table.until(false, stoppedAt, windowMs + 30_000);
    await delay(4000);
    const startedAt = Date.now();
    await sshRun(out.ssh, server.publicIp, "sudo systemctl start apache2");
    const backAt = await table.until(true, startedAt, windowMs + 30_000);
    await delay(4000);
    table.stop();
    const samples = await probe.stop();
    const summary = summarizeProbe(samples, stoppedAt);
    const answeredAgain = backAt !== undefined && samples.some((sample) => sample.at > backAt && sample.server === server.name);
    console.log(
        `health drill: ${server.name} left the table after ${seconds(stoppedAt, outAt)} (window ${out.healthCheck.windowSeconds} s), ` +
            `came back ${seconds(startedAt, backAt)} after apache started; ${summary.failed} of ${summary.requests} requests failed, ` +
            `from ${summary.firstFailureAfterSeconds?.toFixed(1) ?? "-"} s to ${summary.lastFailureAfterSeconds?.toFixed(1) ?? "-"} s after the stop command (an outage of ${summary.outageSeconds.toFixed(1)} s; started at ${failureTimes(samples, stoppedAt)} s)`,
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
        problems.push(
            `requests failed for ${summary.outageSeconds.toFixed(1)} s, longer than the ${out.healthCheck.windowSeconds} s health-check window (+3 s)`,
        );
    }
    return problems;
}

/**
 * Every real server's web server stopped: once the checks have taken them all
 * out, the active director answers with the sorry page; started again, the
 * site is back.
 */
async function sorryDrill(out: LabOutputValues): Promise<string[]> {
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
    console.log(
        `sorry drill: every apache stopped, the sorry page answered after ${seconds(stoppedAt, sorryAt)}; started again, the site was back after ${seconds(startedAt, backAt)}`,
    );
    const problems: string[] = [];
    if (sorryAt === undefined) {
        problems.push("the sorry page never answered with every real server down");
    }
    if (backAt === undefined) {
        problems.push("the site did not come back after the real servers' apache started");
    }
    return problems;
}

/** What the checks on a running lab need. */
interface RunContext {
    stack: Stack;
    stackName: string;
    baseCount: number;
    directorNames: string[];
    outputs: () => Promise<LabOutputValues>;
    smokePhase: (name: string) => Promise<Outcome<unknown>>;
}

/**
 * Scale to N+1 and back. Before scaling in, source ports that landed on the
 * added server are recorded (connections keep landing while it is removed);
 * after, they are reused: each must succeed and land elsewhere.
 */
async function scalingChecks(run: RunContext): Promise<void> {
    const { stack, baseCount, directorNames } = run;
    const added = `web${baseCount + 1}`;
    await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(baseCount + 1) });
    const scaleOut = await phase(
        `scale to ${baseCount + 1} real servers`,
        () => runOperation(stack, "up"),
        (result) => scalingProblems(result, added, directorNames),
    );
    let check: DrainCheck | undefined;
    const recordName = `ports landing on ${added} before it is removed`;
    if (scaleOut.value === undefined) {
        skip(`smoke with ${baseCount + 1}`, `scale to ${baseCount + 1} real servers`);
        skip(recordName, `scale to ${baseCount + 1} real servers`);
    } else {
        await run.smokePhase(`smoke with ${baseCount + 1}`);
        const recorded = await phase(
            recordName,
            async () => {
                check = new DrainCheck(await run.outputs(), added, { count: REUSED_PORTS, removed: true });
                return check.prepare();
            },
            (result) => result.problems,
        );
        if (recorded.value === undefined) {
            check = undefined;
        }
    }
    // Scaling back runs whatever happened above: it is also the way back to the base topology.
    await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(baseCount) });
    const scaleBackName = `scale back to ${baseCount}`;
    const prepared = check;
    const scaleIn = await phase(
        scaleBackName,
        () => (prepared ? prepared.around(() => runOperation(stack, "up")) : runOperation(stack, "up")),
        (result) => scalingProblems(result, added, directorNames),
    );
    const reuseName = `scale-in: source ports that had landed on ${added} land on the others`;
    if (scaleIn.value === undefined) {
        skip(reuseName, scaleBackName);
        skip(`smoke with ${baseCount}`, scaleBackName);
        return;
    }
    if (prepared) {
        const reused = await phase(
            reuseName,
            async () => prepared.reuse(await run.outputs()),
            (report) => report.problems,
        );
        if (reused.value) {
            measurements.scaleInReuse = {
                server: added,
                reusedPorts: reused.value.reused.length,
                liveEntries: reused.value.live?.length,
                summary: reused.value.summary,
            };
        }
    } else {
        skip(reuseName, scaleOut.value === undefined ? `scale to ${baseCount + 1} real servers` : recordName);
    }
    await run.smokePhase(`smoke with ${baseCount}`);
}

/**
 * Drains web1 in place in the current mode (all weights 1 before): ports
 * landing on web1 and a long download held on it first; connections keep
 * landing during the drain; then the reused ports, the download and a smoke
 * test with web1 drained.
 */
async function drainChecks(run: RunContext, mode: string, file: Outcome<LongFile>, fileName: string): Promise<void> {
    const { stack, baseCount, directorNames } = run;
    const server = "web1";
    const tables = directorNames.map((name) => `${name}-lb`);
    const drained = weightsJson(baseCount, 0);
    const longFile = file.value;
    const prepareName = `${mode}: ports landing on ${server}${longFile ? " and a long download held on it" : ""} (weights all 1)`;
    const drainName = `${mode}: drain ${server} (weights ${drained}) in place`;
    const reuseName = `${mode}: source ports that had landed on ${server} land elsewhere`;
    const transferName = `${mode}: the download started on ${server} before the drain completes`;

    let check: DrainCheck | undefined;
    const prepared = await phase(
        prepareName,
        async () => {
            check = new DrainCheck(await run.outputs(), server, { count: REUSED_PORTS, file: longFile });
            return check.prepare();
        },
        (result) => result.problems,
    );
    if (prepared.value === undefined) {
        check?.abort();
        check = undefined;
    }
    const ready = check;
    await stack.setConfig("lvs-dr-lab:realServerWeights", { value: drained });
    const drain = await phase(
        drainName,
        () => (ready ? ready.around(() => runOperation(stack, "up")) : runOperation(stack, "up")),
        (result) => inPlaceProblems(result, { updatable: tables, required: tables }),
    );
    if (drain.value === undefined) {
        ready?.abort();
        skip(reuseName, drainName);
        skip(transferName, drainName);
        skip(`${mode}: smoke with ${server} drained (no new connections to it)`, drainName);
        return;
    }
    if (ready) {
        const reused = await phase(
            reuseName,
            async () => ready.reuse(await run.outputs()),
            (report) => report.problems,
        );
        const transfer = longFile
            ? await phase(
                  transferName,
                  () => ready.finishTransfer(),
                  (report) => report.problems,
              )
            : undefined;
        if (!longFile) {
            skip(transferName, fileName);
        }
        measurements[`drain-${mode}`] = {
            server,
            reusedPorts: reused.value?.reused.length,
            liveEntries: reused.value?.live?.length,
            reuse: reused.value?.summary,
            transferBytes: transfer?.value?.result.bytes,
            transferHeldSeconds: transfer?.value?.result.heldSeconds,
            transferFinishSeconds: transfer?.value?.result.finishSeconds,
            transfer: transfer?.value?.summary,
        };
    } else {
        skip(reuseName, prepareName);
        skip(transferName, prepareName);
    }
    await run.smokePhase(`${mode}: smoke with ${server} drained (no new connections to it)`);
}

/** What the e2e changes by hand in DR: five kinds of fact on four machines. */
function drChanges(vip: string): HandChange[] {
    return [
        {
            machine: "director",
            command: "sudo sysctl -qw net.ipv4.conf.all.send_redirects=1 net.ipv4.vs.conn_reuse_mode=1",
            facts: ["send_redirects all", "ipvs conn_reuse_mode"],
        },
        { machine: "web2", command: `sudo ip addr del ${vip}/32 dev lo`, facts: [`address ${vip}/32 on lo`] },
        { machine: "web3", command: "sudo sysctl -qw net.ipv4.conf.all.arp_ignore=0", facts: ["arp_ignore all"] },
        { machine: "web4", command: "sudo umount -l /var/www/html", facts: ["web root", "page on port 80"] },
    ];
}

/** And in TUN: three more kinds, on the BACKUP director and two real servers. */
function tunChanges(vip: string): HandChange[] {
    return [
        { machine: "director2", command: "sudo sysctl -qw net.ipv4.conf.eth1.send_redirects=1", facts: ["send_redirects eth1"] },
        { machine: "web1", command: "sudo sysctl -qw net.ipv4.conf.tunl0.rp_filter=1", facts: ["rp_filter tunl0"] },
        { machine: "web2", command: `sudo ip addr del ${vip}/32 dev tunl0`, facts: [`address ${vip}/32 on tunl0`] },
    ];
}

/**
 * Drift made by hand with plain SSH: refresh names each changed fact by
 * machine, check exits 1, up puts it back running only those machines'
 * steps, the smoke test passes, check exits 0, and up is a no-op again.
 */
async function driftChecks(run: RunContext, mode: string, changesFor: (vip: string) => HandChange[]): Promise<void> {
    const { stack, stackName } = run;
    const out = await run.outputs();
    const changes = changesFor(out.vip);
    const madeName = `${mode}: drift made by hand (${changes.map((change) => change.machine).join(", ")})`;
    const made = await phase(madeName, async () => {
        await changeByHand(out, stackName, changes);
        return changes.length;
    });
    if (made.value === undefined) {
        for (const name of ["refresh", "check", "up", "smoke", "check again", "no-op up"]) {
            skip(`${mode}: drift ${name}`, madeName);
        }
        return;
    }
    await phase(
        `${mode}: refresh names each drifted fact by machine`,
        () => refreshAndRead(stack),
        (machines) => refreshProblems(machines, changes),
    );
    await phase(
        `${mode}: check exits 1 on drift`,
        () => runCheck(stackName),
        (check) => (check.status === 1 ? [] : [`check exited ${check.status}:\n${check.output}`]),
    );
    await phase(
        `${mode}: up puts it back, running only the drifted machines' steps`,
        () => runOperation(stack, "up"),
        (result) => repairProblems(result, changes),
    );
    await run.smokePhase(`smoke after the repair (${mode})`);
    await phase(
        `${mode}: check exits 0 after the repair`,
        () => runCheck(stackName),
        (check) => (check.status === 0 ? [] : [`check exited ${check.status}:\n${check.output}`]),
    );
    await phase(
        `${mode}: up, refreshing first, is a no-op after the repair`,
        () => runOperation(stack, "up", undefined, { refresh: true }),
        (result) => changedSteps(result).map((step) => `${step.op} ${step.type} ${step.name}`),
    );
}

/** The lab tools' drills (proofs/toolDrills.ts), each through the code its verb runs. */
async function toolChecks(run: RunContext): Promise<void> {
    const drills: [string, string, (topology: LabTopology, out: LabOutputValues) => Promise<DrillReport>][] = [
        ["capture", "capture: direct routing on the wire (web1's and the MASTER's links)", captureDrill],
        ["view", "view: the page in headless Chromium, web1's apache stopped and started", (topology, out) => viewDrill(topology, out, run.stackName)],
        ["impairLoss", "impair: 100% loss on web1's public link under load, then --clear", lossDrill],
        ["splitBrain", "split brain: VRRP dropped both ways between the directors, then healed", splitBrainDrill],
    ];
    for (const [key, name, drill] of drills) {
        await phase(
            name,
            async () => {
                const out = await run.outputs();
                const report = await drill(topologyFromOutputs(out, run.stackName), out);
                measurements[key] = report.measured;
                return report;
            },
            (report) => report.problems,
        );
    }
}

/** Everything between `up` and `destroy`, on a running lab. */
async function runningLabChecks(run: RunContext): Promise<void> {
    const { stack, baseCount, directorNames } = run;
    await run.smokePhase("smoke (dr)");
    await phase(
        "no-op up",
        () => runOperation(stack, "up"),
        (result) => {
            const changed = changedSteps(result);
            return changed.length === 0 ? [] : changed.map((step) => `${step.op} ${step.type} ${step.name}`);
        },
    );
    await driftChecks(run, "dr", drChanges);
    await phase(
        "health check: web1's apache stopped and started under load",
        async () => healthDrill(await run.outputs()),
        (problems) => problems,
    );
    await phase(
        "sorry page: every real server's apache stopped and started",
        async () => sorryDrill(await run.outputs()),
        (problems) => problems,
    );
    await phase(
        "failover: MASTER's keepalived stopped and started under load",
        async () => {
            const report = await failoverDrill(await run.outputs());
            measurements.failover = report.measured;
            return report.problems;
        },
        (problems) => problems,
    );
    await toolChecks(run);
    await run.smokePhase("smoke after the drills");

    await scalingChecks(run);

    const fileName = "a long download's file on the NFS export";
    const file = await phase(fileName, async () => prepareLongFile(await run.outputs()));
    const servers = Array.from({ length: baseCount }, (_, index) => `web${index + 1}`);
    for (const mode of MODES) {
        if (mode !== "dr") {
            // The switch also gives web1 its weight back.
            await stack.setConfig("lvs-dr-lab:mode", { value: mode });
            await stack.removeConfig("lvs-dr-lab:realServerWeights");
            const switchName = `switch to ${mode} in place (weights back to 1)`;
            const switched = await phase(
                switchName,
                () => runOperation(stack, "up"),
                (result) => modeSwitchProblems(result, directorNames, servers),
            );
            if (switched.value === undefined) {
                for (const name of [`smoke (${mode})`, `${mode}: drain checks`]) {
                    skip(name, switchName);
                }
                continue;
            }
            await run.smokePhase(`smoke (${mode})`);
            if (mode === "tun") {
                await driftChecks(run, mode, tunChanges);
            }
        }
        await drainChecks(run, mode, file, fileName);
    }
}

async function main(): Promise<number> {
    const stackName = process.env.LVSLAB_E2E_STACK ?? "e2e";
    const requests = Number(process.env.LVSLAB_E2E_REQUESTS ?? "200");
    const stack = await openStack(stackName);
    const started = Date.now();
    const baseCount = Number((await stack.getConfig("lvs-dr-lab:realServerCount")).value);
    const outputs = (): Promise<LabOutputValues> => labOutputs(stack);
    const run: RunContext = {
        stack,
        stackName,
        baseCount,
        directorNames: ["director", "director2"],
        outputs,
        // Every smoke phase reads the outputs afresh: scaling and modes change them.
        smokePhase: (name: string) =>
            phase(
                name,
                async () => smokeTest(await outputs(), requests),
                (report) => report.problems,
            ),
    };

    let failure: unknown;
    try {
        await phase("clean start (destroy leftovers of an earlier run)", () => runOperation(stack, "destroy"));
        for (const [key, value] of Object.entries(E2E_CONFIG)) {
            await stack.setConfig(`lvs-dr-lab:${key}`, { value });
        }
        const upName = "up from nothing (DR, two directors, HTTP checks, ports 80 and 8080)";
        const up = await phase(upName, () => runOperation(stack, "up"));
        if (up.value === undefined) {
            skip("every check on the running lab", upName);
        } else {
            await runningLabChecks(run);
        }
    } catch (error) {
        // Not a phase's failure (those are recorded): the harness itself broke. Destroy anyway.
        failure = error;
        console.error(`e2e: ${errorText(error)}`);
    }
    try {
        // What the stack made in libvirt, read before destroy to prove afterwards that it is gone.
        const libvirt = await libvirtTargetOf(stack);
        await phase("destroy", () => runOperation(stack, "destroy"));
        if (libvirt) {
            await phase(
                "nothing left",
                async () => leftovers(libvirt.uri, libvirt.pool, libvirt.prefix),
                (left) => left.map((entry) => `${entry} is still there`),
            );
        } else {
            skip("nothing left", "finding the stack's libvirt prefix (no outputs, none in its state)");
        }
    } finally {
        const phases = log.phases;
        const counts = tally(phases);
        const results = {
            stack: stackName,
            when: new Date().toISOString(),
            totalSeconds: (Date.now() - started) / 1000,
            domainType: (await stack.getConfig("lvs-dr-lab:domainType").catch(() => ({ value: "kvm" }))).value,
            passed: failure === undefined && phases.length > 0 && phases.every((p) => p.ok),
            phaseCounts: counts,
            harnessError: failure === undefined ? undefined : errorText(failure),
            phases,
            measurements,
        };
        const file = writeResults("e2e.json", results);
        console.log("\n=== e2e summary");
        for (const p of phases) {
            const mark = p.skipped ? "SKIP" : p.ok ? "ok  " : "FAIL";
            console.log(`  ${mark} ${p.name.padEnd(72)} ${p.seconds.toFixed(1).padStart(7)} s${p.detail ? `  ${p.detail}` : ""}`);
        }
        console.log(`  total ${results.totalSeconds.toFixed(1)} s; written to ${path.relative(PROJECT_ROOT, file)}`);
        console.log(`e2e: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
    }
    if (failure !== undefined) {
        throw failure;
    }
    return log.phases.every((p) => p.ok) ? 0 : 1;
}

runMain("e2e", module, main);
