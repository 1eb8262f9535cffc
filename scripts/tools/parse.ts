// Readers for what the live tools get back: `ipvsadm -Ln` and its `--stats`
// form, `virsh list --all`, `virsh domiflist`, a network's XML, and
// `ip -o -4 addr show`. Pure, so each is tested on real output.

/** One real server in a virtual service of a director's live IPVS table. */
export interface IpvsDestination {
    address: string;
    port: number;
    /** Route (DR), Masq (NAT), Tunnel (IPIP) or Local. */
    forward: string;
    weight: number;
    active: number;
    inactive: number;
    /** From `--stats`: connections since the service was made, packets and bytes. */
    connections?: number;
    inPackets?: number;
    outPackets?: number;
    inBytes?: number;
    outBytes?: number;
}

export interface IpvsService {
    protocol: string;
    /** "172.16.16.172:80", or the mark of an FWM service. */
    address: string;
    scheduler: string;
    /** Flags after the scheduler, e.g. "persistent 300". */
    flags: string;
    destinations: IpvsDestination[];
}

function splitHostPort(text: string): { address: string; port: number } {
    const colon = text.lastIndexOf(":");
    if (colon < 0) {
        return { address: text, port: 0 };
    }
    return { address: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

const SERVICE_LINE = /^(TCP|UDP|SCTP|FWM)\s+(\S+)\s*(.*)$/;
const DESTINATION_LINE = /^\s+->\s+(\S+)\s*(.*)$/;

/** `ipvsadm -Ln` (numeric): services and their real servers with weights and connection counts. */
export function parseIpvsTable(text: string): IpvsService[] {
    const services: IpvsService[] = [];
    for (const line of text.split("\n")) {
        const service = SERVICE_LINE.exec(line);
        if (service) {
            const [scheduler = "", ...flags] = service[3]
                .trim()
                .split(/\s+/)
                .filter((word) => word !== "");
            services.push({ protocol: service[1], address: service[2], scheduler, flags: flags.join(" "), destinations: [] });
            continue;
        }
        const destination = DESTINATION_LINE.exec(line);
        const current = services[services.length - 1];
        if (destination && current && destination[1] !== "RemoteAddress:Port") {
            const [forward = "", weight = "0", active = "0", inactive = "0"] = destination[2].trim().split(/\s+/);
            current.destinations.push({
                ...splitHostPort(destination[1]),
                forward,
                weight: Number(weight),
                active: Number(active),
                inactive: Number(inactive),
            });
        }
    }
    return services;
}

/**
 * Adds `ipvsadm -Ln --stats --exact` figures to the table's destinations
 * (matched by service and real server), so one object holds both.
 */
export function mergeIpvsStats(services: IpvsService[], statsText: string): IpvsService[] {
    let current: IpvsService | undefined;
    for (const line of statsText.split("\n")) {
        const service = SERVICE_LINE.exec(line);
        if (service) {
            current = services.find((s) => s.protocol === service[1] && s.address === service[2]);
            continue;
        }
        const destination = DESTINATION_LINE.exec(line);
        if (!destination || !current || destination[1] === "RemoteAddress:Port") {
            continue;
        }
        const { address, port } = splitHostPort(destination[1]);
        const entry = current.destinations.find((d) => d.address === address && d.port === port);
        const figures = destination[2].trim().split(/\s+/).map(Number);
        if (entry && figures.length === 5 && figures.every((n) => Number.isFinite(n))) {
            [entry.connections, entry.inPackets, entry.outPackets, entry.inBytes, entry.outBytes] = figures;
        }
    }
    return services;
}

/** `virsh list --all` (with or without -q): each domain's state by name ("running", "shut off", ...). */
export function parseDomainStates(text: string): Map<string, string> {
    const states = new Map<string, string>();
    for (const line of text.split("\n")) {
        const match = /^\s*(\d+|-)\s+(\S+)\s+(\S.*?)\s*$/.exec(line);
        if (match) {
            states.set(match[2], match[3]);
        }
    }
    return states;
}

/** One row of `virsh domiflist`: the host side of a guest's NIC. */
export interface DomainInterface {
    /** The tap device on the host ("vnet3"); "-" while the domain is off. */
    device: string;
    type: string;
    source: string;
    model: string;
    mac: string;
}

export function parseDomainInterfaces(text: string): DomainInterface[] {
    const rows: DomainInterface[] = [];
    for (const line of text.split("\n")) {
        const match = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s*$/i.exec(line);
        if (match) {
            rows.push({ device: match[1], type: match[2], source: match[3], model: match[4], mac: match[5].toLowerCase() });
        }
    }
    return rows;
}

/** A libvirt network as `virsh net-dumpxml` gives it: its bridge and the lab host's address on it. */
export interface NetworkFacts {
    bridge?: string;
    hostAddress?: string;
    prefixLength?: number;
    forward?: string;
}

function prefixFromNetmask(netmask: string): number | undefined {
    const octets = netmask.split(".").map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
        return undefined;
    }
    const bits = octets.reduce((count, octet) => count + octet.toString(2).replace(/0/g, "").length, 0);
    return bits;
}

export function parseNetworkXml(xml: string): NetworkFacts {
    const bridge = /<bridge\b[^>]*\bname=['"]([^'"]+)['"]/.exec(xml)?.[1];
    const forward = /<forward\b[^>]*\bmode=['"]([^'"]+)['"]/.exec(xml)?.[1];
    const ip = /<ip\b([^>]*)>/.exec(xml)?.[1] ?? "";
    const hostAddress = /\baddress=['"]([^'"]+)['"]/.exec(ip)?.[1];
    const prefix = /\bprefix=['"](\d+)['"]/.exec(ip)?.[1];
    const netmask = /\bnetmask=['"]([^'"]+)['"]/.exec(ip)?.[1];
    return {
        bridge,
        hostAddress,
        prefixLength: prefix !== undefined ? Number(prefix) : netmask !== undefined ? prefixFromNetmask(netmask) : undefined,
        forward: forward ?? (xml.includes("<network") ? "isolated" : undefined),
    };
}

/** True when `ip -o -4 addr show` lists the address on any interface. */
export function holdsAddress(ipAddrText: string, address: string): boolean {
    return ipAddrText.split("\n").some((line) => new RegExp(`\\sinet ${address.replace(/\./g, "\\.")}/\\d+\\s`).test(`${line} `));
}

/** The neighbour entry of `address` in `ip neigh show` output: its MAC, lower-cased, if any. */
export function neighbourMac(ipNeigh: string, address: string): string | undefined {
    const line = ipNeigh.split("\n").find((l) => l.startsWith(`${address} `));
    return /\blladdr ([0-9a-f:]{17})\b/i.exec(line ?? "")?.[1].toLowerCase();
}
