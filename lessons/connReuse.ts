// Lesson: draining a real server while clients reuse source ports, under the
// kernel's default conn_reuse_mode (the bug this lab itself had).
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { ipvsadmMethodFlag } from "./observe";
import { landedOn, requestFrom, sshRun } from "../proofs/kit";
import { portsLandingOn } from "../proofs/drain";

const SERVER = "web1";
const PORTS = 8;

export const connReuseLesson: BreakLesson = {
    kind: "break",
    name: "conn-reuse",
    title: "Draining a server while clients reuse source ports (conn_reuse_mode)",
    seedStep: "beyond the seed: draining a real server (weight 0), with net.ipv4.vs.conn_reuse_mode 3 and expire_nodest_conn 1",
    why: [
        "Weight 0 drains a real server: no new connection should reach it. But the director keeps an",
        "entry for each connection a while after it closed (2 minutes in FIN_WAIT under direct routing,",
        "where it never sees the server's side), and a new connection from the same client address and",
        "port meets that entry. With the kernel's defaults (conn_reuse_mode 1, expire_nodest_conn 0)",
        "IPVS sends it where the old entry points: to the drained server. The lab sets 3 and 1, so such",
        "a connection is scheduled afresh. This lab shipped with the defaults once; its drain check caught it.",
    ],
    reference: "the kernel's Documentation/networking/ipvs-sysctl.rst (conn_reuse_mode, expire_nodest_conn)",
    needs: { mode: "dr" },
    breaks: "director: conn_reuse_mode 1 and expire_nodest_conn 0 (the kernel's defaults)",
    change: ({ out }) =>
        out.directors.map((director) => ({
            machine: director.name,
            command: "sudo sysctl -qw net.ipv4.vs.conn_reuse_mode=1 net.ipv4.vs.expire_nodest_conn=0",
        })),
    see,
};

async function see({ out }: LessonContext): Promise<Sighting> {
    const server = out.realServers.find((entry) => entry.name === SERVER);
    if (!server) {
        throw new Error(`the lab has no ${SERVER}`);
    }
    const weight = (value: number): string =>
        `sudo ipvsadm -e -t ${out.vip}:${out.port} -r ${server.forwardingAddress}:${out.port} ${ipvsadmMethodFlag(out.mode)} -w ${value}`;
    const landed = await portsLandingOn(out, SERVER, PORTS);
    const master = out.directors[0].publicIp;
    await sshRun(out.ssh, master, weight(0), 30_000);
    try {
        const again = [];
        for (const landing of landed) {
            again.push(await requestFrom(out, landing.localPort, 8000));
        }
        const onDrained = again.filter((landing) => landedOn(landing, SERVER)).length;
        const settings = (await sshRun(out.ssh, master, "cat /proc/sys/net/ipv4/vs/conn_reuse_mode /proc/sys/net/ipv4/vs/expire_nodest_conn", 30_000))
            .trim()
            .split(/\s+/);
        return {
            lines: [
                `director: conn_reuse_mode ${settings[0]}, expire_nodest_conn ${settings[1]}`,
                `${PORTS} connections from fresh source ports landed on ${SERVER}; then ${SERVER} drained (${weight(0)})`,
                `the same ${PORTS} source ports again, right away: ${onDrained} landed on the drained ${SERVER}, ${again.length - onDrained} elsewhere or failed`,
            ],
            symptom: onDrained > 0,
        };
    } finally {
        await sshRun(out.ssh, master, weight(server.weight), 30_000);
    }
}
