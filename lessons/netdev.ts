// Lesson: the web root mounted without _netdev, across a reboot. systemd
// already orders an NFS mount after the network, and the lesson shows that
// evidence rather than invent a failure.
import type { BreakLesson, LessonContext, Sighting } from "./lesson";
import { delay, sshRun } from "../proofs/kit";
import { machineNamed } from "../scripts/tools/topology";

const SERVER = "web1";
const WEB_ROOT = "/var/www/html";
/** The boot before the lesson's reboot, kept where a reboot does not clear it. */
const BOOT_MARK = "/var/tmp/lvslab-lesson-boot";
const REBOOT_LIMIT_MS = 300_000;

export const netdevLesson: BreakLesson = {
    kind: "break",
    name: "netdev",
    title: "The web root mounted without _netdev, across a reboot",
    seedStep: "seed step 3, the real servers: 192.168.7.250:/opt/wwwroot /var/www/html nfs defaults,_netdev 0 0",
    why: [
        "_netdev tells the boot that a mount needs the network, so it waits for the network and is",
        "unmounted before the network goes down. On the seed's CentOS 6 that mattered: the init scripts",
        "mounted local filesystems before the network, and an NFS line without _netdev hung the boot.",
        "systemd's fstab generator knows nfs is a network filesystem by its type: without _netdev the",
        "mount still comes after network-online.target. The lesson reboots the server with the option",
        "gone and shows that evidence: the mount unit's ordering and the web root mounted.",
    ],
    reference: 'systemd.mount(5) (_netdev, "network file systems"); fstab(5)',
    breaks: `${SERVER}: _netdev taken out of the web root's fstab line, then a reboot`,
    change: () => [
        {
            machine: SERVER,
            command:
                `cat /proc/sys/kernel/random/boot_id | sudo tee ${BOOT_MARK} >/dev/null && ` +
                `sudo sed -i 's|\\(${WEB_ROOT} .*\\),_netdev|\\1|' /etc/fstab && sudo systemd-run --quiet --on-active=2 systemctl reboot`,
        },
    ],
    see,
};

/** Waits (bounded) until the server answers from a boot other than the one marked before the reboot. */
async function waitForNewBoot(context: LessonContext, host: string): Promise<void> {
    const deadline = Date.now() + REBOOT_LIMIT_MS;
    while (Date.now() < deadline) {
        const answer = await sshRun(context.out.ssh, host, `cat /proc/sys/kernel/random/boot_id; cat ${BOOT_MARK} 2>/dev/null || true`, 30_000, 10).catch(
            () => undefined,
        );
        const [now, marked] = (answer ?? "").trim().split("\n");
        if (answer !== undefined && now !== marked) {
            return;
        }
        await delay(3000);
    }
    throw new Error(`${SERVER} did not come back from its reboot within ${REBOOT_LIMIT_MS / 1000} s`);
}

async function see(context: LessonContext): Promise<Sighting> {
    const host = machineNamed(context.topology, SERVER).sshAddress;
    await waitForNewBoot(context, host);
    const text = await sshRun(
        context.out.ssh,
        host,
        `grep -F ' ${WEB_ROOT} ' /etc/fstab; echo @@; findmnt -n -o SOURCE,FSTYPE ${WEB_ROOT} || true; echo @@; ` +
            `sudo systemctl show -p After -p Wants --value var-www-html.mount | tr ' ' '\\n' | grep -E '^(network-online|remote-fs-pre|network)\\.target$' | sort -u | tr '\\n' ' '`,
        30_000,
    );
    const [fstab = "", mounted = "", ordering = ""] = text.split("@@").map((part) => part.trim());
    const withoutNetdev = fstab !== "" && !fstab.includes("_netdev");
    if (!withoutNetdev) {
        await sshRun(context.out.ssh, host, `sudo rm -f ${BOOT_MARK}`, 30_000);
    }
    return {
        lines: [
            `fstab: ${fstab || "(no line for the web root)"}`,
            `after the reboot: ${WEB_ROOT} ${mounted ? `mounted from ${mounted}` : "not mounted"}`,
            `var-www-html.mount is ordered after: ${ordering || "(none of network.target, network-online.target, remote-fs-pre.target)"}`,
        ],
        // The evidence: no _netdev, yet mounted after the boot, ordered after the network.
        symptom: withoutNetdev && mounted !== "" && ordering.includes("network-online.target"),
    };
}
