// The smoke test: proves a running lab works using nothing but its stack
// outputs. Many requests to the VIP must all return the shared page, every
// real server must answer its share, every extra service port must answer,
// each director's IPVS table must list every real server on every port with
// the mode's forwarding (Route, Masq or Tunnel), and exactly one director
// must hold the VIP. Run it from where the VIP is reachable (inside the lab
// host's namespace: `scripts/lab smoke`).
import * as http from "http";
import { openStack, plainOutputs } from "./automation";
import { sshRun } from "./ssh";

/** The outputs the smoke test reads. */
export interface SmokeInputs {
    vipUrl: string;
    vip: string;
    port: number;
    ports: number[];
    mode: "dr" | "nat" | "tun";
    expectedPage: string;
    identityHeader: string;
    scheduler: string;
    directors: { name: string; role: string; publicIp: string }[];
    realServers: { name: string; publicIp: string; weight: number }[];
    ssh: { user: string; privateKeyPath: string };
}

/** How `ipvsadm -Ln` names each mode's forwarding. */
export const FORWARD_NAMES: Readonly<Record<SmokeInputs["mode"], string>> = { dr: "Route", nat: "Masq", tun: "Tunnel" };

/** Requests sent to each extra port: enough to see every server under rr. */
const EXTRA_PORT_REQUESTS = 20;

export interface SmokeReport {
    requests: number;
    succeeded: number;
    failures: string[];
    answersByServer: Record<string, number>;
    /** Real-server entries with the mode's forwarding, per director. */
    entriesByDirector: Record<string, number>;
    /** The director(s) holding the VIP: exactly one when all is well. */
    vipHolders: string[];
    ipvsTable: string;
    problems: string[];
    seconds: number;
}

interface HttpAnswer {
    status: number;
    body: string;
    server: string | undefined;
}

export function get(url: string, header: string, timeoutMs: number): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
        // A new connection per request: IPVS schedules connections, not requests.
        const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => {
                const value = response.headers[header.toLowerCase()];
                resolve({ status: response.statusCode ?? 0, body, server: Array.isArray(value) ? value[0] : value });
            });
        });
        request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        request.on("error", reject);
    });
}

/**
 * The share each server should get. Under rr every server with a non-zero
 * weight gets 1/n; the weighted schedulers share by weight. Other schedulers
 * (lc, sh, ...) promise no split, so only "everyone answered" is checked.
 */
export function expectedShares(inputs: Pick<SmokeInputs, "scheduler" | "realServers">): Map<string, number> | undefined {
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

/** Counts the real-server lines of `ipvsadm -Ln` that forward the given way (Route, Masq, Tunnel). */
export function countEntries(ipvsTable: string, forward: string): number {
    return ipvsTable.split("\n").filter((line) => new RegExp(`^\\s*->\\s+\\S+:\\d+\\s+${forward}\\s`).test(line)).length;
}

/** The URL of the VIP on another port. */
export function urlForPort(vip: string, port: number): string {
    return port === 80 ? `http://${vip}/` : `http://${vip}:${port}/`;
}

/**
 * Checks the answers against the expected split: each server between 60% and
 * 140% of its share (15%..35% for four servers under rr).
 */
export function judgeDistribution(
    answersByServer: Record<string, number>,
    total: number,
    inputs: Pick<SmokeInputs, "scheduler" | "realServers">,
): string[] {
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

export async function smokeTest(inputs: SmokeInputs, requests = 200, log: (line: string) => void = console.log): Promise<SmokeReport> {
    const started = Date.now();
    const answersByServer: Record<string, number> = {};
    const failures: string[] = [];
    for (let i = 0; i < requests; i++) {
        try {
            const answer = await get(inputs.vipUrl, inputs.identityHeader, 5000);
            if (answer.status !== 200 || answer.body.trim() !== inputs.expectedPage) {
                failures.push(`request ${i + 1}: HTTP ${answer.status}, body ${JSON.stringify(answer.body.slice(0, 80))}`);
            }
            const server = answer.server ?? "(no identity header)";
            answersByServer[server] = (answersByServer[server] ?? 0) + 1;
        } catch (error) {
            failures.push(`request ${i + 1}: ${error instanceof Error ? error.message : String(error)}`);
        }
    }
    const problems = [...failures.slice(0, 5)];
    if (failures.length > 5) {
        problems.push(`... and ${failures.length - 5} more failed requests`);
    }
    problems.push(...judgeDistribution(answersByServer, requests, inputs));
    for (const port of inputs.ports.filter((p) => p !== inputs.port)) {
        const url = urlForPort(inputs.vip, port);
        let answered = 0;
        for (let i = 0; i < EXTRA_PORT_REQUESTS; i++) {
            try {
                const answer = await get(url, inputs.identityHeader, 5000);
                answered += answer.status === 200 && answer.body.trim() === inputs.expectedPage ? 1 : 0;
            } catch {
                // counted as not answered
            }
        }
        if (answered !== EXTRA_PORT_REQUESTS) {
            problems.push(`${url}: ${answered}/${EXTRA_PORT_REQUESTS} requests returned the shared page`);
        }
    }
    const forward = FORWARD_NAMES[inputs.mode];
    const expectedEntries = inputs.realServers.length * inputs.ports.length;
    const entriesByDirector: Record<string, number> = {};
    const vipHolders: string[] = [];
    let ipvsTable = "";
    for (const director of inputs.directors) {
        try {
            const table = await sshRun(inputs.ssh, director.publicIp, "sudo ipvsadm -Ln");
            ipvsTable += `${director.name}:\n${table}`;
            entriesByDirector[director.name] = countEntries(table, forward);
            if (entriesByDirector[director.name] !== expectedEntries) {
                problems.push(`ipvsadm -Ln on ${director.name} lists ${entriesByDirector[director.name]} ${forward} entries; expected ${expectedEntries}`);
            }
            const addresses = await sshRun(inputs.ssh, director.publicIp, "ip -o -4 addr show");
            if (addresses.includes(` ${inputs.vip}/`)) {
                vipHolders.push(director.name);
            }
        } catch (error) {
            problems.push(`could not read ${director.name}'s IPVS table: ${error instanceof Error ? error.message : String(error)}`);
        }
    }
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
        ipvsTable,
        problems,
        seconds: (Date.now() - started) / 1000,
    };
    log(`smoke: ${report.succeeded}/${requests} requests to ${inputs.vipUrl} returned the shared page`);
    for (const [server, count] of Object.entries(answersByServer).sort()) {
        log(`  ${server.padEnd(12)} ${String(count).padStart(4)}  ${((count / requests) * 100).toFixed(1)}%`);
    }
    for (const [name, count] of Object.entries(entriesByDirector)) {
        log(`  ${name}: ${count} ${forward} entries in ipvsadm -Ln${vipHolders.includes(name) ? ", holds the VIP" : ""}`);
    }
    log(ipvsTable.trimEnd().replace(/^/gm, "    "));
    log(problems.length === 0 ? "smoke: PASS" : `smoke: FAIL\n  - ${problems.join("\n  - ")}`);
    return report;
}

async function main(argv: string[]): Promise<number> {
    let stackName = "dev";
    let requests = 200;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack" && argv[i + 1]) {
            stackName = argv[++i];
        } else if (argv[i] === "--requests" && argv[i + 1]) {
            requests = Number(argv[++i]);
        } else if (argv[i] === "--help" || argv[i] === "-h") {
            console.log("usage: node bin/scripts/smoke.js [--stack NAME] [--requests N]\nSmoke-tests a running lab from its stack outputs.");
            return 0;
        } else {
            console.error(`unknown argument "${argv[i]}"`);
            return 64;
        }
    }
    if (!Number.isInteger(requests) || requests < 1 || requests > 100_000) {
        console.error("--requests must be a whole number from 1 to 100000");
        return 64;
    }
    const outputs = await plainOutputs(await openStack(stackName));
    if (!outputs.vipUrl) {
        console.error(`stack ${stackName} has no outputs: is the lab up? (scripts/lab up --stack ${stackName})`);
        return 2;
    }
    const report = await smokeTest(outputs as unknown as SmokeInputs, requests);
    return report.problems.length === 0 ? 0 : 1;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(error instanceof Error ? error.message : String(error));
            process.exit(1);
        },
    );
}
