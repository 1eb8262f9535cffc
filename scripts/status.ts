// `scripts/lab status`: the machines of a stack, which director holds the
// VIP, and each director's live IPVS table with per-server connection counts
// (`ipvsadm -Ln`, as in the seed), from the stack outputs alone; each
// machine's libvirt state beside it (running, paused, shut off, missing),
// and whether any machine's facts drifted from what the lab wants. A spread
// lab's machines are listed from every host at once, each with the host it
// runs on; a host whose libvirt does not answer makes its own machines
// "unknown" and is named.
import { openStack, revealedResources } from "./automation";
import { driftSummary, liveFacts } from "./drift";
import { commandLineOrExit, errorText, labOutputs, runMain, sshRun } from "../proofs/kit";
import { listDomains } from "./tools/live";
import { topologyFromOutputs } from "./tools/topology";

/** Ends the director's table in the one login that also lists its addresses. */
const TABLE_END = "--lvslab-table-end--";

async function main(argv: string[]): Promise<number> {
    const line = commandLineOrExit(argv, {}, "usage: scripts/lab status [--stack NAME]");
    if (typeof line === "number") {
        return line;
    }
    const stackName = line.stack;
    const stack = await openStack(stackName);
    const outputs = await labOutputs(stack);
    if (!outputs.vipUrl) {
        console.log(`stack ${stackName}: no lab (bring it up with scripts/lab up --stack ${stackName})`);
        return 3;
    }
    // The facts (one login a machine, as scripts/lab check reads them) and the
    // directors' tables are read while libvirt is asked: each is a wait on
    // emulated guests.
    const facts = revealedResources(stack).then(liveFacts);
    facts.catch(() => undefined); // awaited below
    const tables = Promise.all(
        outputs.directors.map((director) =>
            sshRun(outputs.ssh, director.publicIp, `sudo ipvsadm -Ln; echo ${TABLE_END}; ip -o -4 addr show`).then(
                (text) => ({ director, text }),
                (error: unknown) => ({ director, error }),
            ),
        ),
    );
    const topology = topologyFromOutputs(outputs, stackName);
    const listing = await listDomains(topology);
    const hostWidth = Math.max(...topology.hosts.map((host) => host.name.length)) + 3;
    // A spread lab has one more column: the host each machine runs on.
    const host = (name: string): string =>
        topology.spread ? ` ${`on ${topology.machines.find((machine) => machine.name === name)?.host ?? "?"}`.padEnd(hostWidth)}` : "";
    const state = (name: string): string => `${(listing.states[name] ?? "missing").padEnd(9)}${host(name)}`;
    const keeper = outputs.keepalived
        ? `keepalived (health check: ${outputs.healthCheck.kind}, a failed server leaves within ${outputs.healthCheck.windowSeconds} s)`
        : "ipvsadm";
    console.log(
        `stack ${stackName}: ${outputs.vipUrl} ports ${outputs.ports.join(", ")}, mode ${outputs.mode}, scheduler ${outputs.scheduler}, table kept by ${keeper}`,
    );
    for (const director of outputs.directors) {
        console.log(`  ${director.name.padEnd(10)} ${state(director.name)} ${director.publicIp.padEnd(16)} ${director.role.padEnd(17)} ${director.sshHint}`);
    }
    for (const server of outputs.realServers) {
        console.log(
            `  ${server.name.padEnd(10)} ${state(server.name)} ${server.forwardingAddress.padEnd(16)} weight ${String(server.weight).padEnd(10)} ${server.sshHint}`,
        );
    }
    console.log(
        `  ${outputs.nfs.name.padEnd(10)} ${state(outputs.nfs.name)} ${outputs.nfs.storageIp.padEnd(16)} ${outputs.nfsExport.padEnd(17)} ${outputs.nfs.sshHint}`,
    );
    if (topology.spread) {
        console.log(`  spread over ${topology.hosts.length} hosts: ${topology.hosts.map((h) => `${h.name} (${h.uri})`).join(", ")}`);
    }
    for (const trouble of listing.unanswered) {
        console.log(`  host ${trouble.host}'s libvirt did not answer, so its machines are unknown: ${trouble.error}`);
    }
    let unreachable = 0;
    for (const read of await tables) {
        if ("error" in read) {
            unreachable += 1;
            console.log(`\n${read.director.name} unreachable: ${errorText(read.error)}`);
            continue;
        }
        const [table, addresses = ""] = read.text.split(`${TABLE_END}\n`);
        const holds = addresses.includes(` ${outputs.vip}/`) ? "holds the VIP" : "does not hold the VIP";
        console.log(`\n${read.director.name} (${holds}): ipvsadm -Ln`);
        console.log(table.trimEnd());
    }
    console.log(`\n${driftSummary(await facts)}`);
    return unreachable === 0 ? 0 : 1;
}

runMain("status", module, () => main(process.argv.slice(2)));
