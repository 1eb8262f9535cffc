// Lesson: what a scheduler moves when a real server joins or leaves. A fixed
// population of clients (many source addresses on the lab host), each
// connecting once; the share that lands on a different server than before,
// for rr, sh and mh, against the 1/N that consistent hashing aims for.
import type { ExperimentLesson, ExperimentResult, LabControl } from "./lesson";
import { clientAddresses, ipvsadmMethodFlag, landingsFrom, withClientAddresses } from "./observe";
import { formatTable, sshRun } from "../proofs/kit";

const SCHEDULERS = ["rr", "sh", "mh"] as const;
const CLIENTS = 96;
/** How far mh's share may be from 1/N: about two standard deviations of a 96-client sample. */
const MH_TOLERANCE = 0.1;

export const schedulersLesson: ExperimentLesson = {
    kind: "experiment",
    name: "schedulers",
    title: "What a scheduler moves when a real server joins or leaves",
    seedStep: "seed step 1, the director: ipvsadm -A -t VIP:80 -s rr (the scheduler)",
    why: [
        "rr hands out connections in turn: which server a client gets says nothing about the client.",
        "sh (source hashing) maps each client address to a server through a table that is dealt out",
        "again when a server joins or leaves, so most clients move. mh (Maglev hashing) fills its table",
        "so that a change moves only about 1/N of the clients: the ones the new server takes, or the",
        "ones the old server had. The lesson adds one server to the table and takes it out again,",
        `with ${CLIENTS} client addresses connecting once each, and counts who moved.`,
    ],
    reference: 'ipvsadm(8), -s; the kernel\'s ip_vs_sh.c and ip_vs_mh.c; Eisenbud et al., "Maglev" (NSDI 2016), section 3.4',
    breaks: `${CLIENTS} clients; a server added, then removed; for ${SCHEDULERS.join(", ")}`,
    experiment,
};

/** The share of clients that landed on a different server (or failed) in `after` than in `before`. Pure. */
export function movedShare(before: ReadonlyMap<string, string | undefined>, after: ReadonlyMap<string, string | undefined>): number {
    let moved = 0;
    for (const [client, server] of before) {
        if (server === undefined || after.get(client) !== server) {
            moved++;
        }
    }
    return before.size === 0 ? 0 : moved / before.size;
}

const percent = (share: number): string => `${Math.round(share * 100)}%`;

async function experiment(lab: LabControl): Promise<ExperimentResult> {
    let context = await lab.context();
    const extra = context.out.realServers[context.out.realServers.length - 1];
    if (context.out.realServers.length < 2) {
        throw new Error("the lab needs at least two real servers");
    }
    const rows: string[][] = [];
    const problems: string[] = [];
    const count = context.out.realServers.length;
    const ideal = 1 / count;
    const addresses = await clientAddresses(context, CLIENTS);
    await withClientAddresses(context, addresses, async () => {
        for (const scheduler of SCHEDULERS) {
            await lab.configure({ scheduler }, `scheduler ${scheduler}`);
            context = await lab.context();
            // The last server leaves and joins the table by hand, as a server's removal and addition do to it.
            const entry = (verb: "-d" | "-a"): string =>
                `sudo ipvsadm ${verb} -t ${context.out.vip}:${context.out.port} -r ${extra.forwardingAddress}:${context.out.port}` +
                (verb === "-a" ? ` ${ipvsadmMethodFlag(context.out.mode)} -w ${extra.weight}` : "");
            const onDirectors = (command: string): Promise<string[]> =>
                Promise.all(context.out.directors.map((director) => sshRun(context.out.ssh, director.publicIp, command, 30_000)));
            await onDirectors(entry("-d"));
            const without = await landingsFrom(context, addresses);
            await onDirectors(entry("-a"));
            const joined = await landingsFrom(context, addresses);
            await onDirectors(entry("-d"));
            const left = await landingsFrom(context, addresses);
            await onDirectors(entry("-a"));
            const failed = [without, joined, left].reduce((sum, map) => sum + [...map.values()].filter((server) => server === undefined).length, 0);
            const onJoin = movedShare(without, joined);
            const onLeave = movedShare(joined, left);
            lab.say(`${scheduler}: ${percent(onJoin)} of the clients moved when ${extra.name} joined, ${percent(onLeave)} when it left; ${failed} failed`);
            rows.push([scheduler, percent(onJoin), percent(onLeave), percent(ideal), String(failed)]);
            if (failed > 0) {
                problems.push(`${scheduler}: ${failed} connection(s) failed`);
            }
            if (scheduler === "mh") {
                for (const [when, share] of [
                    ["joined", onJoin],
                    ["left", onLeave],
                ] as const) {
                    if (Math.abs(share - ideal) > MH_TOLERANCE) {
                        problems.push(`mh moved ${percent(share)} when ${extra.name} ${when}, not within ${percent(MH_TOLERANCE)} of 1/${count}`);
                    }
                }
            }
            if (scheduler === "sh" && onJoin <= 2 * ideal) {
                problems.push(`sh moved only ${percent(onJoin)} when ${extra.name} joined: the lesson says most clients move`);
            }
        }
    });
    return {
        table: formatTable(["scheduler", `moved: ${extra.name} joined`, `moved: ${extra.name} left`, `1/${count}`, "failed"], rows).split("\n"),
        problems,
    };
}
