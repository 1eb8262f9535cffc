// Lesson: IP tunnelling with strict reverse-path filtering on a real server.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { sendRequests, tallyLine } from "./lesson";
import { kernelCounters } from "./observe";
import { machineNamed } from "../scripts/tools/topology";

const SERVER = "web3";

export const tunRpFilterLesson: BreakLesson = {
    kind: "break",
    name: "tun-rp-filter",
    title: "IP tunnelling with strict reverse-path filtering on a real server",
    seedStep: "the seed's direct routing, moved to IP tunnelling (mode tun): rp_filter 0 on all and tunl0",
    why: [
        "In tunnelling the director wraps each client packet in IPIP to the real server, which unwraps",
        "it on tunl0. The client's address is reached through the public NIC, not tunl0, so strict",
        "reverse-path filtering (rp_filter 1: the reply route must leave by the NIC the packet came in",
        "on) drops every unwrapped packet. The lab turns it off for tunl0 (and all, since the kernel",
        "uses the larger of the two).",
    ],
    reference: 'the kernel\'s Documentation/networking/ip-sysctl.rst (rp_filter); the LVS-HOWTO, "LVS-Tun"',
    needs: { mode: "tun" },
    breaks: `${SERVER}: rp_filter 1 (strict) on all and tunl0`,
    change: () => [{ machine: SERVER, command: "sudo sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.tunl0.rp_filter=1" }],
    see,
};

async function see({ out, topology }: LessonContext): Promise<Sighting> {
    const host = machineNamed(topology, SERVER).sshAddress;
    const counters = ["TcpExtIPReversePathFilter"];
    const before = await kernelCounters(out, host, counters);
    const tally = await sendRequests(out, 24);
    const after = await kernelCounters(out, host, counters);
    const dropped = after.TcpExtIPReversePathFilter - before.TcpExtIPReversePathFilter;
    return {
        lines: [tallyLine(tally), `${SERVER}'s reverse-path filter dropped ${dropped} packet(s) meanwhile (nstat TcpExtIPReversePathFilter)`],
        symptom: tally.failed > 0 && (tally.byServer[SERVER] ?? 0) === 0,
    };
}
