// The directors' IPVS state, over SSH: who holds the VIP, whether a table
// lists a server (watched over one login), each connection entry (`ipvsadm -Lnc`) and which source
// ports still have one, and the IPVS settings every director must have.
import type { LabOutputValues } from "../../components/program";
import { spawn } from "child_process";
import { shellQuote } from "../../components/libvirt";
import { errorText } from "./main";
import { sshArgs, sshRun } from "./ssh";

/** Whether the director at `directorIp` holds the VIP (its addresses, over SSH). */
export function holdsVip(lab: Pick<LabOutputValues, "ssh" | "vip">, directorIp: string): Promise<boolean> {
    return sshRun(lab.ssh, directorIp, "ip -o -4 addr show", 15_000).then((text) => text.includes(` ${lab.vip}/`));
}

/** What `watchTable` saw: when (host clock, ms) the server was first seen in or out of the table. */
export interface TableWatch {
    /** Resolves with the first moment at or after `since` the server was seen in (`true`) or out of the table, undefined after `limitMs`. */
    until(present: boolean, since: number, limitMs: number): Promise<number | undefined>;
    /** Ends the watch (the guest's loop ends with the login). */
    stop(): void;
}

/**
 * Watches whether the director's table for the VIP's first port lists
 * `address`, over one login: a root loop on the director reads the table
 * every `everyMs` and prints a line when it changes, which this side dates
 * on arrival. One login where a poll per second would log in each time and
 * keep the emulated director's only CPU busy (about a CPU-second each),
 * slowing the very checker it times. The loop ends after `limitSeconds` or
 * with the login.
 */
export function watchTable(
    lab: Pick<LabOutputValues, "ssh" | "vip" | "port">,
    directorIp: string,
    address: string,
    limitSeconds = 300,
    everyMs = 250,
): TableWatch {
    const wanted = ` ${address}:${lab.port} `;
    const loop =
        `end=$((SECONDS + ${limitSeconds})); last=; ` +
        `while [ "$SECONDS" -lt "$end" ]; do ` +
        `if ipvsadm -Ln -t ${lab.vip}:${lab.port} | grep -qF -- ${shellQuote(wanted)}; then now=in; else now=out; fi; ` +
        `if [ "$now" != "$last" ]; then echo "$now"; last=$now; fi; sleep ${everyMs / 1000}; done`;
    const child = spawn("ssh", sshArgs(lab.ssh, directorIp, `sudo bash -c ${shellQuote(loop)}`), { stdio: ["pipe", "pipe", "ignore"] });
    const changes: { at: number; present: boolean }[] = [];
    const waiters: (() => void)[] = [];
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
            if (line === "in" || line === "out") {
                changes.push({ at: Date.now(), present: line === "in" });
                waiters.splice(0).forEach((wake) => wake());
            }
        }
    });
    child.on("error", () => undefined);
    let closed = false;
    const timer = setTimeout(() => child.kill(), (limitSeconds + 30) * 1000);
    child.on("close", () => {
        closed = true;
        clearTimeout(timer);
        waiters.splice(0).forEach((wake) => wake());
    });
    return {
        async until(present, since, limitMs) {
            const deadline = Date.now() + limitMs;
            for (;;) {
                // The state at `since` counts too: the last change before it, if it says so.
                const before = changes.filter((change) => change.at < since).pop();
                if (before?.present === present) {
                    return since;
                }
                const after = changes.find((change) => change.at >= since && change.present === present);
                if (after) {
                    return after.at;
                }
                const left = deadline - Date.now();
                if (left <= 0 || closed) {
                    return undefined;
                }
                await new Promise<void>((wake) => {
                    const wait = setTimeout(wake, left);
                    waiters.push(() => {
                        clearTimeout(wait);
                        wake();
                    });
                });
            }
        },
        stop() {
            child.stdin.end();
            child.kill();
        },
    };
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
