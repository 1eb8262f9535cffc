// The directors' IPVS state, over SSH: who holds the VIP and whether a table
// lists a server (each watched over one login), each connection entry
// (`ipvsadm -Lnc`) and which source ports still have one, and the IPVS
// settings every director must have.
import type { LabOutputValues } from "../../components/program";
import { shellQuote } from "../../components/libvirt/host";
import { errorText } from "./main";
import { GuestWatch, sshRun, watchOnGuest } from "./ssh";

/**
 * Watches whether the director's table for the VIP's first port lists
 * `address`, over one login (see watchOnGuest: a poll per second, a login
 * each, would keep the emulated director's CPU busy and slow the very
 * checker it times).
 */
export function watchTable(lab: Pick<LabOutputValues, "ssh" | "vip" | "port">, directorIp: string, address: string, limitSeconds = 300): GuestWatch {
    const wanted = ` ${address}:${lab.port} `;
    return watchOnGuest(lab.ssh, directorIp, `ipvsadm -Ln -t ${lab.vip}:${lab.port} | grep -qF -- ${shellQuote(wanted)}`, limitSeconds);
}

/** Watches whether the director holds the VIP, over one login (watchOnGuest). */
export function watchVip(lab: Pick<LabOutputValues, "ssh" | "vip">, directorIp: string, limitSeconds = 300): GuestWatch {
    return watchOnGuest(lab.ssh, directorIp, `ip -o -4 addr show | grep -qF -- ${shellQuote(` ${lab.vip}/`)}`, limitSeconds);
}

/** One line of `ipvsadm -Lnc`. */
export interface ConnectionEntry {
    protocol: string;
    expiresSeconds: number;
    state: string;
    source: string;
    virtual: string;
    destination: string;
}

/** Parses `ipvsadm -Lnc` ("TCP 01:57  FIN_WAIT    172.16.16.1:20001  172.16.16.172:80   172.16.16.177:80"). */
export function parseConnectionEntries(text: string): ConnectionEntry[] {
    const entries: ConnectionEntry[] = [];
    for (const line of text.split("\n")) {
        const fields = line.trim().split(/\s+/);
        if (fields.length < 6 || !/^(TCP|UDP|SCTP)$/.test(fields[0]) || !/^\d+(:\d+)+$/.test(fields[1])) {
            continue;
        }
        const expiresSeconds = fields[1].split(":").reduce((total, part) => total * 60 + Number(part), 0);
        entries.push({ protocol: fields[0], expiresSeconds, state: fields[2], source: fields[3], virtual: fields[4], destination: fields[5] });
    }
    return entries;
}

/**
 * The source ports (of `ports`) with a TCP entry from `clientAddress` to
 * `virtual` that points at `destination` and lives `minSeconds` more: the
 * ones a new connection from that port is sure to meet.
 */
export function livePorts(
    entries: readonly ConnectionEntry[],
    want: { clientAddress: string; ports: readonly number[]; virtual: string; destination: string; minSeconds: number },
): number[] {
    return want.ports.filter((port) =>
        entries.some(
            (entry) =>
                entry.protocol === "TCP" &&
                entry.source === `${want.clientAddress}:${port}` &&
                entry.virtual === want.virtual &&
                entry.destination === want.destination &&
                entry.expiresSeconds >= want.minSeconds,
        ),
    );
}

/** What a director shows: whether it holds the VIP, its connection entries. */
export interface DirectorView {
    name: string;
    holdsVip: boolean;
    entries: ConnectionEntry[];
}

const VIEW_MARK = "@@lvslab-entries@@";

/** Each director's view, one login each: its addresses, then `ipvsadm -Lnc`. Rejects when a director cannot be asked. */
export async function directorViews(out: Pick<LabOutputValues, "ssh" | "vip" | "directors">): Promise<DirectorView[]> {
    return Promise.all(
        out.directors.map(async (director) => {
            const text = await sshRun(out.ssh, director.publicIp, `ip -o -4 addr show; echo ${VIEW_MARK}; sudo ipvsadm -Lnc`, 30_000);
            const [addresses, entries = ""] = text.split(VIEW_MARK);
            return { name: director.name, holdsVip: addresses.includes(` ${out.vip}/`), entries: parseConnectionEntries(entries) };
        }),
    );
}

/** The IPVS settings every director must have (cloud-init/steps/director-lb.sh), as `sysctl -n` prints them. */
export const DIRECTOR_IPVS_SYSCTLS: Readonly<Record<string, string>> = {
    "net.ipv4.vs.conn_reuse_mode": "3",
    "net.ipv4.vs.expire_nodest_conn": "1",
};

/** Problems with the directors' IPVS settings, from `sysctl -n KEY...` output per director. */
export function sysctlProblems(readings: Readonly<Record<string, string>>): string[] {
    const keys = Object.keys(DIRECTOR_IPVS_SYSCTLS);
    const wanted = keys.map((key) => DIRECTOR_IPVS_SYSCTLS[key]);
    const problems: string[] = [];
    for (const [director, reading] of Object.entries(readings)) {
        const values = reading.trim().split(/\s+/);
        if (values.length !== keys.length || !values.every((value) => /^-?\d+$/.test(value))) {
            problems.push(`${director}: its IPVS settings could not be read (${reading.trim()})`);
            continue;
        }
        const wrong = keys.filter((_, index) => values[index] !== wanted[index]);
        if (wrong.length > 0) {
            problems.push(`${director}: ${wrong.map((key) => `${key} is ${values[keys.indexOf(key)]}, not ${DIRECTOR_IPVS_SYSCTLS[key]}`).join("; ")}`);
        }
    }
    return problems;
}

/** Each director's `sysctl -n` of DIRECTOR_IPVS_SYSCTLS (or the error reading them). */
export async function readDirectorSysctls(out: Pick<LabOutputValues, "ssh" | "directors">): Promise<Record<string, string>> {
    const keys = Object.keys(DIRECTOR_IPVS_SYSCTLS).join(" ");
    const readings = await Promise.all(
        out.directors.map(async (director) => {
            try {
                return [director.name, await sshRun(out.ssh, director.publicIp, `sudo sysctl -n ${keys}`, 30_000)] as const;
            } catch (error) {
                return [director.name, `unreadable (${errorText(error)})`] as const;
            }
        }),
    );
    return Object.fromEntries(readings);
}
