// Lesson: persistence on and off. Which server one client lands on, over time.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { sendRequests, tallyLine } from "./lesson";

const REQUESTS = 20;
const PERSISTENCE_SECONDS = "120";

export const persistenceLesson: BreakLesson = {
    kind: "break",
    name: "persistence",
    title: "Persistence on and off: which server one client lands on",
    seedStep: "seed step 1, the director: ipvsadm -A -t VIP:80 -s rr (no -p); the lab's persistenceTimeout",
    why: [
        "Without persistence every new connection is scheduled on its own: one client's requests go",
        "round the real servers (rr). Some applications keep a session on the server that served the",
        "first request (a login, a cart): persistence (ipvsadm -p SECONDS) sends every connection from",
        "one client address to the same server while its template lives. The lesson turns it on, then",
        "off, and counts where one client's requests land.",
    ],
    reference: 'ipvsadm(8), -p/--persistent; the LVS-HOWTO, "Persistent connection"',
    needs: { persistenceTimeout: PERSISTENCE_SECONDS },
    breaks: "persistence off (config persistenceTimeout 0)",
    change: () => [],
    breakConfig: { persistenceTimeout: "0" },
    see,
};

async function see({ out }: LessonContext): Promise<Sighting> {
    const tally = await sendRequests(out, REQUESTS);
    const servers = Object.keys(tally.byServer).length;
    return {
        lines: [`one client, ${REQUESTS} connections one after another: ${tallyLine(tally)}; ${servers} server(s)`],
        // Broken (persistence off): the client's connections spread over the servers.
        symptom: servers > 1,
    };
}
