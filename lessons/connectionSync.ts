// Lesson: connection sync between two directors. Held downloads across the
// MASTER's VM destroyed mid-transfer: with lvs_sync_daemon (the lab's),
// without it, and with the stateless answer (mh with sloppy_tcp, no sync).
import type { ExperimentLesson, ExperimentResult, LabControl, LessonContext } from "./lesson";
import { delay, formatTable, get, sshRun, watchVip } from "../proofs/kit";
import { judgeTransfer, LongFile, LongTransfer, prepareLongFile, removeLongFile } from "../proofs/drain";
import { runChecked, virshArgs } from "../scripts/tools/live";
import { machineNamed } from "../scripts/tools/topology";

const TRANSFERS = 8;
/** The share of held downloads sync must keep whole. */
const SYNC_KEEPS = 0.95;

interface Variant {
    name: string;
    /** Config for the variant (set with up), if any. */
    config?: Record<string, string>;
    /** Commands run on both directors before the downloads start. */
    onDirectors: string[];
}

const STOP_SYNC = "sudo ipvsadm --stop-daemon master; sudo ipvsadm --stop-daemon backup; true";

const VARIANTS: readonly Variant[] = [
    { name: "sync on (the lab's lvs_sync_daemon)", onDirectors: [] },
    { name: "sync off", onDirectors: [STOP_SYNC] },
    { name: "mh + sloppy_tcp, sync off", config: { scheduler: "mh" }, onDirectors: [STOP_SYNC, "sudo sysctl -qw net.ipv4.vs.sloppy_tcp=1"] },
];

export const connectionSyncLesson: ExperimentLesson = {
    kind: "experiment",
    name: "connection-sync",
    title: "Connection sync: held downloads across the MASTER's VM destroyed",
    seedStep: "beyond the seed (one director): two directors under keepalived, lvs_sync_daemon on the storage network",
    why: [
        "When the MASTER dies, the BACKUP takes the VIP, but its IPVS table has no entry for the",
        "connections the MASTER was forwarding: their next packet is not a SYN, so IPVS does not",
        "schedule it, the BACKUP's own TCP stack answers for the VIP with a reset, and the download",
        "breaks. The sync daemon sends each connection entry to the BACKUP as it is made. The stateless",
        "answer needs no sync: mh hashes the client to the same server on both directors, and",
        "sloppy_tcp lets IPVS take a connection up from any packet.",
        `Held downloads (${TRANSFERS}) while the MASTER's VM is destroyed: how many finish whole, each way.`,
    ],
    reference: "keepalived.conf(5), lvs_sync_daemon; the kernel's ipvs-sysctl.rst (sloppy_tcp); ipvsadm(8), --start-daemon",
    cannotRun: (out) => (out.directors.length < 2 ? "it needs two directors (config directors: 2)" : undefined),
    breaks: `${TRANSFERS} held downloads; the MASTER's VM destroyed; sync on, sync off, mh with sloppy_tcp`,
    experiment,
};

/** Which server a plain request from this client lands on now. */
async function landingServer(context: LessonContext): Promise<string> {
    const answer = await get(context.out.vipUrl, context.out.identityHeader, 5000);
    if (!answer.server) {
        throw new Error("the VIP answered without the identity header");
    }
    return answer.server;
}

async function oneVariant(lab: LabControl, variant: Variant, file: LongFile): Promise<{ whole: number; problems: string[] }> {
    if (variant.config) {
        await lab.configure(variant.config, variant.name);
    }
    const context = await lab.context();
    const { out, topology } = context;
    const [master, backup] = out.directors;
    for (const command of variant.onDirectors) {
        lab.say(`on both directors: ${command}`);
        await Promise.all(out.directors.map((director) => sshRun(out.ssh, director.publicIp, command, 30_000)));
    }
    // mh sends this client's connections to one server; the others spread them.
    const hashed = out.scheduler === "mh" ? await landingServer(context) : undefined;
    const transfers: LongTransfer[] = [];
    try {
        for (let i = 0; i < TRANSFERS; i++) {
            transfers.push(await LongTransfer.start(out, hashed ?? out.realServers[i % out.realServers.length].name, file));
        }
        // The sync daemon sends an entry as its connection is established; give it a moment.
        await delay(3000);
        const backupHolds = watchVip(out, backup.publicIp);
        try {
            const masterMachine = machineNamed(topology, master.name);
            lab.say(`virsh destroy ${masterMachine.domain}   (the MASTER, ${master.name}, mid-transfer)`);
            const destroyedAt = Date.now();
            await runChecked("virsh", virshArgs(masterMachine.libvirtUri, "destroy", masterMachine.domain), 30_000);
            const tookOver = await backupHolds.until(true, destroyedAt, 60_000);
            lab.say(`${backup.name} holds the VIP ${tookOver === undefined ? "never (60 s)" : `after ${((tookOver - destroyedAt) / 1000).toFixed(1)} s`}`);
        } finally {
            backupHolds.stop();
        }
        const results = await Promise.all(transfers.map((transfer) => transfer.finish(20_000, 180_000)));
        const problems = results.flatMap((result) => judgeTransfer(result, file, result.server));
        const whole = results.filter((result) => judgeTransfer(result, file, result.server).length === 0).length;
        lab.say(`${variant.name}: ${whole} of ${TRANSFERS} downloads finished whole`);
        return { whole, problems };
    } finally {
        // Start the MASTER again (up sees its VM shut off) and undo the variant's settings on the BACKUP.
        await sshRun(out.ssh, backup.publicIp, "sudo sysctl -qw net.ipv4.vs.sloppy_tcp=0", 30_000).catch(() => undefined);
        await lab.up(`starts ${master.name} again`);
        const masterBack = watchVip(out, master.publicIp);
        await masterBack.until(true, Date.now(), 120_000);
        masterBack.stop();
    }
}

async function experiment(lab: LabControl): Promise<ExperimentResult> {
    const context = await lab.context();
    const file = await prepareLongFile(context.out);
    const rows: string[][] = [];
    const problems: string[] = [];
    try {
        for (const variant of VARIANTS) {
            const { whole } = await oneVariant(lab, variant, file);
            rows.push([variant.name, `${whole} of ${TRANSFERS}`]);
            if (variant === VARIANTS[0] && whole < Math.ceil(TRANSFERS * SYNC_KEEPS)) {
                problems.push(`with sync on only ${whole} of ${TRANSFERS} held downloads finished whole (at least ${Math.round(SYNC_KEEPS * 100)} % wanted)`);
            }
        }
    } finally {
        await removeLongFile(context.out).catch(() => undefined);
    }
    return { table: formatTable(["directors", "held downloads finished whole"], rows).split("\n"), problems };
}
