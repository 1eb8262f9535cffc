// Small IPv4 helpers for validating and deriving the lab's addresses. Pure
// functions: no Pulumi, no I/O.

/** An IPv4 subnet in CIDR form, with its parts parsed. */
export interface Subnet {
    /** The CIDR as written, normalised, e.g. "172.16.16.0/24". */
    cidr: string;
    /** The network address as a 32-bit unsigned number. */
    network: number;
    /** The prefix length, 0..32. */
    prefixLength: number;
}

/** Parses a dotted-quad IPv4 address into a 32-bit unsigned number, or undefined if it is not one. */
export function parseIpv4(text: string): number | undefined {
    const parts = text.split(".");
    if (parts.length !== 4) {
        return undefined;
    }
    let value = 0;
    for (const part of parts) {
        if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) {
            return undefined;
        }
        const octet = Number(part);
        if (octet > 255) {
            return undefined;
        }
        value = value * 256 + octet;
    }
    return value;
}

/** Formats a 32-bit unsigned number as a dotted-quad IPv4 address. */
export function formatIpv4(value: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

function maskOf(prefixLength: number): number {
    return prefixLength === 0 ? 0 : (0xffffffff - (2 ** (32 - prefixLength) - 1)) >>> 0;
}

/**
 * Parses "a.b.c.d/n". Returns an error text instead when the value is not a
 * subnet or has host bits set (a common slip: "172.16.16.1/24").
 */
export function parseSubnet(text: string): Subnet | string {
    const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text.trim());
    if (!match) {
        return `"${text}" is not an IPv4 subnet in CIDR form such as 172.16.16.0/24`;
    }
    const address = parseIpv4(match[1]);
    const prefixLength = Number(match[2]);
    // At most /16 because macFor() keeps only an address's last two octets.
    if (address === undefined || prefixLength > 30 || prefixLength < 16) {
        return `"${text}" is not a usable IPv4 subnet (the prefix length must be 16..30)`;
    }
    const network = (address & maskOf(prefixLength)) >>> 0;
    if (network !== address) {
        return `"${text}" has host bits set; the subnet is ${formatIpv4(network)}/${prefixLength}`;
    }
    return { cidr: `${formatIpv4(network)}/${prefixLength}`, network, prefixLength };
}

/** True when the address lies in the subnet and is neither its network nor its broadcast address. */
export function isUsableHost(subnet: Subnet, address: number): boolean {
    const size = 2 ** (32 - subnet.prefixLength);
    return address > subnet.network && address < subnet.network + size - 1;
}

/** The first usable address of a subnet: where the lab host sits on the bridge. */
export function firstHost(subnet: Subnet): string {
    return formatIpv4(subnet.network + 1);
}

/**
 * A stable, locally administered MAC for a NIC: the QEMU OUI 52:54:00, then
 * the network's index and the last two octets of the NIC's address. Stable so
 * that a replaced VM keeps its MAC (ARP caches stay right), unique on each
 * network because addresses are.
 */
export function macFor(networkIndex: number, address: string): string {
    const value = parseIpv4(address);
    if (value === undefined) {
        throw new Error(`macFor: "${address}" is not an IPv4 address`);
    }
    const bytes = [0x52, 0x54, 0x00, networkIndex & 0xff, Math.floor(value / 256) % 256, value % 256];
    return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
