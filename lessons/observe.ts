// What the lessons measure with, the tools a person would use: tcpdump on a
// machine's link, the kernel's counters (nstat), the director's per-server
// counters (ipvsadm --stats), and this client's neighbour entry for the VIP.
// The runner runs inside the lab host, the lab's client.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { LabOutputValues } from "../components/program";
import { delay, sshRun } from "../proofs/kit";
import { Frame } from "../scripts/tools/capture";
import { readFrames, record } from "../scripts/tools/captureRun";
import { runChecked, tapOfNic } from "../scripts/tools/live";
import { neighbourMac } from "../scripts/tools/parse";
import { LabTopology, machineNamed, macOwners, NicName, nicOf } from "../scripts/tools/topology";

/** The frames on a machine's link (its tap, host side) while `action` runs; tcpdump starts a second before. */
export async function captureWhile<T>(
    topology: LabTopology,
    machineName: string,
    nic: NicName,
    filter: string[],
    seconds: number,
    action: () => Promise<T>,
): Promise<{ frames: Frame[]; result: T }> {
    const machine = machineNamed(topology, machineName);
    const device = await tapOfNic(machine, nicOf(machine, nic));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-lesson-"));
    try {
        const file = path.join(dir, `${machineName}.pcap`);
        const recording = record(device, { seconds, file, filter });
        await delay(1000);
        const result = await action();
        await recording;
        return { frames: await readFrames(file), result };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Kernel counters on a guest (`nstat -asz NAME...`: absolute, history untouched), by name; a missing one reads 0. */
export async function kernelCounters(out: LabOutputValues, host: string, names: readonly string[]): Promise<Record<string, number>> {
    return parseNstat(await sshRun(out.ssh, host, `nstat -asz ${names.join(" ")}`, 30_000), names);
}

/** Parses `nstat` lines ("IpInAddrErrors   12   0.0"). Pure. */
export function parseNstat(text: string, names: readonly string[]): Record<string, number> {
    const counters: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]));
    for (const line of text.split("\n")) {
        const [name, value] = line.trim().split(/\s+/);
        if (name in counters && /^\d+$/.test(value ?? "")) {
            counters[name] = Number(value);
        }
    }
    return counters;
}

/** One real server's line of `ipvsadm -Ln --stats`. */
export interface ServerStats {
    server: string;
    connections: number;
    inPackets: number;
    outPackets: number;
}

/** Parses `ipvsadm -Ln --stats -t VIP:PORT` ("  -> 172.16.16.177:80   12   60   0   4000   0"). Pure. */
export function parseIpvsStats(text: string): ServerStats[] {
    const stats: ServerStats[] = [];
    for (const line of text.split("\n")) {
        const match = /^\s*->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+/.exec(line);
        if (match) {
            stats.push({ server: match[1], connections: Number(match[2]), inPackets: Number(match[3]), outPackets: Number(match[4]) });
        }
    }
    return stats;
}

/** The MASTER's (first director's) counters for the VIP's first port, per real server address. */
export async function directorStats(out: LabOutputValues): Promise<ServerStats[]> {
    return parseIpvsStats(await sshRun(out.ssh, out.directors[0].publicIp, `sudo ipvsadm -Ln --stats -t ${out.vip}:${out.port}`, 30_000));
}

/** Connections the director sent to `address` between two readings. Pure. */
export function connectionsTo(before: readonly ServerStats[], after: readonly ServerStats[], address: string): number {
    const count = (stats: readonly ServerStats[]): number => stats.find((entry) => entry.server.startsWith(`${address}:`))?.connections ?? 0;
    return count(after) - count(before);
}

/** Forgets this client's neighbour entry for the VIP, so the next packet asks ARP again. */
export async function forgetVipNeighbour(vip: string): Promise<void> {
    await runChecked("ip", ["neigh", "flush", "to", vip], 5000);
}

/** Whose MAC this client's neighbour table has for the VIP ("director public", "web1 public"), or "none". */
export async function vipNeighbourOwner(topology: LabTopology): Promise<string> {
    const mac = neighbourMac(await runChecked("ip", ["neigh", "show", topology.vip], 5000), topology.vip);
    return mac === undefined ? "none" : (macOwners(topology).get(mac) ?? mac);
}

/** ARP replies in `frames` that say the VIP is at some MAC, counted by whose MAC. Pure. */
export function arpRepliesForVip(frames: readonly Frame[], vip: string, owners: ReadonlyMap<string, string>): Record<string, number> {
    const replies: Record<string, number> = {};
    for (const frame of frames) {
        if (frame.etherType === "ARP" && new RegExp(`Reply ${vip.replace(/\./g, "\\.")} is-at`).test(frame.what)) {
            const who = owners.get(frame.sourceMac) ?? frame.sourceMac;
            replies[who] = (replies[who] ?? 0) + 1;
        }
    }
    return replies;
}
