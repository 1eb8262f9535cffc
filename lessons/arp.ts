// Lesson: the ARP problem. A real server that answers ARP for the VIP.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { sendRequests, tallyLine } from "./lesson";
import { arpRepliesForVip, captureWhile, connectionsTo, directorStats, forgetVipNeighbour, vipNeighbourOwner } from "./observe";
import { macOwners } from "../scripts/tools/topology";

const SERVER = "web1";
const ROUNDS = 3;
const REQUESTS_PER_ROUND = 8;

export const arpLesson: BreakLesson = {
    kind: "break",
    name: "arp",
    title: "The ARP problem: a real server answering ARP for the VIP",
    seedStep: "seed step 3, the real servers: arp_ignore = 1 and arp_announce = 2 (all, default, lo)",
    why: [
        "In direct routing every real server holds the VIP (on lo), so every one of them could answer",
        '"who has the VIP?". arp_ignore = 1 makes a server answer ARP only for addresses on the NIC',
        "the question came in on; arp_announce = 2 keeps the VIP out of the ARP requests it sends.",
        "Without them the client's neighbour entry for the VIP may point at a real server: its",
        "requests then bypass the director and all land on that one server.",
    ],
    reference: 'the kernel\'s Documentation/networking/ip-sysctl.rst (arp_ignore, arp_announce); the LVS-HOWTO, "The ARP problem"',
    needs: { mode: "dr" },
    breaks: `${SERVER}: arp_ignore and arp_announce back to 0 (all, lo and eth0)`,
    change: () => [
        {
            machine: SERVER,
            command:
                "sudo sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 " +
                "net.ipv4.conf.lo.arp_ignore=0 net.ipv4.conf.lo.arp_announce=0 net.ipv4.conf.eth0.arp_ignore=0 net.ipv4.conf.eth0.arp_announce=0",
        },
    ],
    see,
};

async function see({ out, topology }: LessonContext): Promise<Sighting> {
    const owners = macOwners(topology);
    const rounds: string[] = [];
    const statsBefore = await directorStats(out);
    const { frames } = await captureWhile(topology, SERVER, "public", ["arp"], 6 + ROUNDS * 5, async () => {
        for (let round = 1; round <= ROUNDS; round++) {
            await forgetVipNeighbour(out.vip);
            const tally = await sendRequests(out, REQUESTS_PER_ROUND);
            rounds.push(`round ${round}: this client's entry for the VIP on ${await vipNeighbourOwner(topology)}; ${tallyLine(tally)}`);
        }
    });
    const statsAfter = await directorStats(out);
    const replies = arpRepliesForVip(frames, out.vip, owners);
    const fromServer = Object.entries(replies)
        .filter(([who]) => who.startsWith(`${SERVER} `))
        .reduce((sum, [, count]) => sum + count, 0);
    const directorSaw = out.realServers.reduce((sum, server) => sum + connectionsTo(statsBefore, statsAfter, server.forwardingAddress), 0);
    await forgetVipNeighbour(out.vip);
    return {
        lines: [
            `ARP replies "${out.vip} is-at" on ${SERVER}'s link: ${
                Object.keys(replies).length === 0
                    ? "none"
                    : Object.entries(replies)
                          .map(([who, count]) => `${count} from ${who}`)
                          .join(", ")
            }`,
            ...rounds,
            `the director forwarded ${directorSaw} of the ${ROUNDS * REQUESTS_PER_ROUND} connections (ipvsadm --stats)` +
                (directorSaw < ROUNDS * REQUESTS_PER_ROUND ? "; the rest went straight to whoever answered ARP last" : ""),
        ],
        symptom: fromServer > 0,
    };
}
