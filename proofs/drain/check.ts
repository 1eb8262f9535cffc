// The drain check, against a running lab: a real server with weight 0
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
// The phases: `prepare` (ports landing on the server, a long download held
// on it), `around` the operation that drains it, then `reuse`,
// `finishTransfer` and `freshConnections`. The e2e runs them in each mode;
// runner.ts runs them N times in a row.
import type { LabOutputValues } from "../../components/program";
import {
    BackgroundRequests,
    directorViews,
    errorText,
    get,
    Landing,
    landedOn,
    livePorts,
    readDirectorSysctls,
    requestFrom,
    SourcePorts,
    sysctlProblems,
} from "../kit";
import { judgeTransfer, LongFile, LongTransfer, TransferResult } from "./download";

/** The stack outputs the drain check reads. */
export type DrainOutputs = Pick<
    LabOutputValues,
    "vip" | "vipUrl" | "port" | "mode" | "identityHeader" | "expectedPage" | "nfsExport" | "nfs" | "directors" | "realServers" | "ssh"
>;

/** The one source of fresh ports of this process. */
const sourcePorts = new SourcePorts();

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

export interface ReuseJudgement {
    problems: string[];
    summary: string;
}

/** "web1 3, web2 1": how many landed where, by name. */
function countsText(counts: Readonly<Record<string, number>>): string {
    return Object.entries(counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, count]) => `${name} ${count}`)
        .join(", ");
}

/** What went wrong with one reused port, if anything. */
function reusedPortProblem(landing: Landing, server: string): string | undefined {
    if (landing.bindError !== undefined) {
        return `harness: source port ${landing.localPort} could not be taken again (${landing.bindError}), so nothing was tested on it`;
    }
    if (landing.error !== undefined) {
        return `source port ${landing.localPort}: the new connection failed: ${landing.error}`;
    }
    if (landing.status !== 200) {
        return `source port ${landing.localPort}: HTTP ${landing.status}`;
    }
    if (landing.server === server) {
        return `source port ${landing.localPort}: the new connection landed on ${server} again, which takes no new connections`;
    }
    return undefined;
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
        const problem = reusedPortProblem(landing, server);
        if (problem !== undefined) {
            problems.push(problem);
        }
        if (landing.server !== undefined) {
            counts[landing.server] = (counts[landing.server] ?? 0) + 1;
        }
    }
    if (input.requireLiveEntry && live === undefined) {
        problems.push(`inconclusive: the active director's connection entries could not be read, so it is unknown whether any reuse was forced`);
    } else if (input.requireLiveEntry && live !== undefined && reused.length > 0 && live.length === 0) {
        problems.push(
            `inconclusive: none of the ${reused.length} ports still had an IPVS entry to ${server} on ${input.director ?? "the active director"} when reused, so no reuse was forced`,
        );
    }
    const ages = input.ages && input.ages.length > 0 ? ` ${Math.min(...input.ages).toFixed(0)}-${Math.max(...input.ages).toFixed(0)} s before` : "";
    const summary =
        `${reused.length} source ports that had landed on ${server}${ages} reused, ` +
        `${live === undefined ? "?" : live.length} of them meeting a live entry to ${server} on ${input.director ?? "?"}: ` +
        `landed on ${countsText(counts) || "nothing"}; ${counts[server] ?? 0} on ${server}`;
    return { problems, summary };
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
                facts.push(
                    `a ${(this.options.file.size / 1048576).toFixed(0)} MiB download started on ${this.serverName} and held (attempt ${this.transfer.attempts})`,
                );
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
    return { problems, summary: `${requests} new connections: ${countsText(answers)}` };
}

/** The realServerWeights value with every server at 1, or the named one at 0. */
export function weightsJson(count: number, drainedIndex?: number): string {
    return JSON.stringify(Array.from({ length: count }, (_, index) => (index === drainedIndex ? 0 : 1)));
}
