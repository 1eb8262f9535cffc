// `scripts/lab status`: the machines of a stack, which director holds the
// VIP, and each director's live IPVS table with per-server connection counts
// (`ipvsadm -Ln`, as in the seed), from the stack outputs alone; each
// machine's libvirt state beside it (running, paused, shut off, missing).
import { openStack, plainOutputs } from "./automation";
import { sshRun } from "../proofs/harness";
import { SmokeInputs } from "../proofs/smoke";
import { domainStatesOf } from "./tools/live";
import { topologyFromOutputs } from "./tools/topology";

interface StatusInputs extends SmokeInputs {
    keepalived: boolean;
    healthCheck: { kind: string; windowSeconds: number };
    directors: { name: string; role: string; publicIp: string; sshHint: string }[];
    realServers: { name: string; publicIp: string; weight: number; forwardingAddress: string; sshHint: string }[];
    nfs: { name: string; storageIp: string; sshHint: string };
    nfsExport: string;
}

async function main(argv: string[]): Promise<number> {
    const stackIndex = argv.indexOf("--stack");
    const stackName = stackIndex >= 0 ? argv[stackIndex + 1] : "dev";
    if (argv.includes("--help")) {
        console.log("usage: scripts/lab status [--stack NAME]");
        return 0;
    }
    const outputs = (await plainOutputs(await openStack(stackName))) as unknown as StatusInputs;
    if (!outputs.vipUrl) {
        console.log(`stack ${stackName}: no lab (bring it up with scripts/lab up --stack ${stackName})`);
        return 3;
    }
    const topology = topologyFromOutputs(outputs, stackName);
    const states = await domainStatesOf(topology);
    const state = (name: string): string => (states[name] ?? "missing").padEnd(9);
    const keeper = outputs.keepalived ? `keepalived (health check: ${outputs.healthCheck.kind}, a failed server leaves within ${outputs.healthCheck.windowSeconds} s)` : "ipvsadm";
    console.log(`stack ${stackName}: ${outputs.vipUrl} ports ${outputs.ports.join(", ")}, mode ${outputs.mode}, scheduler ${outputs.scheduler}, table kept by ${keeper}`);
    for (const director of outputs.directors) {
        console.log(`  ${director.name.padEnd(10)} ${state(director.name)} ${director.publicIp.padEnd(16)} ${director.role.padEnd(17)} ${director.sshHint}`);
    }
    for (const server of outputs.realServers) {
        console.log(`  ${server.name.padEnd(10)} ${state(server.name)} ${server.forwardingAddress.padEnd(16)} weight ${String(server.weight).padEnd(10)} ${server.sshHint}`);
    }
    console.log(`  ${outputs.nfs.name.padEnd(10)} ${state(outputs.nfs.name)} ${outputs.nfs.storageIp.padEnd(16)} ${outputs.nfsExport.padEnd(17)} ${outputs.nfs.sshHint}`);
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
            console.log(`\n${director.name} unreachable: ${error instanceof Error ? error.message : String(error)}`);
        }
    }
    return unreachable === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
        console.error(error instanceof Error ? error.message : String(error));
        process.exit(1);
    },
);
