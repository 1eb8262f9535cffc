// The drain's long download: a file on the NFS export big enough that a
// transfer of it, started on a server before the drain and held (paused)
// while the drain runs, is still going afterwards; then read to the end and
// judged: whole, from the server it started on.
import * as crypto from "crypto";
import * as net from "net";
import { shellQuote } from "../../components/libvirt";
import type { LabOutputValues } from "../../components/program";
import { delay, errorText, exportPathOf, HEAD_LIMIT, parseResponseHead, requestText, ResponseHead, sshRun } from "../kit";

/** A file on the NFS export, big enough that a paused transfer of it is still going after a drain. */
export interface LongFile {
    /** URL path on the real servers. */
    urlPath: string;
    size: number;
    sha256: string;
}

export const LONG_FILE_NAME = "lvslab-drain-transfer.bin";
export const LONG_FILE_BYTES = 32 * 1024 * 1024;

/** What reaching the file on the store takes: its export and a login to the store. */
type StoreOutputs = Pick<LabOutputValues, "nfsExport" | "nfs" | "ssh">;

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
export async function prepareLongFile(out: StoreOutputs, size = LONG_FILE_BYTES): Promise<LongFile> {
    const directory = exportPathOf(out.nfsExport);
    const text = await sshRun(out.ssh, out.nfs.storageIp, `sudo sh -c ${shellQuote(longFileCommand(directory, size))}`, 180_000);
    const sha256 = /^([0-9a-f]{64})\s/m.exec(text)?.[1];
    if (sha256 === undefined) {
        throw new Error(`sha256sum on ${out.nfs.name} printed no hash: ${JSON.stringify(text.slice(0, 200))}`);
    }
    return { urlPath: `/${LONG_FILE_NAME}`, size, sha256 };
}

/** Removes the long transfer's file from the NFS export. */
export async function removeLongFile(out: StoreOutputs): Promise<void> {
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
        out: Pick<LabOutputValues, "vip" | "port" | "identityHeader" | "realServers">,
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
                return new LongTransfer(
                    opened.socket,
                    server,
                    opened.head.status,
                    contentLength,
                    opened.rest,
                    attempt,
                    options.trickleMs ?? 60_000,
                    options.trickleBytes ?? 1024 * 1024,
                );
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
function openDownload(out: Pick<LabOutputValues, "vip" | "port">, path: string, timeoutMs: number): Promise<OpenedDownload> {
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
