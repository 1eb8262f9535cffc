// The drain checks, against a running lab: a real server with weight 0
// (drained) or taken out of the table gets no new connection, not even from
// a client that reuses a source port it used for that server shortly
// before, and a connection already open on a drained server still finishes.
//
// Why reused ports matter: the director keeps an entry per connection for a
// while after it closed (in DR and TUN it never sees the real server's side,
// so the entry stays in FIN_WAIT for 2 minutes). A new connection from the
// same client address and port meets that entry, and unless the directors'
// net.ipv4.vs.conn_reuse_mode / expire_nodest_conn say otherwise, IPVS sends
// it where the old entry points, weight 0 or not. So the check connects from
// explicit local ports: first until some have landed on the server, then,
// after the drain, from exactly those ports again while their entries still
// live (read from the active director's `ipvsadm -Lnc` as evidence).
//
// Used by the end-to-end test (proofs/e2e.ts) and by the repeated-drain
// runner at the end of this file: `node bin/proofs/drain.js --stack dev
// --times 10` inside the lab host's namespace (scripts/lab drain).
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { shellQuote } from "../components/guestConfig";
import { openStack, PROJECT_ROOT, runOperation } from "../scripts/automation";
import { BackgroundRequests, delay, errorText, exportPathOf, get, labOutputs, runMain, SshAccess, sshRun } from "./harness";

/** The stack outputs the drain checks read. */
export interface DrainOutputs {
    vip: string;
    vipUrl: string;
    port: number;
    mode: string;
    identityHeader: string;
    expectedPage: string;
    /** "address:/path" of the NFS export (the real servers' web root). */
    nfsExport: string;
    nfs: { name: string; storageIp: string };
    directors: { name: string; role: string; publicIp: string }[];
    realServers: { name: string; publicIp: string; weight: number; forwardingAddress: string }[];
    ssh: SshAccess;
}

/** One connection to the VIP from a known local port, and where it landed. */
export interface Landing {
    localPort: number;
    /** The client address the connection came from (the lab host's, in the lab's namespace). */
    localAddress?: string;
    /** When the connection was opened, ms since the epoch. */
    at: number;
    /** HTTP status of the answer. */
    status?: number;
    /** The real server that answered (the identity header). */
    server?: string;
    /** The connection or the request failed. */
    error?: string;
    /** The local port could not be used (EADDRINUSE, EADDRNOTAVAIL): nothing was tested on it. */
    bindError?: string;
}

/** Errors that mean "this local port could not be taken", not "the lab failed". */
const BIND_ERRORS = new Set(["EADDRINUSE", "EADDRNOTAVAIL"]);

/** Where explicit source ports come from: below Linux's default ephemeral range (32768-60999), so no ordinary connection holds them. */
export const SOURCE_PORT_FIRST = 20000;
export const SOURCE_PORT_COUNT = 10000;

/**
 * Hands out source ports one after the other from a random start in
 * [SOURCE_PORT_FIRST, SOURCE_PORT_FIRST + SOURCE_PORT_COUNT), so a port comes
 * back only after all the others: far longer than any IPVS entry of a closed
 * connection lives (2 minutes).
 */
export class SourcePorts {
    private offset: number;

    constructor(start = Math.floor(Math.random() * SOURCE_PORT_COUNT)) {
        this.offset = ((start % SOURCE_PORT_COUNT) + SOURCE_PORT_COUNT) % SOURCE_PORT_COUNT;
    }

    next(): number {
        const port = SOURCE_PORT_FIRST + this.offset;
        this.offset = (this.offset + 1) % SOURCE_PORT_COUNT;
        return port;
    }
}

/** The one source of fresh ports of this process. */
const sourcePorts = new SourcePorts();

export interface ResponseHead {
    status: number;
    /** Header names in lower case. */
    headers: Map<string, string>;
}

/** Parses an HTTP response head (the text before the blank line); undefined if it is not one. */
export function parseResponseHead(text: string): ResponseHead | undefined {
    const [statusLine, ...lines] = text.split("\r\n");
    const status = /^HTTP\/\d(?:\.\d)? (\d{3})(?: |$)/.exec(statusLine);
    if (!status) {
        return undefined;
    }
    const headers = new Map<string, string>();
    for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) {
            headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
    }
    return { status: Number(status[1]), headers };
}

/**
 * An HTTP/1.0 GET with `Connection: close`: the server closes first, so the
 * client keeps no TIME_WAIT and may take the same source port again at once.
 */
export function requestText(host: string, path: string): string {
    return `GET ${path} HTTP/1.0\r\nHost: ${host}\r\nConnection: close\r\nUser-Agent: lvs-dr-lab-drain\r\n\r\n`;
}

const HEAD_LIMIT = 64 * 1024;

/**
 * One request to the VIP from `localPort` (0: any port), read to the end.
 * Never rejects: what went wrong is in the landing. Bounded by `timeoutMs`.
 */
export function requestFrom(out: Pick<DrainOutputs, "vip" | "port" | "identityHeader">, localPort: number, timeoutMs: number, path = "/"): Promise<Landing> {
    return new Promise((resolve) => {
        const landing: Landing = { localPort, at: Date.now() };
        let head = Buffer.alloc(0);
        let parsed = false;
        let settled = false;
        const socket = net.connect({ host: out.vip, port: out.port, ...(localPort > 0 ? { localPort } : {}) });
        const timer = setTimeout(() => {
            landing.error ??= `no complete answer within ${timeoutMs} ms`;
            socket.destroy();
        }, timeoutMs);
        socket.on("connect", () => {
            landing.localAddress = socket.localAddress;
            landing.localPort = socket.localPort ?? localPort;
            socket.write(requestText(out.vip, path));
        });
        socket.on("data", (chunk: Buffer) => {
            if (parsed) {
                return;
            }
            head = Buffer.concat([head, chunk]);
            const end = head.indexOf("\r\n\r\n");
            if (end < 0) {
                if (head.length > HEAD_LIMIT) {
                    landing.error = "no end of the response head in 64 KiB";
                    socket.destroy();
                }
                return;
            }
            parsed = true;
            const response = parseResponseHead(head.subarray(0, end).toString("latin1"));
            if (!response) {
                landing.error = `not an HTTP response: ${JSON.stringify(head.subarray(0, 40).toString("latin1"))}`;
                socket.destroy();
                return;
            }
            landing.status = response.status;
            landing.server = response.headers.get(out.identityHeader.toLowerCase());
        });
        socket.on("error", (error: NodeJS.ErrnoException) => {
            if (error.code !== undefined && BIND_ERRORS.has(error.code)) {
                landing.bindError = `${error.code} on ${error.syscall ?? "connect"}`;
            } else {
                landing.error ??= error.message;
            }
        });
        socket.on("close", () => {
            if (settled) {
                return;
            }
            settled = true;
            clearTimeout(timer);
            if (!parsed && landing.error === undefined && landing.bindError === undefined) {
                landing.error = "closed before a complete response head";
            }
            resolve(landing);
        });
    });
}

const landedOn = (landing: Landing, server: string): boolean => landing.error === undefined && landing.bindError === undefined && landing.status === 200 && landing.server === server;

/**
 * Connects from fresh source ports, one at a time, until `count` of them
 * have landed on `serverName`; returns those landings. Fails after
 * `maxAttempts` connections (default: enough for any fair scheduler).
 */
export async function portsLandingOn(
    out: DrainOutputs,
    serverName: string,
    count: number,
    options: { maxAttempts?: number; timeoutMs?: number; ports?: SourcePorts } = {},
): Promise<Landing[]> {
    const maxAttempts = options.maxAttempts ?? count * Math.max(out.realServers.length, 1) * 6 + 20;
    const ports = options.ports ?? sourcePorts;
    const landed: Landing[] = [];
    const elsewhere: Record<string, number> = {};
    let failed = 0;
    let unusable = 0;
    let lastFailure = "";
    for (let attempt = 0; attempt < maxAttempts && landed.length < count; attempt++) {
        const landing = await requestFrom(out, ports.next(), options.timeoutMs ?? 5000);
        if (landedOn(landing, serverName)) {
            landed.push(landing);
        } else if (landing.bindError !== undefined) {
            unusable++;
        } else if (landing.error !== undefined || landing.status !== 200) {
            failed++;
            lastFailure = landing.error ?? `HTTP ${landing.status}`;
        } else {
            const server = landing.server ?? "(no identity header)";
            elsewhere[server] = (elsewhere[server] ?? 0) + 1;
        }
    }
    if (landed.length < count) {
        throw new Error(
            `only ${landed.length} of ${count} connections landed on ${serverName} in ${maxAttempts} attempts ` +
                `(elsewhere: ${JSON.stringify(elsewhere)}; ${failed} failed${failed ? `, last: ${lastFailure}` : ""}; ${unusable} ports unusable)`,
        );
    }
    return landed;
}

/**
 * Connects again from exactly `ports`, one after the other, and reports where
 * each landed. A port that cannot be bound comes back with `bindError`.
 * `timeoutMs` leaves room for a retransmitted SYN (IPVS may drop the first
 * one of a rescheduled connection when conntrack holds the old one).
 */
export async function reuseLandings(out: DrainOutputs, ports: readonly number[], timeoutMs = 8000): Promise<Landing[]> {
    const landings: Landing[] = [];
    for (const port of ports) {
        landings.push(await requestFrom(out, port, timeoutMs));
    }
    return landings;
}

/**
 * Starts connections from fresh source ports, one at a time, in the
 * background while something else runs (a `pulumi up` that drains a server):
 * the landings on the server just before its weight went to 0 are the
 * freshest entries the reuse check can meet. Bounded by `limitMs`.
 */
export function startLander(out: DrainOutputs, pauseMs = 200, limitMs = 1_800_000, ports: SourcePorts = sourcePorts): BackgroundRequests<Landing> {
    const lander = new BackgroundRequests(() => requestFrom(out, ports.next(), 3000), pauseMs, limitMs);
    lander.start();
    return lander;
}

/**
 * The ports to reuse: the `count` most recent ones whose last connection
 * landed on `server` (the freshest entries), newest first.
 */
export function pickReusePorts(landings: readonly Landing[], server: string, count: number): Landing[] {
    const latest = new Map<number, Landing>();
    for (const landing of landings) {
        const seen = latest.get(landing.localPort);
        if (seen === undefined || landing.at >= seen.at) {
            latest.set(landing.localPort, landing);
        }
    }
    return [...latest.values()]
        .filter((landing) => landedOn(landing, server))
        .sort((a, b) => b.at - a.at)
        .slice(0, count);
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

export interface ReuseJudgement {
    problems: string[];
    summary: string;
}

/**
 * Judges the reused ports: each must connect and be answered by another
 * server than the drained (or removed) one, and a port that could not be
 * bound tested nothing and is the harness's failure. For a drained server
 * at least one port must still have had its old entry to the server on the
 * active director, otherwise no reuse was forced and the check proved
 * nothing. A removed server's entries may be gone (expire_nodest_conn
 * flushes them when the server leaves the table); what discriminates there
 * is that every new connection succeeds, where an entry left to a removed
 * server would have the director drop its SYN.
 */
export function judgeReuse(input: {
    server: string;
    reused: readonly Landing[];
    /** Ports whose entry to the server still lived when reused; undefined when the entries could not be read. */
    live: readonly number[] | undefined;
    director: string | undefined;
    /** How long before the reuse the ports had landed on the server, in seconds. */
    ages?: readonly number[];
    /** True for a drained server (its entries stay), false for a removed one. */
    requireLiveEntry: boolean;
}): ReuseJudgement {
    const { server, reused, live } = input;
    const problems: string[] = [];
    if (reused.length === 0) {
        problems.push(`no source port to reuse: none had landed on ${server}`);
    }
    const counts: Record<string, number> = {};
    for (const landing of reused) {
        if (landing.bindError !== undefined) {
            problems.push(`harness: source port ${landing.localPort} could not be taken again (${landing.bindError}), so nothing was tested on it`);
        } else if (landing.error !== undefined) {
            problems.push(`source port ${landing.localPort}: the new connection failed: ${landing.error}`);
        } else if (landing.status !== 200) {
            problems.push(`source port ${landing.localPort}: HTTP ${landing.status}`);
        } else if (landing.server === server) {
            problems.push(`source port ${landing.localPort}: the new connection landed on ${server} again, which takes no new connections`);
        }
        if (landing.server !== undefined) {
            counts[landing.server] = (counts[landing.server] ?? 0) + 1;
        }
    }
    if (input.requireLiveEntry && live === undefined) {
        problems.push(`inconclusive: the active director's connection entries could not be read, so it is unknown whether any reuse was forced`);
    } else if (input.requireLiveEntry && live !== undefined && reused.length > 0 && live.length === 0) {
        problems.push(`inconclusive: none of the ${reused.length} ports still had an IPVS entry to ${server} on ${input.director ?? "the active director"} when reused, so no reuse was forced`);
    }
    const where = Object.entries(counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, count]) => `${name} ${count}`)
        .join(", ");
    const ages = input.ages && input.ages.length > 0 ? ` ${Math.min(...input.ages).toFixed(0)}-${Math.max(...input.ages).toFixed(0)} s before` : "";
    const summary =
        `${reused.length} source ports that had landed on ${server}${ages} reused, ` +
        `${live === undefined ? "?" : live.length} of them meeting a live entry to ${server} on ${input.director ?? "?"}: ` +
        `landed on ${where || "nothing"}; ${counts[server] ?? 0} on ${server}`;
    return { problems, summary };
}

/** A file on the NFS export, big enough that a paused transfer of it is still going after a drain. */
export interface LongFile {
    /** URL path on the real servers. */
    urlPath: string;
    size: number;
    sha256: string;
}

export const LONG_FILE_NAME = "lvslab-drain-transfer.bin";
export const LONG_FILE_BYTES = 32 * 1024 * 1024;

/** The shell command (run as root on the NFS store) that writes the file once, with random content, and prints its sha256. */
export function longFileCommand(directory: string, size: number): string {
    const file = shellQuote(`${directory.replace(/\/+$/, "")}/${LONG_FILE_NAME}`);
    return [
        "set -e",
        `f=${file}`,
        `if [ "$(stat -c %s "$f" 2>/dev/null || true)" != ${size} ]; then head -c ${size} /dev/urandom >"$f.tmp"; chmod 0644 "$f.tmp"; mv -f "$f.tmp" "$f"; fi`,
        'sha256sum "$f"',
    ].join("; ");
}

/** Writes (once) the long transfer's file on the NFS export and returns what the transfer must receive. */
export async function prepareLongFile(out: DrainOutputs, size = LONG_FILE_BYTES): Promise<LongFile> {
    const directory = exportPathOf(out.nfsExport);
    const text = await sshRun(out.ssh, out.nfs.storageIp, `sudo sh -c ${shellQuote(longFileCommand(directory, size))}`, 180_000);
    const sha256 = /^([0-9a-f]{64})\s/m.exec(text)?.[1];
    if (sha256 === undefined) {
        throw new Error(`sha256sum on ${out.nfs.name} printed no hash: ${JSON.stringify(text.slice(0, 200))}`);
    }
    return { urlPath: `/${LONG_FILE_NAME}`, size, sha256 };
}

/** Removes the long transfer's file from the NFS export. */
export async function removeLongFile(out: DrainOutputs): Promise<void> {
    const file = `${exportPathOf(out.nfsExport).replace(/\/+$/, "")}/${LONG_FILE_NAME}`;
    await sshRun(out.ssh, out.nfs.storageIp, `sudo rm -f ${shellQuote(file)} ${shellQuote(`${file}.tmp`)}`, 60_000);
}

export interface TransferResult {
    server: string;
    status: number;
    contentLength: number | undefined;
    bytes: number;
    sha256: string;
    error: string | undefined;
    /** The body ended (the server closed after the last byte). */
    ended: boolean;
    /** Seconds the transfer was held (paused) and then took to finish. */
    heldSeconds: number;
    finishSeconds: number;
    /** Connections opened until one landed on the server. */
    attempts: number;
}

/**
 * A download of the long file on a connection that landed on a chosen
 * server, started before a drain and held while it runs: `socket.pause()`
 * stops reading, the windows fill, and apache waits (its Timeout is 300 s).
 * Every `trickleMs` while held, `trickleBytes` are read (enough for the
 * kernel to open its window again: it keeps a window closed until a
 * sixteenth of the buffer is free), so a slow `up` cannot run into that
 * Timeout. `finish()` reads it to the end.
 */
export class LongTransfer {
    private readonly hash = crypto.createHash("sha256");
    private bytes = 0;
    private error: string | undefined;
    private ended = false;
    private closed = false;
    private held = true;
    /** Bytes still to read in the current trickle; 0 when not trickling. */
    private trickleLeft = 0;
    private readonly trickle: NodeJS.Timeout;
    private readonly heldAt = Date.now();
    private onClosed: (() => void) | undefined;

    private constructor(
        private readonly socket: net.Socket,
        readonly server: string,
        readonly status: number,
        readonly contentLength: number | undefined,
        firstBody: Buffer,
        readonly attempts: number,
        trickleMs: number,
        trickleBytes: number,
    ) {
        this.take(firstBody);
        socket.on("data", (chunk: Buffer) => {
            this.take(chunk);
            if (this.held && this.trickleLeft > 0) {
                this.trickleLeft -= chunk.length;
                if (this.trickleLeft <= 0) {
                    this.trickleLeft = 0;
                    socket.pause();
                }
            }
        });
        socket.on("end", () => {
            this.ended = true;
        });
        socket.on("error", (error: Error) => {
            this.error ??= error.message;
        });
        socket.on("close", () => {
            this.closed = true;
            this.onClosed?.();
        });
        this.trickle = setInterval(() => {
            if (this.held && !this.closed && this.trickleLeft === 0) {
                this.trickleLeft = trickleBytes;
                socket.resume();
            }
        }, trickleMs);
    }

    /** Body bytes read so far. */
    get received(): number {
        return this.bytes;
    }

    private take(chunk: Buffer): void {
        this.bytes += chunk.length;
        this.hash.update(chunk);
    }

    /** Opens connections (bounded) until one is answered by `serverName`, and holds it. */
    static async start(
        out: DrainOutputs,
        serverName: string,
        file: LongFile,
        options: { maxAttempts?: number; timeoutMs?: number; trickleMs?: number; trickleBytes?: number } = {},
    ): Promise<LongTransfer> {
        const maxAttempts = options.maxAttempts ?? Math.max(out.realServers.length, 1) * 6 + 4;
        const seen: string[] = [];
        for (let attempt = 1; attempt <= maxAttempts; attempt++) {
            let opened: OpenedDownload;
            try {
                opened = await openDownload(out, file.urlPath, options.timeoutMs ?? 10_000);
            } catch (error) {
                seen.push(`failed (${errorText(error)})`);
                await delay(200);
                continue;
            }
            const server = opened.head.headers.get(out.identityHeader.toLowerCase()) ?? "(no identity header)";
            if (server === serverName && opened.head.status === 200) {
                const length = opened.head.headers.get("content-length");
                const contentLength = length === undefined ? undefined : Number(length);
                return new LongTransfer(opened.socket, server, opened.head.status, contentLength, opened.rest, attempt, options.trickleMs ?? 60_000, options.trickleBytes ?? 1024 * 1024);
            }
            seen.push(`${server} (HTTP ${opened.head.status})`);
            opened.socket.destroy();
        }
        throw new Error(`no download of ${file.urlPath} landed on ${serverName} in ${maxAttempts} attempts: ${seen.join(", ")}`);
    }

    /** Reads the rest to the end, bounded: `idleMs` without data, `limitMs` in all. */
    finish(idleMs = 60_000, limitMs = 600_000): Promise<TransferResult> {
        clearInterval(this.trickle);
        this.held = false;
        const resumedAt = Date.now();
        return new Promise((resolve) => {
            const result = (): TransferResult => ({
                server: this.server,
                status: this.status,
                contentLength: this.contentLength,
                bytes: this.bytes,
                sha256: this.hash.digest("hex"),
                error: this.error,
                ended: this.ended,
                heldSeconds: (resumedAt - this.heldAt) / 1000,
                finishSeconds: (Date.now() - resumedAt) / 1000,
                attempts: this.attempts,
            });
            if (this.closed) {
                resolve(result());
                return;
            }
            const limit = setTimeout(() => {
                this.error ??= `not finished within ${limitMs / 1000} s`;
                this.socket.destroy();
            }, limitMs);
            this.onClosed = () => {
                clearTimeout(limit);
                resolve(result());
            };
            this.socket.setTimeout(idleMs, () => {
                this.error ??= `no data for ${idleMs / 1000} s`;
                this.socket.destroy();
            });
            this.socket.resume();
        });
    }

    abort(): void {
        clearInterval(this.trickle);
        this.socket.destroy();
    }
}

interface OpenedDownload {
    socket: net.Socket;
    head: ResponseHead;
    /** Body bytes that came with the head. */
    rest: Buffer;
}

/** Sends the GET and waits (bounded) for the response head; the socket is paused when it resolves. */
function openDownload(out: DrainOutputs, path: string, timeoutMs: number): Promise<OpenedDownload> {
    return new Promise((resolve, reject) => {
        const socket = net.connect({ host: out.vip, port: out.port });
        let head = Buffer.alloc(0);
        const fail = (error: Error): void => {
            cleanup();
            socket.destroy();
            reject(error);
        };
        const timer = setTimeout(() => fail(new Error(`no response head within ${timeoutMs} ms`)), timeoutMs);
        const onConnect = (): void => {
            socket.write(requestText(out.vip, path));
        };
        const onData = (chunk: Buffer): void => {
            head = Buffer.concat([head, chunk]);
            const end = head.indexOf("\r\n\r\n");
            if (end < 0) {
                if (head.length > HEAD_LIMIT) {
                    fail(new Error("no end of the response head in 64 KiB"));
                }
                return;
            }
            const parsed = parseResponseHead(head.subarray(0, end).toString("latin1"));
            if (!parsed) {
                fail(new Error("not an HTTP response"));
                return;
            }
            socket.pause();
            cleanup();
            resolve({ socket, head: parsed, rest: head.subarray(end + 4) });
        };
        const onError = (error: Error): void => fail(error);
        const onClose = (): void => fail(new Error("closed before the response head"));
        const cleanup = (): void => {
            clearTimeout(timer);
            socket.off("connect", onConnect);
            socket.off("data", onData);
            socket.off("error", onError);
            socket.off("close", onClose);
        };
        socket.on("connect", onConnect);
        socket.on("data", onData);
        socket.on("error", onError);
        socket.on("close", onClose);
    });
}

/** Problems with a finished long transfer: it must have come whole from the server it started on. */
export function judgeTransfer(result: TransferResult, file: LongFile, server: string): string[] {
    const problems: string[] = [];
    if (result.server !== server) {
        problems.push(`the transfer ran on ${result.server}, not ${server}`);
    }
    if (result.status !== 200) {
        problems.push(`the transfer was answered with HTTP ${result.status}`);
    }
    if (result.error !== undefined) {
        problems.push(`the transfer on ${server} broke after ${result.bytes} of ${file.size} bytes: ${result.error}`);
    } else if (!result.ended) {
        problems.push(`the transfer on ${server} did not end`);
    }
    if (result.contentLength !== undefined && result.contentLength !== file.size) {
        problems.push(`Content-Length was ${result.contentLength}, the file has ${file.size} bytes`);
    }
    if (result.bytes !== file.size) {
        problems.push(`received ${result.bytes} bytes of ${file.size}`);
    } else if (result.sha256 !== file.sha256) {
        problems.push(`the content differs from the file (sha256 ${result.sha256}, expected ${file.sha256})`);
    }
    return problems;
}

/** What a director shows: whether it holds the VIP, its connection entries. */
interface DirectorView {
    name: string;
    holdsVip: boolean;
    entries: ConnectionEntry[];
}

const VIEW_MARK = "@@lvslab-entries@@";

async function directorViews(out: DrainOutputs): Promise<DirectorView[]> {
    return Promise.all(
        out.directors.map(async (director) => {
            const text = await sshRun(out.ssh, director.publicIp, `ip -o -4 addr show; echo ${VIEW_MARK}; sudo ipvsadm -Lnc`, 30_000);
            const [addresses, entries = ""] = text.split(VIEW_MARK);
            return { name: director.name, holdsVip: addresses.includes(` ${out.vip}/`), entries: parseConnectionEntries(entries) };
        }),
    );
}

/** Each director's `sysctl -n` of DIRECTOR_IPVS_SYSCTLS (or the error reading them). */
export async function readDirectorSysctls(out: DrainOutputs): Promise<Record<string, string>> {
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

export interface ReuseReport extends ReuseJudgement {
    reused: Landing[];
    live: number[] | undefined;
    director: string | undefined;
    sysctls: Record<string, string>;
}

export interface TransferReport {
    problems: string[];
    summary: string;
    result: TransferResult;
}

/**
 * One drain (or removal) of a server, checked: `prepare` before it (ports
 * landing on the server, and optionally a long transfer started on it),
 * `around` the operation that takes it out (connections keep landing
 * meanwhile), then `reuse` and `finishTransfer`.
 */
export class DrainCheck {
    /** The server's address and port in the directors' entries (its forwarding address). */
    readonly destination: string;
    private before: Landing[] = [];
    private during: Landing[] = [];
    private transfer: LongTransfer | undefined;
    private transferError: string | undefined;

    constructor(
        private readonly out: DrainOutputs,
        readonly serverName: string,
        /** `removed`: the server leaves the table (scale-in) instead of going to weight 0. */
        private readonly options: { count: number; file?: LongFile; removed?: boolean },
    ) {
        const server = out.realServers.find((candidate) => candidate.name === serverName);
        if (!server) {
            throw new Error(`no real server ${serverName} in the outputs (${out.realServers.map((s) => s.name).join(", ")})`);
        }
        this.destination = `${server.forwardingAddress}:${out.port}`;
    }

    /**
     * Records `count` source ports landing on the server (throws if it
     * cannot) and, with a file, starts the long transfer on it (a failure
     * to start it is one of the returned problems: the ports still serve).
     */
    async prepare(): Promise<{ facts: string; problems: string[] }> {
        this.before = await portsLandingOn(this.out, this.serverName, this.options.count);
        const facts = [`${this.before.length} source ports landed on ${this.serverName}`];
        const problems: string[] = [];
        if (this.options.file) {
            try {
                this.transfer = await LongTransfer.start(this.out, this.serverName, this.options.file);
                facts.push(`a ${(this.options.file.size / 1048576).toFixed(0)} MiB download started on ${this.serverName} and held (attempt ${this.transfer.attempts})`);
            } catch (error) {
                this.transferError = errorText(error);
                problems.push(`the download could not be started on ${this.serverName}: ${this.transferError}`);
            }
        }
        console.log(`drain: ${[...facts, ...problems].join("; ")}`);
        return { facts: facts.join("; "), problems };
    }

    /** Runs the operation that takes the server out while connections keep landing. */
    async around<T>(operation: () => Promise<T>): Promise<T> {
        const lander = startLander(this.out);
        try {
            return await operation();
        } finally {
            this.during = await lander.stop();
            const onServer = this.during.filter((landing) => landedOn(landing, this.serverName)).length;
            console.log(`drain: ${this.during.length} connections during the operation, ${onServer} landed on ${this.serverName}`);
        }
    }

    /** Connects again from the freshest ports that had landed on the server, with the director's entries as evidence. */
    async reuse(after: DrainOutputs = this.out): Promise<ReuseReport> {
        const picked = pickReusePorts([...this.before, ...this.during], this.serverName, this.options.count);
        const ports = picked.map((landing) => landing.localPort);
        let live: number[] | undefined;
        let director: string | undefined;
        try {
            const active = (await directorViews(after)).find((view) => view.holdsVip);
            if (active) {
                director = active.name;
                live = livePorts(active.entries, {
                    clientAddress: picked[0]?.localAddress ?? "",
                    ports,
                    virtual: `${after.vip}:${after.port}`,
                    destination: this.destination,
                    minSeconds: 3,
                });
            }
        } catch (error) {
            console.log(`drain: could not read the directors' connection entries: ${errorText(error)}`);
        }
        const reusedAt = Date.now();
        const reused = await reuseLandings(after, ports);
        const sysctls = await readDirectorSysctls(after);
        const judgement = judgeReuse({
            server: this.serverName,
            reused,
            live,
            director,
            ages: picked.map((landing) => (reusedAt - landing.at) / 1000),
            requireLiveEntry: !this.options.removed,
        });
        const problems = [...judgement.problems, ...sysctlProblems(sysctls)];
        console.log(`drain: ${judgement.summary}`);
        return { problems, summary: judgement.summary, reused, live, director, sysctls };
    }

    /** Reads the held transfer to the end and judges it. */
    async finishTransfer(): Promise<TransferReport> {
        const file = this.options.file;
        if (!this.transfer || !file) {
            throw new Error(`no long transfer was started${this.transferError ? ` (${this.transferError})` : ""}`);
        }
        const result = await this.transfer.finish();
        this.transfer = undefined;
        const problems = judgeTransfer(result, file, this.serverName);
        const summary =
            `the download started on ${this.serverName} ${result.heldSeconds.toFixed(0)} s before was read to the end in ${result.finishSeconds.toFixed(1)} s: ` +
            `${result.bytes} of ${file.size} bytes, sha256 ${result.sha256 === file.sha256 ? "matches" : "differs"}${result.error ? `, error: ${result.error}` : ""}`;
        console.log(`drain: ${summary}`);
        return { problems, summary, result };
    }

    /** Drops a transfer still held (when the drain itself failed). */
    abort(): void {
        this.transfer?.abort();
        this.transfer = undefined;
    }
}

/** New connections from ordinary (ephemeral) ports after the drain: none may land on the server, none may fail. */
export async function freshConnections(out: DrainOutputs, serverName: string, requests = 40): Promise<{ problems: string[]; summary: string }> {
    const answers: Record<string, number> = {};
    let failed = 0;
    let lastFailure = "";
    for (let i = 0; i < requests; i++) {
        try {
            const answer = await get(out.vipUrl, out.identityHeader, 5000);
            if (answer.status !== 200 || answer.body.trim() !== out.expectedPage) {
                failed++;
                lastFailure = `HTTP ${answer.status}`;
            }
            const server = answer.server ?? "(no identity header)";
            answers[server] = (answers[server] ?? 0) + 1;
        } catch (error) {
            failed++;
            lastFailure = errorText(error);
        }
    }
    const problems: string[] = [];
    if (failed > 0) {
        problems.push(`${failed} of ${requests} new connections failed (last: ${lastFailure})`);
    }
    if ((answers[serverName] ?? 0) > 0) {
        problems.push(`${answers[serverName]} of ${requests} new connections landed on ${serverName}`);
    }
    const summary = `${requests} new connections: ${Object.entries(answers)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, count]) => `${name} ${count}`)
        .join(", ")}`;
    return { problems, summary };
}

/** The realServerWeights value with every server at 1, or the named one at 0. */
export function weightsJson(count: number, drainedIndex?: number): string {
    return JSON.stringify(Array.from({ length: count }, (_, index) => (index === drainedIndex ? 0 : 1)));
}

const USAGE = `usage: node bin/proofs/drain.js [--stack NAME] [--times N] [--server NAME] [--ports N] [--size-mib N] [--verbose]

Drains a real server of a running lab N times in a row and checks each time
that no new connection reaches it (also from reused source ports) and that a
download started on it before the drain completes. Each round: all weights 1
(up), ports landing on the server and a download held on it, the server's
weight to 0 (up), then the checks. The weights are put back at the end.
Run it where the VIP is reachable (scripts/lab drain).
  --stack NAME    stack (default dev)
  --times N       rounds (default 10)
  --server NAME   the server to drain (default: the first, web1)
  --ports N       source ports reused per round (default 10)
  --size-mib N    size of the download (default 32)
  --verbose       stream Pulumi's output (default: shown only when an up fails)`;

interface RunnerOptions {
    stack: string;
    times: number;
    server: string | undefined;
    ports: number;
    sizeMib: number;
    verbose: boolean;
}

export function parseRunnerArgs(argv: readonly string[]): RunnerOptions | string {
    const options: RunnerOptions = { stack: "dev", times: 10, server: undefined, ports: 10, sizeMib: 32, verbose: false };
    const whole = (name: string, value: string | undefined, min: number, max: number): number | string => {
        const number = Number(value);
        return Number.isInteger(number) && number >= min && number <= max ? number : `${name} must be a whole number from ${min} to ${max}`;
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = argv[i + 1];
        let parsed: number | string;
        switch (arg) {
            case "--stack":
                if (!value) {
                    return "--stack needs a name";
                }
                options.stack = value;
                i++;
                continue;
            case "--server":
                if (!value) {
                    return "--server needs a name";
                }
                options.server = value;
                i++;
                continue;
            case "--verbose":
                options.verbose = true;
                continue;
            case "--times":
                parsed = whole(arg, value, 1, 1000);
                break;
            case "--ports":
                parsed = whole(arg, value, 1, 100);
                break;
            case "--size-mib":
                parsed = whole(arg, value, 1, 1024);
                break;
            default:
                return `unknown argument "${arg}"`;
        }
        if (typeof parsed === "string") {
            return parsed;
        }
        i++;
        if (arg === "--times") {
            options.times = parsed;
        } else if (arg === "--ports") {
            options.ports = parsed;
        } else {
            options.sizeMib = parsed;
        }
    }
    return options;
}

/** Whether two stack configs (key -> value, secret) say the same, whatever their order. */
export function sameConfig(a: Readonly<Record<string, { value: string; secret?: boolean }>>, b: Readonly<Record<string, { value: string; secret?: boolean }>>): boolean {
    const text = (config: Readonly<Record<string, { value: string; secret?: boolean }>>): string =>
        JSON.stringify(
            Object.keys(config)
                .sort()
                .map((key) => [key, config[key].value, config[key].secret === true]),
        );
    return text(a) === text(b);
}

/** Keeps the last lines of Pulumi's output, to show when an up fails. */
class OutputTail {
    private text = "";

    constructor(private readonly verbose: boolean) {}

    readonly write = (chunk: string): void => {
        if (this.verbose) {
            process.stdout.write(chunk);
        }
        this.text = (this.text + chunk).slice(-20_000);
    };

    lines(count = 40): string {
        return this.text.split("\n").slice(-count).join("\n");
    }
}

async function runner(options: RunnerOptions): Promise<number> {
    const stack = await openStack(options.stack);
    const outputs = (): Promise<DrainOutputs> => labOutputs<DrainOutputs>(stack);
    const first = await outputs();
    if (!first.vipUrl) {
        console.error(`stack ${options.stack} has no outputs: is the lab up? (scripts/lab up --stack ${options.stack})`);
        return 2;
    }
    const explicit = await stack.getConfig("lvs-dr-lab:realServers").catch(() => undefined);
    if (explicit !== undefined && explicit.value !== "") {
        console.error(`stack ${options.stack} lists realServers explicitly; this runner drains through realServerWeights, which that excludes`);
        return 2;
    }
    const count = first.realServers.length;
    const serverName = options.server ?? first.realServers[0]?.name;
    const drainedIndex = first.realServers.findIndex((server) => server.name === serverName);
    if (serverName === undefined || drainedIndex < 0) {
        console.error(`no real server ${serverName ?? ""} in stack ${options.stack} (${first.realServers.map((s) => s.name).join(", ")})`);
        return 64;
    }
    if (count < 2) {
        console.error("draining the only real server leaves nothing to serve; the lab needs at least 2");
        return 64;
    }
    const original = await stack.getConfig("lvs-dr-lab:realServerWeights").catch(() => undefined);
    // The rounds change realServerWeights through Pulumi, which rewrites the
    // stack's config file; once the config is back as it was, so is the file
    // (its comments and layout), unless someone changed the config meanwhile.
    const stackFile = path.join(PROJECT_ROOT, `Pulumi.${options.stack}.yaml`);
    const fileBefore = fs.existsSync(stackFile) ? fs.readFileSync(stackFile, "utf8") : undefined;
    const configBefore = await stack.getAllConfig();
    const tail = new OutputTail(options.verbose);
    const up = async (): Promise<void> => {
        try {
            await runOperation(stack, "up", tail.write);
        } catch (error) {
            if (!options.verbose) {
                console.log(tail.lines().replace(/^/gm, "    | "));
            }
            throw error;
        }
    };
    console.log(
        `drain runner: stack ${options.stack} (${first.mode}, ${first.directors.length} director(s), ${count} real servers): ` +
            `${options.times} round(s) of draining ${serverName}, ${options.ports} reused ports, a ${options.sizeMib} MiB download`,
    );
    const file = await prepareLongFile(first, options.sizeMib * 1024 * 1024);
    let passed = 0;
    let rounds = 0;
    // Ctrl-C ends the run after the current round, weights put back; a second one stops at once.
    let stopping = false;
    const onInterrupt = (): void => {
        if (stopping) {
            process.exit(130);
        }
        stopping = true;
        console.log("drain runner: interrupted; finishing this round, then putting the weights back (Ctrl-C again to stop at once)");
    };
    process.on("SIGINT", onInterrupt);
    process.on("SIGTERM", onInterrupt);
    try {
        for (let round = 1; round <= options.times && !stopping; round++) {
            rounds = round;
            const started = Date.now();
            const problems: string[] = [];
            const facts: string[] = [];
            let check: DrainCheck | undefined;
            try {
                await stack.setConfig("lvs-dr-lab:realServerWeights", { value: weightsJson(count) });
                await up();
                const before = await outputs();
                check = new DrainCheck(before, serverName, { count: options.ports, file });
                problems.push(...(await check.prepare()).problems);
                await stack.setConfig("lvs-dr-lab:realServerWeights", { value: weightsJson(count, drainedIndex) });
                const drainStarted = Date.now();
                await check.around(up);
                facts.push(`drain up ${((Date.now() - drainStarted) / 1000).toFixed(0)} s`);
                const after = await outputs();
                const reuse = await check.reuse(after);
                problems.push(...reuse.problems);
                const elsewhere = reuse.reused.filter((landing) => landing.status === 200 && landing.server !== undefined && landing.server !== serverName);
                facts.push(`reuse: ${elsewhere.length}/${reuse.reused.length} elsewhere, ${reuse.live?.length ?? "?"} meeting a live entry`);
                const transfer = await check.finishTransfer();
                problems.push(...transfer.problems);
                facts.push(`download ${transfer.result.bytes === file.size && transfer.result.sha256 === file.sha256 ? "whole" : "NOT whole"} after ${transfer.result.heldSeconds.toFixed(0)} s held`);
                const fresh = await freshConnections(after, serverName);
                problems.push(...fresh.problems);
                facts.push(fresh.summary);
            } catch (error) {
                problems.push(`round aborted: ${errorText(error)}`);
                check?.abort();
            }
            const seconds = ((Date.now() - started) / 1000).toFixed(0);
            if (problems.length === 0) {
                passed++;
                console.log(`round ${round}/${options.times}: PASS in ${seconds} s (${facts.join("; ")})`);
            } else {
                console.log(`round ${round}/${options.times}: FAIL in ${seconds} s: ${problems.join("; ")}${facts.length ? ` (${facts.join("; ")})` : ""}`);
            }
        }
    } finally {
        console.log("drain runner: putting the weights back");
        try {
            if (original !== undefined) {
                await stack.setConfig("lvs-dr-lab:realServerWeights", original);
            } else {
                await stack.removeConfig("lvs-dr-lab:realServerWeights");
            }
            if (fileBefore !== undefined && fs.readFileSync(stackFile, "utf8") !== fileBefore) {
                if (sameConfig(configBefore, await stack.getAllConfig())) {
                    fs.writeFileSync(stackFile, fileBefore);
                } else {
                    console.log(`drain runner: the config of stack ${options.stack} changed during the run; ${path.basename(stackFile)} is left as Pulumi wrote it`);
                }
            }
            await up();
            await removeLongFile(await outputs());
        } catch (error) {
            console.log(`drain runner: could not put the weights back: ${errorText(error)} (run: scripts/lab up --stack ${options.stack})`);
        }
    }
    const failed = rounds - passed;
    console.log(`drain: ${passed} passed, ${failed} failed${rounds < options.times ? ` (${options.times - rounds} of ${options.times} rounds not run: interrupted)` : ""}`);
    return passed === options.times ? 0 : stopping ? 130 : 1;
}

runMain("drain", module, async () => {
    const argv = process.argv.slice(2);
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(USAGE);
        return 0;
    }
    const options = parseRunnerArgs(argv);
    if (typeof options === "string") {
        console.error(`${options}\n${USAGE}`);
        return 64;
    }
    return runner(options);
});
