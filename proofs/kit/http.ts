// HTTP to the VIP, each request on a new connection (IPVS schedules
// connections, not requests): one GET from any local port (node's http),
// or one from a chosen source port over a raw socket, the server closing
// first so the same port can be taken again at once.
import * as http from "http";
import * as net from "net";
import type { LabOutputValues } from "../../components/program";
import { errorText } from "./main";

export interface HttpAnswer {
    status: number;
    body: string;
    /** The identity header: which real server answered. */
    server: string | undefined;
}

/**
 * One GET on a new connection, bounded by `timeoutMs`. Rejects when there
 * is no answer; the error's `code` is "timeout" for no answer in time, else
 * the socket's (ECONNREFUSED...). `options`: a local address to send from,
 * headers to add.
 */
export function get(
    url: string,
    header: string,
    timeoutMs: number,
    options: { localAddress?: string; headers?: Readonly<Record<string, string>> } = {},
): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
        const request = http.get(url, { agent: false, timeout: timeoutMs, localAddress: options.localAddress, headers: options.headers }, (response) => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => {
                const value = response.headers[header.toLowerCase()];
                resolve({ status: response.statusCode ?? 0, body, server: Array.isArray(value) ? value[0] : value });
            });
        });
        request.on("timeout", () => request.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "timeout" })));
        request.on("error", reject);
    });
}

/** What a failed `get` was, in one word: "timeout", the socket's code, or the message. */
export function failureKind(error: unknown): string {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    return typeof code === "string" ? code : errorText(error);
}

// ------------------------------------------------- from a chosen source port

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

/** The most a response head may take before it is refused. */
export const HEAD_LIMIT = 64 * 1024;

/**
 * One request to the VIP from `localPort` (0: any port), read to the end.
 * Never rejects: what went wrong is in the landing. Bounded by `timeoutMs`.
 */
export function requestFrom(out: Pick<LabOutputValues, "vip" | "port" | "identityHeader">, localPort: number, timeoutMs: number, path = "/"): Promise<Landing> {
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

/** Whether a landing is a whole 200 answer from `server`. */
export const landedOn = (landing: Landing, server: string): boolean =>
    landing.error === undefined && landing.bindError === undefined && landing.status === 200 && landing.server === server;
