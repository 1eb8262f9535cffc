// Lesson: direct routing without the VIP on the real server's loopback.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { sendRequests, tallyLine } from "./lesson";
import { connectionsTo, directorStats, kernelCounters } from "./observe";
import { machineNamed } from "../scripts/tools/topology";

const SERVER = "web2";
const REQUESTS = 24;

export const vipOnLoopbackLesson: BreakLesson = {
    kind: "break",
    name: "vip-on-lo",
    title: "Direct routing without the VIP on the real server's loopback",
    seedStep: "seed step 3, the real servers: the VIP on lo:0 as a /32 (ifcfg-lo:0, route add -host VIP dev lo:0)",
    why: [
        "In direct routing the director does not rewrite the packet: it only puts the real server's MAC",
        'on the frame, so the packet still says "to the VIP". A real server accepts it only if the VIP',
        "is one of its own addresses; the loopback holds it without answering ARP for it on the wire.",
        "Without it the real server's kernel drops every packet the director sends it (IpInAddrErrors):",
        "its share of connections hangs until the client gives up.",
    ],
    reference: "the LVS-HOWTO, \"LVS-DR\" (the VIP on the realserver's lo); the seed's step 3",
    needs: { mode: "dr" },
    breaks: `${SERVER}: the VIP taken off lo`,
    change: ({ out }) => [{ machine: SERVER, command: `sudo ip addr del ${out.vip}/32 dev lo` }],
    see,
};

async function see({ out, topology }: LessonContext): Promise<Sighting> {
    const server = machineNamed(topology, SERVER);
    const address = out.realServers.find((entry) => entry.name === SERVER)?.forwardingAddress ?? server.sshAddress;
    const counters = ["IpInAddrErrors"];
    const [before, statsBefore] = await Promise.all([kernelCounters(out, server.sshAddress, counters), directorStats(out)]);
    const tally = await sendRequests(out, REQUESTS);
    const [after, statsAfter] = await Promise.all([kernelCounters(out, server.sshAddress, counters), directorStats(out)]);
    const dropped = after.IpInAddrErrors - before.IpInAddrErrors;
    const sent = connectionsTo(statsBefore, statsAfter, address);
    return {
        lines: [
            tallyLine(tally),
            `the director sent ${sent} connection(s) to ${SERVER} (ipvsadm --stats); ${SERVER} answered ${tally.byServer[SERVER] ?? 0}`,
            `${SERVER}'s kernel dropped ${dropped} packet(s) addressed to an address it does not hold (nstat IpInAddrErrors)`,
        ],
        symptom: tally.failed > 0 && (tally.byServer[SERVER] ?? 0) === 0,
    };
}
