// wrk through the VIP or to one server: its output read into figures, and
// what makes a run's figures worthless (failed requests).
import { execFile } from "child_process";

/** What one wrk run reports. Latencies in milliseconds. */
export interface WrkResult {
    requestsPerSecond: number;
    requests: number;
    seconds: number;
    latencyMs: { mean: number; max: number; p50: number; p75: number; p90: number; p99: number };
    /** Answers with a status of 400 or more ("Non-2xx or 3xx responses"). */
    non2xx: number;
    socketErrors: { connect: number; read: number; write: number; timeout: number };
    /** Socket errors plus non-2xx/3xx answers. */
    errors: number;
}

/** "10.52ms", "830.00us", "1.20s", "2.00m" in milliseconds. */
export function parseDuration(text: string): number {
    const match = /^([0-9.]+)(us|ms|s|m)$/.exec(text.trim());
    if (!match) {
        throw new Error(`not a wrk duration: "${text}"`);
    }
    const value = Number(match[1]);
    const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
    return value * scale[match[2]];
}

/** Parses the output of `wrk --latency`; throws if a figure is missing. wrk prints its error lines only when there were errors. */
export function parseWrk(output: string): WrkResult {
    const find = (pattern: RegExp, what: string): RegExpExecArray => {
        const match = pattern.exec(output);
        if (!match) {
            throw new Error(`wrk output has no ${what}:\n${output}`);
        }
        return match;
    };
    const thread = find(/^\s*Latency\s+(\S+)\s+\S+\s+(\S+)/m, "latency line");
    const percentile = (p: number): number => parseDuration(find(new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m"), `${p}% percentile`)[1]);
    const total = find(/^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)/m, "request count");
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
    const socketErrors = socket
        ? { connect: Number(socket[1]), read: Number(socket[2]), write: Number(socket[3]), timeout: Number(socket[4]) }
        : { connect: 0, read: 0, write: 0, timeout: 0 };
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? "0");
    return {
        requestsPerSecond: Number(find(/^Requests\/sec:\s+([0-9.]+)/m, "Requests/sec")[1]),
        requests: Number(total[1]),
        seconds: parseDuration(`${total[2]}${total[3]}`) / 1000,
        latencyMs: {
            mean: parseDuration(thread[1]),
            max: parseDuration(thread[2]),
            p50: percentile(50),
            p75: percentile(75),
            p90: percentile(90),
            p99: percentile(99),
        },
        non2xx,
        socketErrors,
        errors: non2xx + socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout,
    };
}

/** A wrk run's problems: no completed request, error answers, socket errors of any kind. */
export function wrkProblems(result: WrkResult): string[] {
    const problems: string[] = [];
    if (result.requests === 0) {
        problems.push("no request completed");
    }
    if (result.non2xx > 0) {
        problems.push(`${result.non2xx} of ${result.requests} answers were not 2xx or 3xx`);
    }
    const { connect, read, write, timeout } = result.socketErrors;
    if (connect + read + write + timeout > 0) {
        problems.push(`socket errors: connect ${connect}, read ${read}, write ${write}, timeout ${timeout}`);
    }
    return problems;
}

/** Runs `wrk --latency` against url from here; rejects when wrk fails or its output cannot be read. */
export function runWrk(url: string, seconds: number, connections: number): Promise<WrkResult> {
    return new Promise((resolve, reject) => {
        execFile(
            "wrk",
            ["-t", "2", "-c", String(connections), "-d", `${seconds}s`, "--timeout", "5s", "--latency", url],
            { timeout: (seconds + 30) * 1000 },
            (error, stdout) => {
                if (error) {
                    reject(new Error(`wrk ${url}: ${error.message}`));
                    return;
                }
                try {
                    resolve(parseWrk(stdout));
                } catch (parseError) {
                    reject(parseError);
                }
            },
        );
    });
}
