// Lesson: NAT with a real server whose replies do not go back through the director.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { sendRequests, tallyLine } from "./lesson";
import { captureWhile } from "./observe";

const SERVER = "web4";
/** The routing rule the NAT step adds (cloud-init/steps/real-server-forwarding.sh: NAT_RULE_PRIORITY). */
const NAT_RULE_PRIORITY = 1000;

export const natReturnPathLesson: BreakLesson = {
    kind: "break",
    name: "nat-return-path",
    title: "NAT with a real server whose replies bypass the director",
    seedStep: "the seed's cluster in NAT mode (mode nat): the real servers' replies routed back through the director",
    why: [
        "In NAT the director rewrites the VIP to the real server's address on the way in, and must",
        "rewrite it back on the way out: every reply has to pass through it. Here the real servers",
        "also sit on the clients' network, so their own routing would send replies straight to the",
        "client, from the real server's address; the client knows no such connection and resets it.",
        `The lab adds a routing rule (priority ${NAT_RULE_PRIORITY}) that sends replies from the storage address via the director.`,
    ],
    reference: 'the LVS-HOWTO, "LVS-NAT" (the realservers\' default gateway is the director)',
    needs: { mode: "nat" },
    breaks: `${SERVER}: the routing rule that sends its replies back through the director removed`,
    change: () => [{ machine: SERVER, command: `sudo ip rule del priority ${NAT_RULE_PRIORITY}` }],
    see,
};

async function see({ out, topology }: LessonContext): Promise<Sighting> {
    const server = out.realServers.find((entry) => entry.name === SERVER);
    if (!server) {
        throw new Error(`the lab has no ${SERVER}`);
    }
    // Replies that bypass the director leave the server's public NIC from its storage address.
    const { frames, result } = await captureWhile(topology, SERVER, "public", ["tcp", "and", "src", "host", server.forwardingAddress], 14, () =>
        sendRequests(out, 24),
    );
    return {
        lines: [
            tallyLine(result),
            `frames from ${SERVER}'s storage address ${server.forwardingAddress} leaving by its public NIC, past the director: ${frames.length}`,
        ],
        symptom: result.failed > 0 && frames.length > 0,
    };
}
