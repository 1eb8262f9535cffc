// `scripts/lab status`: the machines of a stack and the director's live IPVS
// table with per-server connection counts, from the stack outputs alone.
import { openStack, plainOutputs } from "./automation";
import { sshRun } from "./ssh";
import { SmokeInputs } from "./smoke";

interface StatusInputs extends SmokeInputs {
    director: { publicIp: string; sshHint: string };
    realServers: { name: string; publicIp: string; weight: number; sshHint: string }[];
    nfs: { storageIp: string; sshHint: string };
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
    console.log(`stack ${stackName}: ${outputs.vipUrl} (scheduler ${outputs.scheduler}), NFS ${outputs.nfsExport}`);
    console.log(`  director  ${outputs.director.publicIp.padEnd(16)} ${outputs.director.sshHint}`);
    for (const server of outputs.realServers) {
        console.log(`  ${server.name.padEnd(9)} ${server.publicIp.padEnd(16)} weight ${server.weight}  ${server.sshHint}`);
    }
    console.log(`  nfs       ${outputs.nfs.storageIp.padEnd(16)} ${outputs.nfs.sshHint}`);
    try {
        const table = await sshRun(outputs.ssh, outputs.director.publicIp, "sudo ipvsadm -Ln");
        console.log("\ndirector: ipvsadm -Ln");
        console.log(table.trimEnd());
    } catch (error) {
        console.log(`\ndirector unreachable: ${error instanceof Error ? error.message : String(error)}`);
        return 1;
    }
    return 0;
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
        console.error(error instanceof Error ? error.message : String(error));
        process.exit(1);
    },
);
