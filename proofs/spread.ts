// One lab spread over two libvirt hosts (`scripts/lab spread`, #14): the
// stack "spread" puts director2, web3 and web4 on host b, the rest on host a
// (the gateway). proofs/spread.sh makes the two lab hosts, joins them with a
// veth underlay, starts an sshd in b, writes the stack's config and runs this
// inside a. Scenarios:
//
// up from nothing; each machine on its host; the VXLAN ports up on their
// bridges and the guests' MTU lowered; the smoke test, and the VIP's ARP
// entry on the active director; the failover drill (the MASTER on a, the
// BACKUP on b); destroy, then nothing of the lab on either host. Then the
// same lab on host a alone, up and destroyed, for the bench's comparison.
import * as auto from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as path from "path";
import { LabConfig } from "../components/config";
import { runOnHost } from "../components/libvirt";
import { macFor } from "../components/net";
import { PUBLIC_NETWORK_INDEX } from "../components/nics";
import { openStack, PROJECT_ROOT, runOperation, validatedConfig } from "../scripts/automation";
import { changeByHand, HandChange, refreshAndRead, refreshProblems, repairProblems } from "./drift";
import { failoverDrill } from "./failover";
import { errorText, get, labOutputs, leftovers, libvirtTargetOf, PhaseLog, phaseTable, runMain, sshRun, tally, virshText, writeResults } from "./kit";
import { smokeTest } from "./smoke";
import { neighbourMac } from "../scripts/tools/parse";
import { graphModel } from "../scripts/tools/graph";
import { gatherLive } from "../scripts/tools/live";
import { topologyFromOutputs } from "../scripts/tools/topology";

// ---------------------------------------------------------------- pure parts

/** Which domains each host should run and which it runs, judged: every machine on its own host and nowhere else. */
export function placementProblems(expected: Readonly<Record<string, string[]>>, running: Readonly<Record<string, string[]>>): string[] {
    const problems: string[] = [];
    for (const [host, domains] of Object.entries(expected)) {
        const there = running[host] ?? [];
        for (const domain of domains.filter((d) => !there.includes(d))) {
            problems.push(`${domain} is not running on host ${host}`);
        }
        for (const domain of there.filter((d) => !domains.includes(d))) {
            problems.push(`${domain} runs on host ${host}, where it was not placed`);
        }
    }
    return problems;
}

/**
 * The VXLAN devices named in `ip -json -details link show type vxlan` that
 * start with the lab's bridge prefix (no output at all: none). An answer
 * that is not a JSON list of links throws: it cannot tell what is there, so
 * it must never read as "no VXLAN devices".
 */
export function labVxlanDevices(ipJson: string, bridgePrefix: string): string[] {
    let links: unknown;
    try {
        links = JSON.parse(ipJson.trim() === "" ? "[]" : ipJson);
    } catch (error) {
        throw new Error(`cannot tell which VXLAN devices there are: ip's answer is not JSON (${errorText(error)}): ${JSON.stringify(ipJson.slice(0, 120))}`);
    }
    if (!Array.isArray(links)) {
        throw new Error(`cannot tell which VXLAN devices there are: ip's answer is not a list of links: ${JSON.stringify(ipJson.slice(0, 120))}`);
    }
    return (links as { ifname?: unknown }[])
        .map((link) => (typeof link?.ifname === "string" ? link.ifname : ""))
        .filter((name) => name.startsWith(bridgePrefix));
}

// ------------------------------------------------------------------ the run

/** Every host's running domains of the lab, by host name. */
function runningDomains(config: LabConfig, prefix: string): Record<string, string[]> {
    const running: Record<string, string[]> = {};
    for (const host of config.hosts) {
        running[host.name] = virshText(host.uri, "list", "--name")
            .split("\n")
            .map((line) => line.trim())
            .filter((name) => name.startsWith(prefix));
    }
    return running;
}

/** The lab's VXLAN devices on a host (`ip` there, over ssh for host b). */
async function vxlanDevicesOn(uri: string, bridgePrefix: string): Promise<string[]> {
    const r = await runOnHost(uri, ["ip", "-json", "-details", "link", "show", "type", "vxlan"]);
    if (r.code !== 0) {
        throw new Error(`ip link show type vxlan on ${uri} failed: ${r.stderr.trim()}`);
    }
    try {
        return labVxlanDevices(r.stdout, bridgePrefix);
    } catch (error) {
        throw new Error(`ip link show type vxlan on ${uri}: ${errorText(error)}`);
    }
}

/** What of the lab is left on each host: libvirt objects, VXLAN devices, domain logs. */
async function leftOnHosts(config: LabConfig, prefix: string, suffix: string): Promise<string[]> {
    const left: string[] = [];
    for (const host of config.hosts) {
        left.push(...leftovers(host.uri, config.storagePool, prefix).map((entry) => `${entry} on ${host.name}`));
        left.push(...(await vxlanDevicesOn(host.uri, `lv${suffix}`)).map((device) => `VXLAN device ${device} on ${host.name}`));
        const logs = await runOnHost(host.uri, ["sh", "-c", `ls /var/log/libvirt/qemu | grep -e '^${prefix}' || true`]);
        left.push(
            ...logs.stdout
                .split("\n")
                .filter((line) => line.trim() !== "")
                .map((file) => `log ${file.trim()} on ${host.name}`),
        );
    }
    return left;
}

/** What the scenarios share: the stack, its config, the phases and the figures for spread.json. */
interface SpreadRun {
    stack: auto.Stack;
    config: LabConfig;
    log: PhaseLog;
    figures: Record<string, unknown>;
    /** Runs a phase (PhaseLog.run): its value, or undefined when its body failed. */
    phase: <T>(name: string, body: () => Promise<T>, check?: (value: T) => string[]) => Promise<T | undefined>;
}

/** Seconds the phase just run took. */
const lastSeconds = (log: PhaseLog): number => log.phases[log.phases.length - 1].seconds;

/** The lab spread over both hosts: up, placement, the joined networks, smoke, the VIP's ARP entry, failover, destroy, nothing left. */
async function spreadScenario(run: SpreadRun): Promise<void> {
    const { stack, config, figures, phase } = run;
    const up = await phase("up from nothing, spread over two hosts", () => runOperation(stack, "up"));
    if (up === undefined) {
        throw new Error("up failed");
    }
    figures.spreadUpSeconds = lastSeconds(run.log);
    figures.spreadResources = up.steps.length;
    const out = await labOutputs(stack);
    const prefix = out.libvirt.prefix;
    const suffix = prefix.slice(prefix.lastIndexOf("-") + 1);
    const expected: Record<string, string[]> = {};
    for (const host of config.hosts) {
        expected[host.name] = Object.keys(config.placement)
            .filter((machine) => config.placement[machine] === host.name)
            .map((machine) => `${prefix}-${machine}`);
    }
    await phase(
        "each machine runs on its host",
        async () => runningDomains(config, prefix),
        (running) => placementProblems(expected, running),
    );
    await phase(
        "networks joined: a VXLAN port per network on each host, the guests' MTU lowered",
        async () => {
            const devices = await Promise.all(config.hosts.map((host) => vxlanDevicesOn(host.uri, `lv${suffix}`)));
            const mtus = await Promise.all(
                out.realServers.map(async (server) => (await sshRun(out.ssh, server.publicIp, "cat /sys/class/net/eth0/mtu")).trim()),
            );
            return { devices, mtus };
        },
        ({ devices, mtus }) => [
            ...devices.flatMap((list, i) => (list.length === 2 ? [] : [`host ${config.hosts[i].name} has ${list.length} VXLAN devices of the lab, not 2`])),
            ...mtus.flatMap((mtu, i) =>
                mtu === String(config.spread?.mtu) ? [] : [`${out.realServers[i].name}'s eth0 has MTU ${mtu}, not ${config.spread?.mtu}`],
            ),
        ],
    );
    const smoke = await phase(
        "smoke (every real server answers its share, from both hosts)",
        () => smokeTest(out, 200),
        (report) => report.problems,
    );
    figures.smokeAnswersByServer = smoke?.answersByServer;
    await phase(
        "the VIP's ARP entry here is the active director's NIC",
        async () => {
            await get(out.vipUrl, out.identityHeader, 2000);
            return execFileSync("ip", ["neigh", "show", out.vip], { encoding: "utf8" });
        },
        (neigh) => {
            const mac = neighbourMac(neigh, out.vip);
            const holders = smoke?.vipHolders ?? [];
            const holder = out.directors.find((d) => holders.includes(d.name));
            const want = holder ? macFor(PUBLIC_NETWORK_INDEX, holder.publicIp) : undefined;
            figures.vipNeighbour = { mac, holder: holder?.name };
            return mac !== undefined && mac === want
                ? []
                : [`the VIP's neighbour entry is ${mac ?? "missing"}, not ${holder?.name ?? "a director"}'s ${want ?? "MAC"}`];
        },
    );
    await phase(
        "failover: the MASTER (host a) stops keepalived, the BACKUP (host b) takes the VIP, then back",
        async () => {
            const report = await failoverDrill(out);
            figures.failover = report.measured;
            return report.problems;
        },
        (problems) => problems,
    );

    // The lab tools see every host: status's and graph's machine states come
    // from each host's libvirt (graphModel is what graph and view draw).
    await phase(
        "the tools see every host: each machine's state and host, host b's included",
        async () => {
            const topology = topologyFromOutputs(out, "spread");
            return graphModel(topology, await gatherLive(topology), "spread");
        },
        (model) => {
            const machines = [...model.directors, ...model.realServers, model.nfs];
            return machines.flatMap((machine) => {
                const placed = config.placement[machine.name];
                return [
                    ...(machine.state === "running" ? [] : [`${machine.name} reads as ${machine.state}, not running`]),
                    ...(machine.host === placed ? [] : [`${machine.name} is drawn on host ${machine.host ?? "(none)"}, placed on ${placed}`]),
                ];
            });
        },
    );

    // A machine on host b changed by hand: refresh names it, up puts it back.
    const onB = Object.keys(config.placement).find((machine) => config.placement[machine] === config.hosts[1]?.name && machine.startsWith("web"));
    if (onB) {
        const changes: HandChange[] = [{ machine: onB, command: "sudo sysctl -qw net.ipv4.conf.all.arp_announce=0", facts: ["arp_announce all"] }];
        await phase(`drift on host b: ${onB}'s arp_announce set back to 0 by hand`, async () => {
            await changeByHand(out, stack.name, changes);
            return changes.length;
        });
        await phase(
            `refresh names ${onB}'s drifted fact`,
            () => refreshAndRead(stack),
            (machines) => refreshProblems(machines, changes),
        );
        await phase(
            `up puts ${onB} back, running only its steps`,
            () => runOperation(stack, "up"),
            (result) => repairProblems(result, changes),
        );
    }

    const target = await libvirtTargetOf(stack);
    await phase("destroy", () => runOperation(stack, "destroy"));
    figures.spreadDestroySeconds = lastSeconds(run.log);
    await phase(
        "nothing left on either host",
        () => leftOnHosts(config, target?.prefix ?? prefix, suffix),
        (left) => left.map((entry) => `${entry} is still there`),
    );
}

/** The bench's comparison: the same lab, every machine on host a; up, smoke, destroy, nothing left. */
async function oneHostScenario(run: SpreadRun): Promise<void> {
    const { stack, figures, phase } = run;
    await stack.removeConfig("lvs-dr-lab:placement");
    await stack.removeConfig("lvs-dr-lab:hosts");
    const oneHost = await validatedConfig(stack);
    await phase(
        "up from nothing, the same lab on one host",
        () => runOperation(stack, "up"),
        () => (oneHost.spread === undefined ? [] : ["the one-host config is still spread"]),
    );
    figures.oneHostUpSeconds = lastSeconds(run.log);
    await phase(
        "smoke on one host",
        async () => smokeTest(await labOutputs(stack), 200),
        (report) => report.problems,
    );
    const oneTarget = await libvirtTargetOf(stack);
    await phase("destroy (one host)", () => runOperation(stack, "destroy"));
    figures.oneHostDestroySeconds = lastSeconds(run.log);
    if (oneTarget !== undefined) {
        await phase(
            "nothing left (one host)",
            async () => leftovers(oneTarget.uri, oneTarget.pool, oneTarget.prefix),
            (left) => left.map((entry) => `${entry} is still there`),
        );
    }
}

async function main(): Promise<number> {
    const stackName = process.env.LVSLAB_SPREAD_STACK ?? "spread";
    const stack: auto.Stack = await openStack(stackName);
    const config = await validatedConfig(stack);
    if (config.spread === undefined) {
        throw new Error(`stack ${stackName} runs every machine on one host; proofs/spread.sh writes the config that spreads it`);
    }
    const log = new PhaseLog("spread");
    const started = Date.now();
    const figures: Record<string, unknown> = {};
    const results: Record<string, unknown> = {
        stack: stackName,
        when: new Date().toISOString(),
        hosts: config.hosts.map((host) => ({
            name: host.name,
            uri: host.uri,
            machines: Object.keys(config.placement).filter((m) => config.placement[m] === host.name),
        })),
        phases: log.phases,
        figures,
    };
    const phase = async <T>(name: string, body: () => Promise<T>, check: (value: T) => string[] = () => []): Promise<T | undefined> =>
        (await log.run(name, body, check)).value;
    try {
        const run: SpreadRun = { stack, config, log, figures, phase };
        await spreadScenario(run);
        await oneHostScenario(run);
    } catch (error) {
        console.error(`spread: ${errorText(error)}`);
        results.error = errorText(error);
    } finally {
        const counts = tally(log.phases);
        results.totalSeconds = (Date.now() - started) / 1000;
        results.passed = results.error === undefined && counts.failed === 0;
        const file = writeResults("spread.json", results);
        console.log(`\n=== spread summary: ${counts.passed} passed, ${counts.failed} failed`);
        console.log(phaseTable(log.phases, 140));
        console.log(
            `up: spread ${String(figures.spreadUpSeconds ?? "-")} s, one host ${String(figures.oneHostUpSeconds ?? "-")} s; written to ${path.relative(PROJECT_ROOT, file)}`,
        );
    }
    return results.passed ? 0 : 1;
}

runMain("spread", module, main);
