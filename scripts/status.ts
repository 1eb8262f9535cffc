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
    for (const director of outputs.directors) {
        try {
            const table = await sshRun(outputs.ssh, director.publicIp, "sudo ipvsadm -Ln");
            const addresses = await sshRun(outputs.ssh, director.publicIp, "ip -o -4 addr show");
            const holds = addresses.includes(` ${outputs.vip}/`) ? "holds the VIP" : "does not hold the VIP";
            console.log(`\n${director.name} (${holds}): ipvsadm -Ln`);
            console.log(table.trimEnd());
        } catch (error) {
            unreachable += 1;
            console.log(`\n${director.name} unreachable: ${errorText(error)}`);
        }
    }
    // Read live (one login a machine), as scripts/lab check does.
    console.log(`\n${driftSummary(await liveFacts(await revealedResources(stack)))}`);
    return unreachable === 0 ? 0 : 1;
}

runMain("status", module, () => main(process.argv.slice(2)));
