// The smoke test: proves a running lab works using nothing but its stack
// outputs. Many requests to the VIP (a few at a time, each a new
// connection) must all return the shared page, every
// real server must answer its share, every extra service port must answer,
// each director's IPVS table must list every real server on every port at
// its forwarding address with its weight and the mode's forwarding (Route,
// Masq or Tunnel), and nothing else, and exactly one director must hold the
// VIP. A token written to the NFS export for this run only must come back
// through the VIP from every real server that takes connections: the page
// is the export's, not a copy. Run it from where the VIP is reachable
// (inside the lab host's namespace: `scripts/lab smoke`).
import { randomBytes } from "crypto";
import { shellQuote } from "../components/libvirt";
import type { LabOutputValues } from "../components/program";
import { openStack } from "../scripts/automation";
import { errorText, exportPathOf, get, HeldLogin, labOutputs, commandLineOrExit, runMain, sshHold, sshRun } from "./kit";
import { IpvsService, parseIpvsTable } from "../scripts/tools/parse";

/** The outputs the smoke test reads. */
export type SmokeInputs = Pick<
    LabOutputValues,
    "vipUrl" | "vip" | "port" | "ports" | "mode" | "expectedPage" | "identityHeader" | "scheduler" | "directors" | "realServers" | "ssh" | "nfsExport" | "nfs"
>;

/** How `ipvsadm -Ln` names each mode's forwarding. */
export const FORWARD_NAMES: Readonly<Record<SmokeInputs["mode"], string>> = { dr: "Route", nat: "Masq", tun: "Tunnel" };

/** Requests sent to each extra port: enough to see every server under rr. */
const EXTRA_PORT_REQUESTS = 20;

/**
 * Requests in flight at once. Each is a new connection, which the director
 * schedules on its own, so the split is judged as before; 200 requests took
 * about 1 s this way where one at a time took 2.5 s on an idle lab.
 */
export const SMOKE_CONCURRENCY = 4;

/** `task(0)` .. `task(count - 1)`, at most `concurrency` at a time; the results in index order. */
export async function inBatches<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
    const results: T[] = new Array<T>(count);
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < count) {
            const index = next++;
            results[index] = await task(index);
        }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return results;
}

export interface SmokeReport {
    requests: number;
    succeeded: number;
    failures: string[];
    answersByServer: Record<string, number>;
    /** Real-server entries with the mode's forwarding, per director. */
    entriesByDirector: Record<string, number>;
    /** The director(s) holding the VIP: exactly one when all is well. */
    vipHolders: string[];
    /** Per real server, how many times it returned this run's token from the NFS export. */
    tokenAnswersByServer: Record<string, number>;
    ipvsTable: string;
    problems: string[];
    seconds: number;
}

/** What the split of the answers depends on: the scheduler and each server's weight. */
export type ServerWeights = Pick<LabOutputValues, "scheduler" | "realServers">;

/**
 * The share each server should get. Under rr every server with a non-zero
 * weight gets 1/n; the weighted schedulers share by weight. Other schedulers
 * (lc, sh, ...) promise no split, so only "everyone answered" is checked.
 */
export function expectedShares(inputs: ServerWeights): Map<string, number> | undefined {
    const active = inputs.realServers.filter((server) => server.weight > 0);
    if (inputs.scheduler === "rr") {
        return new Map(active.map((server) => [server.name, 1 / active.length]));
    }
    if (inputs.scheduler === "wrr") {
        const total = active.reduce((sum, server) => sum + server.weight, 0);
        return new Map(active.map((server) => [server.name, server.weight / total]));
    }
    return undefined;
}

/**
 * One director's table against the outputs: a TCP service on the VIP for
 * every port, on it every real server at its forwarding address and the
 * port, with its weight and the mode's forwarding; no other service or entry.
 */
export function tableProblems(
    director: string,
    services: readonly IpvsService[],
    inputs: Pick<SmokeInputs, "vip" | "ports" | "mode" | "realServers">,
): string[] {
    const problems: string[] = [];
    const forward = FORWARD_NAMES[inputs.mode];
    const wanted = inputs.ports.map((port) => `${inputs.vip}:${port}`);
    for (const service of services.filter((s) => s.protocol !== "TCP" || !wanted.includes(s.address))) {
        problems.push(`${director}: a virtual service ${service.protocol} ${service.address} the outputs do not name`);
    }
    for (const port of inputs.ports) {
        const address = `${inputs.vip}:${port}`;
        const service = services.find((s) => s.protocol === "TCP" && s.address === address);
        if (!service) {
            problems.push(`${director}: no virtual service TCP ${address}`);
            continue;
        }
        const entries = service.destinations.map((d) => ({ ...d, hostPort: `${d.address}:${d.port}` }));
        for (const server of inputs.realServers) {
            const entry = entries.find((e) => e.hostPort === `${server.forwardingAddress}:${port}`);
            if (!entry) {
                problems.push(`${director}: ${address} has no entry for ${server.name} (${server.forwardingAddress}:${port})`);
                continue;
            }
            if (entry.forward !== forward) {
                problems.push(`${director}: ${address} forwards to ${server.name} by ${entry.forward}, expected ${forward}`);
            }
            if (entry.weight !== server.weight) {
                problems.push(`${director}: ${address} gives ${server.name} weight ${entry.weight}, expected ${server.weight}`);
            }
        }
        const known = new Set(inputs.realServers.map((server) => `${server.forwardingAddress}:${port}`));
        for (const entry of entries.filter((e) => !known.has(e.hostPort))) {
            problems.push(`${director}: ${address} has an entry for ${entry.hostPort} (${entry.forward}), which is no real server of the lab`);
        }
    }
    return problems;
}

/** An answer to a request for the token file: what came back, or what went wrong. */
export interface TokenAnswer {
    server?: string;
    status?: number;
    body?: string;
    error?: string;
}

/** The name of this run's token file on the export: unique, so no real server can have it cached. */
export function tokenFileName(token: string): string {
    return `lvslab-smoke-${token}.txt`;
}

/**
 * The token read back through the VIP: every server that takes new
 * connections (weight above 0) must have returned it, and every answer must
 * be it. A server answering anything else (404: its web root is not the
 * export) does not serve the export's page.
 */
export function tokenProblems(answers: readonly TokenAnswer[], token: string, servers: LabOutputValues["realServers"]): string[] {
    const problems: string[] = [];
    const failed = answers.filter((answer) => answer.error !== undefined);
    if (failed.length > 0) {
        problems.push(`${failed.length} request(s) for the token file failed (last: ${failed[failed.length - 1].error})`);
    }
    const wrongBy = new Map<string, TokenAnswer>();
    for (const answer of answers.filter((a) => a.error === undefined && (a.status !== 200 || (a.body ?? "").trim() !== token))) {
        wrongBy.set(answer.server ?? "(no identity header)", answer);
    }
    for (const [server, answer] of wrongBy) {
        problems.push(
            `${server} answered HTTP ${answer.status} ${JSON.stringify((answer.body ?? "").slice(0, 60))} for the token file, not the token: it does not serve the NFS export`,
        );
    }
    for (const server of servers.filter((s) => s.weight > 0)) {
        if (!answers.some((answer) => answer.server === server.name && answer.status === 200 && (answer.body ?? "").trim() === token)) {
            problems.push(`${server.name} never returned the token written to the NFS export`);
        }
    }
    return problems;
}

/** Where this run's token file is on the store. */
function tokenFileOf(inputs: SmokeInputs, token: string): string {
    return `${exportPathOf(inputs.nfsExport).replace(/\/+$/, "")}/${tokenFileName(token)}`;
}

/**
 * Writes a token for this run to the NFS export, in a login to the store
 * that stays open until the token is read and then removes it: the held
 * login, or the problem that stopped the write.
 */
async function writeToken(inputs: SmokeInputs, token: string): Promise<HeldLogin | string> {
    const file = tokenFileOf(inputs, token);
    const write = `printf %s ${shellQuote(token)} >${shellQuote(`${file}.tmp`)} && chmod 0644 ${shellQuote(`${file}.tmp`)} && mv -f ${shellQuote(`${file}.tmp`)} ${shellQuote(file)}`;
    const remove = `rm -f ${shellQuote(file)} ${shellQuote(`${file}.tmp`)}`;
    return sshHold(inputs.ssh, inputs.nfs.storageIp, write, remove).catch(
        (error: unknown) => `could not write the token to the NFS export on ${inputs.nfs.storageIp}: ${errorText(error)}`,
    );
}

/**
 * Once the token is written (`written`, from writeToken), asks the VIP for
 * it until every server taking connections has answered (bounded), then
 * removes it. The answers, or the problem that stopped it.
 */
async function readTokenThroughVip(
    inputs: SmokeInputs,
    token: string,
    written: Promise<HeldLogin | string>,
): Promise<{ answers: TokenAnswer[]; problems: string[] }> {
    const name = tokenFileName(token);
    const file = tokenFileOf(inputs, token);
    const held = await written;
    if (typeof held === "string") {
        return { answers: [], problems: [held] };
    }
    const answers: TokenAnswer[] = [];
    const problems: string[] = [];
    try {
        const active = inputs.realServers.filter((server) => server.weight > 0);
        const url = new URL(name, inputs.vipUrl).toString();
        const returned = new Set<string>();
        for (let attempt = 0; attempt < active.length * 6 + 10 && !active.every((server) => returned.has(server.name)); attempt++) {
            try {
                const answer = await get(url, inputs.identityHeader, 5000);
                answers.push({ server: answer.server, status: answer.status, body: answer.body });
                if (answer.status === 200 && answer.body.trim() === token && answer.server !== undefined) {
                    returned.add(answer.server);
                }
            } catch (error) {
                answers.push({ error: errorText(error) });
            }
        }
    } finally {
        await held.release().catch((error: unknown) => problems.push(`could not remove ${file} from the NFS export: ${errorText(error)}`));
    }
    return { answers, problems };
}

/** The URL of the VIP on another port. */
export function urlForPort(vip: string, port: number): string {
    return port === 80 ? `http://${vip}/` : `http://${vip}:${port}/`;
}

/**
 * Checks the answers against the expected split: each server between 60% and
 * 140% of its share (15%..35% for four servers under rr).
 */
export function judgeDistribution(answersByServer: Record<string, number>, total: number, inputs: ServerWeights): string[] {
    const problems: string[] = [];
    const shares = expectedShares(inputs);
    for (const server of inputs.realServers.filter((s) => s.weight > 0)) {
        const answered = answersByServer[server.name] ?? 0;
        if (answered === 0) {
            problems.push(`${server.name} never answered`);
            continue;
        }
        const share = shares?.get(server.name);
        if (share !== undefined) {
            const fraction = answered / total;
            if (fraction < share * 0.6 || fraction > share * 1.4) {
                problems.push(
                    `${server.name} answered ${(fraction * 100).toFixed(1)}% of requests; expected ${(share * 60).toFixed(1)}%..${(share * 140).toFixed(1)}%`,
                );
            }
        }
    }
    for (const name of Object.keys(answersByServer)) {
        const server = inputs.realServers.find((candidate) => candidate.name === name);
        if (!server) {
            problems.push(`an unknown server "${name}" answered`);
        } else if (server.weight === 0) {
            problems.push(`${name} has weight 0 (drained) but took ${answersByServer[name]} new connection(s)`);
        }
    }
    return problems;
}

const ADDRESSES_MARK = "-- addresses --";

/** Each director's IPVS table checked against the lab and which of them holds the VIP (over SSH). */
async function checkDirectors(
    inputs: SmokeInputs,
): Promise<{ forward: string; entriesByDirector: Record<string, number>; vipHolders: string[]; ipvsTable: string; problems: string[] }> {
    const problems: string[] = [];
    const forward = FORWARD_NAMES[inputs.mode];
    const entriesByDirector: Record<string, number> = {};
    const vipHolders: string[] = [];
    let ipvsTable = "";
    for (const director of inputs.directors) {
        try {
            // One login for both: the table, then the director's addresses.
            const output = await sshRun(inputs.ssh, director.publicIp, `sudo ipvsadm -Ln && echo ${ADDRESSES_MARK} && ip -o -4 addr show`);
            const [table, addresses = ""] = output.split(`${ADDRESSES_MARK}\n`);
            ipvsTable += `${director.name}:\n${table}`;
            const services = parseIpvsTable(table);
            entriesByDirector[director.name] = services.flatMap((service) => service.destinations).filter((entry) => entry.forward === forward).length;
            problems.push(...tableProblems(director.name, services, inputs));
            if (addresses.includes(` ${inputs.vip}/`)) {
                vipHolders.push(director.name);
            }
        } catch (error) {
            problems.push(`could not read ${director.name}'s IPVS table: ${errorText(error)}`);
        }
    }
    return { forward, entriesByDirector, vipHolders, ipvsTable, problems };
}

export async function smokeTest(inputs: SmokeInputs, requests = 200, log: (line: string) => void = console.log): Promise<SmokeReport> {
    const started = Date.now();
    // Over SSH while the requests run: none of them waits for another.
    const directorsChecked = checkDirectors(inputs);
    const token = randomBytes(8).toString("hex");
    const tokenWritten = writeToken(inputs, token);
    const answersByServer: Record<string, number> = {};
    const failures: string[] = [];
    await inBatches(requests, SMOKE_CONCURRENCY, async (i) => {
        try {
            const answer = await get(inputs.vipUrl, inputs.identityHeader, 5000);
            if (answer.status !== 200 || answer.body.trim() !== inputs.expectedPage) {
                failures.push(`request ${i + 1}: HTTP ${answer.status}, body ${JSON.stringify(answer.body.slice(0, 80))}`);
            }
            const server = answer.server ?? "(no identity header)";
            answersByServer[server] = (answersByServer[server] ?? 0) + 1;
        } catch (error) {
            failures.push(`request ${i + 1}: ${errorText(error)}`);
        }
    });
    const problems = [...failures.slice(0, 5)];
    if (failures.length > 5) {
        problems.push(`... and ${failures.length - 5} more failed requests`);
    }
    problems.push(...judgeDistribution(answersByServer, requests, inputs));
    for (const port of inputs.ports.filter((p) => p !== inputs.port)) {
        const url = urlForPort(inputs.vip, port);
        const returned = await inBatches(EXTRA_PORT_REQUESTS, SMOKE_CONCURRENCY, (): Promise<boolean> =>
            get(url, inputs.identityHeader, 5000).then(
                (answer) => answer.status === 200 && answer.body.trim() === inputs.expectedPage,
                () => false,
            ),
        );
        const answered = returned.filter(Boolean).length;
        if (answered !== EXTRA_PORT_REQUESTS) {
            problems.push(`${url}: ${answered}/${EXTRA_PORT_REQUESTS} requests returned the shared page`);
        }
    }
    const tokenRead = await readTokenThroughVip(inputs, token, tokenWritten);
    problems.push(...tokenRead.problems, ...tokenProblems(tokenRead.answers, token, inputs.realServers));
    const tokenAnswersByServer: Record<string, number> = {};
    for (const answer of tokenRead.answers.filter((a) => a.status === 200 && (a.body ?? "").trim() === token)) {
        const server = answer.server ?? "(no identity header)";
        tokenAnswersByServer[server] = (tokenAnswersByServer[server] ?? 0) + 1;
    }
    const { forward, entriesByDirector, vipHolders, ipvsTable, problems: directorProblems } = await directorsChecked;
    problems.push(...directorProblems);
    if (vipHolders.length !== 1) {
        problems.push(`the VIP ${inputs.vip} is on ${vipHolders.length === 0 ? "no director" : vipHolders.join(" and ")}; expected exactly one`);
    }
    const report: SmokeReport = {
        requests,
        succeeded: requests - failures.length,
        failures,
        answersByServer,
        entriesByDirector,
        vipHolders,
        tokenAnswersByServer,
        ipvsTable,
        problems,
        seconds: (Date.now() - started) / 1000,
    };
    log(`smoke: ${report.succeeded}/${requests} requests to ${inputs.vipUrl} returned the shared page`);
    for (const [server, count] of Object.entries(answersByServer).sort()) {
        log(`  ${server.padEnd(12)} ${String(count).padStart(4)}  ${((count / requests) * 100).toFixed(1)}%`);
    }
    log(
        `  token ${tokenFileName(token)} on the NFS export read back through the VIP from: ${
            Object.entries(tokenAnswersByServer)
                .sort()
                .map(([server, count]) => `${server} (${count})`)
                .join(", ") || "no server"
        }`,
    );
    for (const [name, count] of Object.entries(entriesByDirector)) {
        log(`  ${name}: ${count} ${forward} entries in ipvsadm -Ln${vipHolders.includes(name) ? ", holds the VIP" : ""}`);
    }
    log(ipvsTable.trimEnd().replace(/^/gm, "    "));
    log(problems.length === 0 ? "smoke: PASS" : `smoke: FAIL\n  - ${problems.join("\n  - ")}`);
    return report;
}

const USAGE = "usage: node bin/proofs/smoke.js [--stack NAME] [--requests N]\nSmoke-tests a running lab from its stack outputs.";

async function main(argv: string[]): Promise<number> {
    const line = commandLineOrExit(argv, { requests: "value" }, USAGE);
    if (typeof line === "number") {
        return line;
    }
    const requests = Number(line.values.requests ?? "200");
    if (!Number.isInteger(requests) || requests < 1 || requests > 100_000) {
        console.error("--requests must be a whole number from 1 to 100000");
        return 64;
    }
    const outputs = await labOutputs(await openStack(line.stack));
    if (!outputs.vipUrl) {
        console.error(`stack ${line.stack} has no outputs: is the lab up? (scripts/lab up --stack ${line.stack})`);
        return 2;
    }
    const report = await smokeTest(outputs, requests);
    return report.problems.length === 0 ? 0 : 1;
}

runMain("smoke", module, () => main(process.argv.slice(2)));
