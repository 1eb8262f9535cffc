// `scripts/lab capture`: what crosses one machine's NIC, seen from the host
// side of its link (the tap libvirt made for it, found by the NIC's MAC in
// `virsh domiflist`), with tcpdump inside the lab host. The summary names
// every MAC it knows (which machine, which NIC; the lab host's bridges) and
// counts the frames to and from the VIP by who sent and who received them,
// which is where direct routing shows: the director passes a client's frame
// for the VIP to a real server's MAC unchanged, and the real server answers
// from the VIP itself, never through the director.
// A machine of a spread lab that runs on another host has its tap there: the
// capture runs on that host (over ssh, as libvirt reaches it), into a file
// under its /tmp that is read there, copied here and removed.
import { DomainInterface } from "./parse";
import { LabMachine, MachineNic } from "./topology";

/** The tap of a NIC, or why there is none. */
export function tapOf(machine: LabMachine, nic: MachineNic, interfaces: DomainInterface[]): string {
    const row = interfaces.find((i) => i.mac === nic.mac.toLowerCase());
    if (!row) {
        throw new Error(`${machine.name}'s domain has no NIC with MAC ${nic.mac} (its ${nic.network} NIC): was it redefined outside the lab?`);
    }
    if (row.device === "-" || row.device === "") {
        throw new Error(`${machine.name} is not running, so its ${nic.network} NIC has no tap to capture on (scripts/lab node start ${machine.name})`);
    }
    return row.device;
}

export interface CaptureRequest {
    device: string;
    file: string;
    seconds: number;
    filter: string[];
}

/** tcpdump's arguments: numeric, packet-buffered (nothing lost when time is up), still root (so it can write where root can). */
export function tcpdumpArgs(request: CaptureRequest): string[] {
    return ["-i", request.device, "-n", "-U", "-Z", "root", "-w", request.file, ...request.filter];
}

/** The whole command that records: timeout(1) ends tcpdump with SIGINT after `seconds`, so it closes the file cleanly. */
export function recordArgv(request: CaptureRequest): string[] {
    return ["timeout", "--signal=INT", "--kill-after=5", String(request.seconds), "tcpdump", ...tcpdumpArgs(request)];
}

/** Reads a capture back as the summary parses it. */
export function readArgv(file: string): string[] {
    return ["tcpdump", "-r", file, "-nn", "-e", "-q"];
}

/** Where a capture on another host is written: its /tmp, named after the machine, the NIC and `unique` (a stamp and this process). */
export function remoteCaptureFile(machine: string, nic: string, unique: string): string {
    return `/tmp/lvslab-capture-${`${machine}-${nic}-${unique}`.replace(/[^A-Za-z0-9_.-]/g, "_")}.pcap`;
}

/** Prints a remote capture as text that crosses ssh unharmed (base64; the bytes are decoded here). */
export function copyBackArgv(file: string): string[] {
    return ["base64", file];
}

export function removeArgv(file: string): string[] {
    return ["rm", "-f", file];
}

/** One frame of `tcpdump -r FILE -nn -e -q` (or without -q), reduced to what the summary groups by. */
export interface Frame {
    sourceMac: string;
    destinationMac: string;
    /** "IPv4", "ARP", ... */
    etherType: string;
    sourceIp?: string;
    destinationIp?: string;
    sourcePort?: number;
    destinationPort?: number;
    /** tcp, udp, ICMP, VRRPv2, or the ARP sentence. */
    what: string;
}

const MAC = "[0-9a-f]{2}(?::[0-9a-f]{2}){5}";
// With -q, tcpdump names the frame's type shortly ("IPv4", "ARP", "802.3");
// without it, "ethertype IPv4 (0x0800)". Both are read.
const FRAME_LINE = new RegExp(`^\\S+\\s+(${MAC}) > (${MAC}), (?:ethertype )?([^,(]+?)(?: \\(0x[0-9a-f]+\\))?, length \\d+: (.*)$`, "i");

function endpoint(text: string): { ip: string; port?: number } {
    // tcpdump writes an IPv4 endpoint with its port as a fifth dotted part.
    const parts = text.replace(/:$/, "").split(".");
    if (parts.length === 5) {
        return { ip: parts.slice(0, 4).join("."), port: Number(parts[4]) };
    }
    return { ip: parts.join(".") };
}

export function parseFrame(line: string): Frame | undefined {
    const match = FRAME_LINE.exec(line.trim());
    if (!match) {
        return undefined;
    }
    const [, sourceMac, destinationMac, etherType, rest] = match;
    const frame: Frame = { sourceMac: sourceMac.toLowerCase(), destinationMac: destinationMac.toLowerCase(), etherType, what: rest };
    if (etherType === "IPv4") {
        const ip = /^(\S+) > (\S+?):? (.*)$/.exec(rest);
        if (ip) {
            const source = endpoint(ip[1]);
            const destination = endpoint(ip[2]);
            frame.sourceIp = source.ip;
            frame.sourcePort = source.port;
            frame.destinationIp = destination.ip;
            frame.destinationPort = destination.port;
            frame.what = ip[3].split(/[\s,]/)[0];
        }
    } else if (etherType === "ARP") {
        frame.what = `ARP ${rest.replace(/, length \d+$/, "")}`;
    }
    return frame;
}

export interface CaptureSummary {
    frames: number;
    /** "sender > receiver: what", with its frame count, most frames first. */
    conversations: { text: string; frames: number }[];
    /** Frames whose destination IP is the VIP, by "sender MAC > receiver MAC". */
    toVip: { text: string; frames: number }[];
    /** Frames whose source IP is the VIP, by "sender MAC > receiver MAC". */
    fromVip: { text: string; frames: number }[];
}

function counted(counts: Map<string, number>): { text: string; frames: number }[] {
    return [...counts].map(([text, frames]) => ({ text, frames })).sort((a, b) => b.frames - a.frames || a.text.localeCompare(b.text));
}

function add(counts: Map<string, number>, key: string): void {
    counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Groups frames so a person sees who talked to whom; a client's ephemeral port is left out, the service port kept. */
export function summarizeFrames(frames: Frame[], macOwners: Map<string, string>, vip: string): CaptureSummary {
    const name = (mac: string): string => (mac === "ff:ff:ff:ff:ff:ff" ? "broadcast" : (macOwners.get(mac) ?? mac));
    const conversations = new Map<string, number>();
    const toVip = new Map<string, number>();
    const fromVip = new Map<string, number>();
    for (const frame of frames) {
        const macs = `${name(frame.sourceMac)} > ${name(frame.destinationMac)}`;
        let what = frame.what;
        if (frame.sourceIp !== undefined && frame.destinationIp !== undefined) {
            const servicePortOnDestination =
                frame.destinationPort !== undefined && (frame.sourcePort === undefined || frame.destinationPort <= frame.sourcePort);
            const source = !servicePortOnDestination && frame.sourcePort !== undefined ? `${frame.sourceIp}:${frame.sourcePort}` : frame.sourceIp;
            const destination =
                servicePortOnDestination && frame.destinationPort !== undefined ? `${frame.destinationIp}:${frame.destinationPort}` : frame.destinationIp;
            what = `${source} > ${destination} ${frame.what}`;
            if (frame.destinationIp === vip) {
                add(toVip, macs);
            }
            if (frame.sourceIp === vip) {
                add(fromVip, macs);
            }
        }
        add(conversations, `${macs}: ${what}`);
    }
    return { frames: frames.length, conversations: counted(conversations), toVip: counted(toVip), fromVip: counted(fromVip) };
}

export function renderSummary(summary: CaptureSummary, vip: string, limit = 15): string {
    const lines = [`${summary.frames} frames`];
    const shown = summary.conversations.slice(0, limit);
    for (const c of shown) {
        lines.push(`  ${String(c.frames).padStart(6)}  ${c.text}`);
    }
    if (summary.conversations.length > shown.length) {
        lines.push(`  ... and ${summary.conversations.length - shown.length} more kinds of frame`);
    }
    const total = (rows: { frames: number }[]): number => rows.reduce((sum, r) => sum + r.frames, 0);
    lines.push(`to the VIP ${vip}: ${total(summary.toVip)} frames${summary.toVip.length > 0 ? "" : " (none)"}`);
    for (const row of summary.toVip) {
        lines.push(`  ${String(row.frames).padStart(6)}  ${row.text}`);
    }
    lines.push(`from the VIP ${vip}: ${total(summary.fromVip)} frames${summary.fromVip.length > 0 ? "" : " (none)"}`);
    for (const row of summary.fromVip) {
        lines.push(`  ${String(row.frames).padStart(6)}  ${row.text}`);
    }
    return `${lines.join("\n")}\n`;
}
