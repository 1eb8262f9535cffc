// What the lessons measure with, the tools a person would use: tcpdump on a
// machine's link, the kernel's counters (nstat), the director's per-server
// counters (ipvsadm --stats), and this client's neighbour entry for the VIP.
// The runner runs inside the lab host, the lab's client.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { LabOutputValues } from "../components/program";
import { delay, get, sshRun } from "../proofs/kit";
import type { LessonContext } from "./lesson";
import { Frame } from "../scripts/tools/capture";
import { readFrames, record } from "../scripts/tools/captureRun";
import { neighbourMacHere, runChecked, tapOfNic, virshArgs } from "../scripts/tools/live";
import { IpvsDestination, mergeIpvsStats, parseIpvsTable, parseNetworkXml } from "../scripts/tools/parse";
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

/** The MASTER's (first director's) table for the VIP's first port, its counters merged in: one login, `ipvsadm -Ln` and `--stats`. */
export async function directorStats(out: LabOutputValues): Promise<IpvsDestination[]> {
    const service = `-t ${out.vip}:${out.port}`;
    const text = await sshRun(
        out.ssh,
        out.directors[0].publicIp,
        `sudo ipvsadm -Ln ${service}; echo ${STATS_MARK}; sudo ipvsadm -Ln --stats ${service}`,
        30_000,
    );
    const [table, stats = ""] = text.split(STATS_MARK);
    return mergeIpvsStats(parseIpvsTable(table), stats).flatMap((entry) => entry.destinations);
}

const STATS_MARK = "@@lvslab-stats@@";

/** Connections the director sent to `address` between two readings. Pure. */
export function connectionsTo(before: readonly IpvsDestination[], after: readonly IpvsDestination[], address: string): number {
    const count = (stats: readonly IpvsDestination[]): number => stats.find((entry) => entry.address === address)?.connections ?? 0;
    return count(after) - count(before);
}

/** Forgets this client's neighbour entry for the VIP, so the next packet asks ARP again. */
export async function forgetVipNeighbour(vip: string): Promise<void> {
    await runChecked("ip", ["neigh", "flush", "to", vip], 5000);
}

/** Whose MAC this client's neighbour table has for the VIP ("director public", "web1 public"), or "none". */
export async function vipNeighbourOwner(topology: LabTopology): Promise<string> {
    const mac = await neighbourMacHere(topology.vip);
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

/** The lab host's bridge on the public network, and its own address and prefix there. */
async function publicBridge(topology: LabTopology): Promise<{ bridge: string; address: string; prefix: number }> {
    const facts = parseNetworkXml(await runChecked("virsh", virshArgs(topology.libvirtUri, "net-dumpxml", topology.networks.public), 10_000));
    if (!facts.bridge || !facts.hostAddress || facts.prefixLength === undefined) {
        throw new Error(`the public network ${topology.networks.public} has no bridge with an address of this host`);
    }
    return { bridge: facts.bridge, address: facts.hostAddress, prefix: facts.prefixLength };
}

/** Addresses in the public subnet nobody in the lab uses, from the low end, `count` of them. Pure. */
export function freeAddresses(hostAddress: string, prefix: number, used: ReadonlySet<string>, count: number): string[] {
    const toNumber = (address: string): number => address.split(".").reduce((total, octet) => total * 256 + Number(octet), 0);
    const toText = (value: number): string => [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
    const size = 2 ** (32 - prefix);
    const network = toNumber(hostAddress) - (toNumber(hostAddress) % size);
    const free: string[] = [];
    for (let offset = 2; offset < size - 1 && free.length < count; offset++) {
        const address = toText(network + offset);
        if (!used.has(address) && address !== hostAddress) {
            free.push(address);
        }
    }
    return free;
}

/** `count` client addresses for a population of clients: free ones in the public subnet. */
export async function clientAddresses(context: LessonContext, count: number): Promise<string[]> {
    const { address, prefix } = await publicBridge(context.topology);
    const used = new Set([context.out.vip, ...context.topology.machines.flatMap((machine) => machine.nics.map((nic) => nic.address))]);
    const free = freeAddresses(address, prefix, used, count);
    if (free.length < count) {
        throw new Error(`the public subnet has only ${free.length} free addresses, not ${count}`);
    }
    return free;
}

/** Runs `action` with `addresses` added (as /32) to the lab host's public bridge; they are removed afterwards, whatever happens. */
export async function withClientAddresses<T>(context: LessonContext, addresses: readonly string[], action: () => Promise<T>): Promise<T> {
    const { bridge } = await publicBridge(context.topology);
    const added: string[] = [];
    try {
        for (const address of addresses) {
            await runChecked("ip", ["addr", "add", `${address}/32`, "dev", bridge], 5000);
            added.push(address);
        }
        return await action();
    } finally {
        for (const address of added) {
            await runChecked("ip", ["addr", "del", `${address}/32`, "dev", bridge], 5000).catch(() => undefined);
        }
    }
}

/** One connection from each address: which server answered it (undefined: it failed). */
export async function landingsFrom(context: LessonContext, addresses: readonly string[]): Promise<Map<string, string | undefined>> {
    const landings = new Map<string, string | undefined>();
    for (const address of addresses) {
        landings.set(address, await serverFrom(context.out, address, 3000));
    }
    return landings;
}

/** A GET of the VIP from `localAddress`: the identity header of the server that answered with the page, or undefined. */
async function serverFrom(out: LabOutputValues, localAddress: string, timeoutMs: number): Promise<string | undefined> {
    const answer = await get(out.vipUrl, out.identityHeader, timeoutMs, { localAddress }).catch(() => undefined);
    return answer && answer.status === 200 && answer.body.trim() === out.expectedPage ? answer.server : undefined;
}

/** ipvsadm's flag for a real server's forwarding method in a lab mode: -g (dr), -i (tun), -m (nat). Pure. */
export function ipvsadmMethodFlag(mode: string): string {
    return ({ dr: "-g", tun: "-i", nat: "-m" } as Readonly<Record<string, string>>)[mode] ?? "-g";
}
