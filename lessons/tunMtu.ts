// Lesson: IP tunnelling and the MTU. Without the MSS clamp on a real server,
// a client's full-size segments do not fit the director's tunnel, and where
// ICMP "fragmentation needed" does not reach the client, they never arrive.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { captureWhile } from "./observe";
import { get } from "../proofs/kit";
import { runChecked } from "../scripts/tools/live";
import type { LabOutputValues } from "../components/program";

const SERVER = "web1";
const REQUESTS = 16;
/** Three 4 KiB headers: a request that fills several full-size segments. */
const BIG_HEADERS: Readonly<Record<string, string>> = Object.fromEntries(["x-lesson-a", "x-lesson-b", "x-lesson-c"].map((name) => [name, "z".repeat(4096)]));
/** The rule the lesson adds on this client for its "See", and removes: a firewall that drops ICMP "fragmentation needed". */
const DROP_FRAG_NEEDED = [
    "INPUT",
    "-p",
    "icmp",
    "--icmp-type",
    "fragmentation-needed",
    "-m",
    "comment",
    "--comment",
    "lvs-dr-lab lesson tun-mtu",
    "-j",
    "DROP",
];

export const tunMtuLesson: BreakLesson = {
    kind: "break",
    name: "tun-mtu",
    title: "IP tunnelling and the MTU: a large request through the tunnel",
    seedStep: "the seed's cluster in IP tunnelling (mode tun): the real servers clamp the MSS of their SYN-ACKs",
    why: [
        "The director wraps each client packet in IPIP, 20 bytes more. A client that sends full-size",
        "segments (1500-byte packets, the MSS the real server offered) gets packets that no longer fit:",
        'the director drops them and sends ICMP "fragmentation needed"; where a firewall drops that ICMP',
        "(a path-MTU black hole), large requests hang for good. The lab clamps the MSS the real servers",
        "advertise to the NIC's MTU less 60, so a client's segments fit the tunnel from the start.",
        "The lesson takes the clamp off one server and sends large requests from a client whose firewall drops that ICMP.",
    ],
    reference: 'the LVS-HOWTO, "LVS-Tun" and "MTU"; RFC 1191 (path MTU discovery); iptables-extensions(8), TCPMSS',
    needs: { mode: "tun" },
    breaks: `${SERVER}: the MSS clamp on its SYN-ACKs removed (iptables -t mangle -F OUTPUT)`,
    change: () => [{ machine: SERVER, command: "sudo iptables -w -t mangle -F OUTPUT" }],
    see,
};

/** A GET of the VIP with large headers: the server that answered, or undefined when it did not within the timeout. */
async function bigRequest(out: LabOutputValues, timeoutMs: number): Promise<string | undefined> {
    const answer = await get(out.vipUrl, out.identityHeader, timeoutMs, { headers: BIG_HEADERS }).catch(() => undefined);
    return answer?.status === 200 ? answer.server : undefined;
}

async function see({ out, topology }: LessonContext): Promise<Sighting> {
    const director = out.directors[0];
    await runChecked("iptables", ["-w", "-I", ...DROP_FRAG_NEEDED], 10_000);
    try {
        // Forget what this client learnt of the path before.
        await runChecked("ip", ["route", "flush", "cache"], 5000);
        const { frames, result } = await captureWhile(
            topology,
            director.name,
            "public",
            ["icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 4"],
            10 + REQUESTS * 3,
            async () => {
                const byServer: Record<string, number> = {};
                let failed = 0;
                for (let i = 0; i < REQUESTS; i++) {
                    const server = await bigRequest(out, 3000);
                    if (server === undefined) {
                        failed++;
                    } else {
                        byServer[server] = (byServer[server] ?? 0) + 1;
                    }
                }
                return { byServer, failed };
            },
        );
        const answered = Object.entries(result.byServer)
            .sort()
            .map(([server, count]) => `${server} ${count}`)
            .join(", ");
        return {
            lines: [
                `this client drops ICMP "fragmentation needed" (iptables ${DROP_FRAG_NEEDED.slice(0, 5).join(" ")} ... -j DROP)`,
                `${REQUESTS} requests with 12 KiB of headers: ${REQUESTS - result.failed} answered (${answered || "none"}), ${result.failed} got no answer within 3 s`,
                `ICMP "fragmentation needed" from the director on its link meanwhile: ${frames.length}`,
            ],
            symptom: result.failed > 0 && frames.length > 0,
        };
    } finally {
        await runChecked("iptables", ["-w", "-D", ...DROP_FRAG_NEEDED], 10_000).catch(() => undefined);
    }
}
