// Lesson: the director's ICMP redirects left on. On this path the kernel
// sends none, and the lesson shows why rather than invent a failure.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { sendRequests, tallyLine } from "./lesson";
import { captureWhile } from "./observe";
import { sshRun } from "../proofs/kit";

const DIRECTOR_NIC = "eth0";

export const redirectsLesson: BreakLesson = {
    kind: "break",
    name: "redirects",
    title: "The director's ICMP redirects left on (send_redirects 1)",
    seedStep: "seed step 1, the director: net.ipv4.conf.{all,default,eth0}.send_redirects = 0",
    why: [
        "A router that forwards a packet out of the NIC it came in on tells the sender, by an ICMP",
        "redirect, that a shorter way exists; the seed turns that off because the director and the real",
        "servers share the VIP's network, and a redirect would teach a host to skip the director.",
        "On this lab nothing goes wrong with it on: the director does not route (ip_forward 0), and",
        "IPVS puts direct-routing frames on the wire itself, so the kernel's forwarding path, the only",
        "one that sends redirects, never sees them. The lesson shows that evidence: the setting on,",
        "ip_forward 0, and a capture of the director's link under load with no redirect in it.",
    ],
    reference: "the kernel's Documentation/networking/ip-sysctl.rst (send_redirects, ip_forward); RFC 1812 5.2.7.2",
    needs: { mode: "dr" },
    breaks: `director: send_redirects 1 (all and ${DIRECTOR_NIC})`,
    change: () => [{ machine: "director", command: `sudo sysctl -qw net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.${DIRECTOR_NIC}.send_redirects=1` }],
    see,
};

async function see({ out, topology }: LessonContext): Promise<Sighting> {
    const director = out.directors[0];
    const settings = (
        await sshRun(
            out.ssh,
            director.publicIp,
            `cat /proc/sys/net/ipv4/conf/all/send_redirects /proc/sys/net/ipv4/conf/${DIRECTOR_NIC}/send_redirects /proc/sys/net/ipv4/ip_forward`,
            30_000,
        )
    )
        .trim()
        .split(/\s+/);
    const [all, nic, forward] = settings;
    const { frames, result } = await captureWhile(topology, director.name, "public", ["icmp[icmptype] == icmp-redirect"], 12, () => sendRequests(out, 40));
    const on = all === "1" || nic === "1";
    return {
        lines: [
            `director: send_redirects all ${all}, ${DIRECTOR_NIC} ${nic}; ip_forward ${forward}`,
            `${tallyLine(result)}; ICMP redirects on the director's link meanwhile: ${frames.length}`,
            on && frames.length === 0 ? "as the lesson says: the setting is on and no redirect was sent on this path" : "",
        ].filter((line) => line !== ""),
        // The evidence the lesson states: on, no forwarding, no redirect on the wire.
        symptom: on && forward === "0" && frames.length === 0,
    };
}
