// Lesson: no health check. A stopped apache keeps its share of connections;
// with keepalived's check, it leaves the table.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { sendRequests, tallyLine } from "./lesson";
import { sshRun } from "../proofs/kit";
import { machineNamed } from "../scripts/tools/topology";

const SERVER = "web2";

export const healthCheckLesson: BreakLesson = {
    kind: "break",
    name: "health-check",
    title: "No health check: a stopped web server keeps its share",
    seedStep: "beyond the seed: its ipvsadm table is static; the lab can let keepalived check each real server (healthCheck http)",
    why: [
        "ipvsadm alone sends connections to every real server in the table, whether it answers or not:",
        "a stopped web server keeps its share and those clients wait for nothing. keepalived's HTTP_GET",
        "check asks each server for the page every few seconds and takes one out of the table when it",
        "fails (and back when it answers): the failures last one check window, not until someone looks.",
        "The lesson stops apache on one server with the check off, then with it on.",
    ],
    reference: "keepalived.conf(5), HTTP_GET / delay_loop / retry; ipvsadm(8)",
    needs: { healthCheck: "http", healthCheckInterval: "2", healthCheckTimeout: "1", healthCheckRetries: "1" },
    breaks: "the health check off (config healthCheck none)",
    change: () => [],
    breakConfig: { healthCheck: "none" },
    see,
};

async function see({ out, topology }: LessonContext): Promise<Sighting> {
    const host = machineNamed(topology, SERVER).sshAddress;
    const address = out.realServers.find((server) => server.name === SERVER)?.forwardingAddress ?? host;
    // Long enough for a check window and then some: what is still failing after it, the check did not catch.
    const windowSeconds = Math.max(out.healthCheck.windowSeconds, 5);
    await sshRun(out.ssh, host, "sudo systemctl stop apache2", 60_000);
    try {
        const early = await sendRequests(out, 0, 1000, { forMs: windowSeconds * 1000 + 3000, pauseMs: 100 });
        const late = await sendRequests(out, 0, 1000, { forMs: 6000, pauseMs: 100 });
        const table = await sshRun(out.ssh, out.directors[0].publicIp, `sudo ipvsadm -Ln -t ${out.vip}:${out.port}`, 30_000);
        const listed = table.includes(` ${address}:${out.port} `);
        return {
            lines: [
                `apache stopped on ${SERVER}; health check ${out.healthCheck.kind}${out.healthCheck.kind === "none" ? "" : ` (window ${out.healthCheck.windowSeconds} s)`}`,
                `in the first ${windowSeconds + 3} s: ${tallyLine(early)}`,
                `in the 6 s after: ${tallyLine(late)}`,
                `the director's table ${listed ? "still lists" : "no longer lists"} ${SERVER}`,
            ],
            symptom: late.failed > 0 && listed,
        };
    } finally {
        await sshRun(out.ssh, host, "sudo systemctl start apache2", 60_000);
    }
}
