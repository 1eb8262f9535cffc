// What the lessons measure with, the tools a person would use: tcpdump on a
// machine's link, the kernel's counters (nstat), the director's per-server
// counters (ipvsadm --stats), and this client's neighbour entry for the VIP.
// The runner runs inside the lab host, the lab's client.
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import type { LabOutputValues } from "../components/program";
import { delay, sshRun } from "../proofs/kit";
import { LessonContext, RequestTally, sendRequests } from "./lesson";
import { Frame } from "../scripts/tools/capture";
import { readFrames, record } from "../scripts/tools/captureRun";
import { runChecked, tapOfNic, virshArgs } from "../scripts/tools/live";
import { neighbourMac, parseNetworkXml } from "../scripts/tools/parse";
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

/** Requests to the VIP one at a time for `ms`, each with a 1 s timeout: the tally. */
export async function sendRequestsFor(out: LabOutputValues, ms: number): Promise<RequestTally> {
    const until = Date.now() + ms;
    const total: RequestTally = { sent: 0, answered: 0, failed: 0, byServer: {} };
    while (Date.now() < until) {
        const one = await sendRequests(out, 1, 1000);
        total.sent += one.sent;
        total.answered += one.answered;
        total.failed += one.failed;
        for (const [server, count] of Object.entries(one.byServer)) {
            total.byServer[server] = (total.byServer[server] ?? 0) + count;
        }
        await delay(100);
    }
    return total;
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
function serverFrom(out: LabOutputValues, localAddress: string, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
        const request = http.get(
            { host: out.vip, port: out.port, path: "/", localAddress, agent: false, timeout: timeoutMs, headers: { connection: "close" } },
            (response) => {
                let body = "";
                response.setEncoding("utf8");
                response.on("data", (chunk: string) => (body += chunk));
                response.on("end", () => {
                    const server = response.headers[out.identityHeader.toLowerCase()];
                    resolve(response.statusCode === 200 && body.trim() === out.expectedPage && typeof server === "string" ? server : undefined);
                });
                response.on("error", () => resolve(undefined));
            },
        );
        request.on("timeout", () => request.destroy());
        request.on("error", () => resolve(undefined));
    });
}

/** ipvsadm's flag for a real server's forwarding method in a lab mode: -g (dr), -i (tun), -m (nat). Pure. */
export function ipvsadmMethodFlag(mode: string): string {
    return ({ dr: "-g", tun: "-i", nat: "-m" } as Readonly<Record<string, string>>)[mode] ?? "-g";
}
