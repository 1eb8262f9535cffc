// The e2e's checks of the lab tools (scripts/tools), on a running lab with two
// directors and HTTP checks, each through the same code the verbs run:
// - capture: direct routing on the wire (a real server's link carries the
//   VIP's frames to that server's MAC; the director's link carries no reply);
// - view: the page in headless Chromium shows every machine, then a real
//   server leaving the table when its web server stops;
// - impair: 100% loss on a real server's public link takes it out of the
//   table within the check window while requests keep succeeding; cleared,
//   it comes back;
// - split brain: VRRP dropped both ways makes both directors MASTER; healed,
//   one holder again and the clients' neighbour entry on the MASTER's MAC.
import { spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { runCommand } from "../components/libvirt";
import type { LabOutputValues } from "../components/program";
import { delay, get, sshRun, waitFor, watchTable, watchVip } from "./kit";
import { failureTimes, startLoadProbe, summarizeProbe } from "./probe";
import { Frame } from "../scripts/tools/capture";
import { readFrames, record } from "../scripts/tools/captureRun";
import { applyImpairment, clearLink, Link } from "../scripts/tools/impairRun";
import { neighbourMacHere, tapOfNic } from "../scripts/tools/live";
import { LabTopology, machineNamed, nicOf } from "../scripts/tools/topology";

/** What each drill measured, for the results file. */
export type Measured = Record<string, number | string | undefined>;

export interface DrillReport {
    problems: string[];
    measured: Measured;
}

/** A split brain must be over (one VIP holder, clients on its MAC) within this many seconds of the heal. */
export const SPLIT_BRAIN_HEAL_LIMIT_SECONDS = 10;

/** The drills drop frames on the host side only: clearing needs no look inside the guest. */
const HOST_SIDE_ONLY = { quiet: true, inGuest: false };

const seconds = (from: number, to: number | undefined): number | undefined => (to === undefined ? undefined : (to - from) / 1000);

async function publicLink(topology: LabTopology, name: string): Promise<Link> {
    const target = machineNamed(topology, name);
    const nic = nicOf(target, "public");
    return { topology, machine: target, nic, device: await tapOfNic(target, nic) };
}

/** Frames whose IP source or destination is `ip`. */
const withIp = (frames: Frame[], side: "sourceIp" | "destinationIp", ip: string): Frame[] => frames.filter((frame) => frame[side] === ip);

/**
 * Captures on the VIP holder's and web1's public links while requests go to
 * the VIP. Direct routing: on web1's link, frames for the VIP arrive from the
 * director's MAC to web1's MAC, and web1 answers from the VIP itself; on the
 * director's link no frame from the VIP goes out.
 */
export async function captureDrill(topology: LabTopology, out: LabOutputValues): Promise<DrillReport> {
    const holder = out.directors[0];
    const director = await publicLink(topology, holder.name);
    const server = await publicLink(topology, out.realServers[0].name);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-capture-"));
    try {
        const request = (file: string) => ({ seconds: 8, file: path.join(dir, file), filter: ["tcp", "port", String(out.port)] });
        const recording = Promise.all([record(director.device, request("director.pcap")), record(server.device, request("server.pcap"))]);
        await delay(1500);
        let answered = 0;
        for (let i = 0; i < 40; i++) {
            answered += (await get(out.vipUrl, out.identityHeader, 2000).catch(() => undefined))?.status === 200 ? 1 : 0;
        }
        await recording;
        const [onDirector, onServer] = await Promise.all([readFrames(request("director.pcap").file), readFrames(request("server.pcap").file)]);
        const directorMac = director.nic.mac.toLowerCase();
        const serverMac = server.nic.mac.toLowerCase();
        const toVipOnServer = withIp(onServer, "destinationIp", out.vip);
        const forwarded = toVipOnServer.filter((frame) => frame.sourceMac === directorMac && frame.destinationMac === serverMac);
        const repliesOnServer = withIp(onServer, "sourceIp", out.vip).filter((frame) => frame.sourceMac === serverMac);
        const toVipOnDirector = withIp(onDirector, "destinationIp", out.vip);
        const repliesOnDirector = withIp(onDirector, "sourceIp", out.vip);
        const measured: Measured = {
            requests: 40,
            answered,
            framesOnServerLink: onServer.length,
            vipFramesForwardedToServerMac: forwarded.length,
            vipRepliesFromServer: repliesOnServer.length,
            vipFramesOnDirectorLink: toVipOnDirector.length,
            vipRepliesOnDirectorLink: repliesOnDirector.length,
        };
        console.log(
            `capture drill: ${answered}/40 requests answered; on ${server.machine.name}'s link ${forwarded.length} frame(s) for the VIP from ${holder.name}'s MAC to ${server.machine.name}'s, ` +
                `${repliesOnServer.length} reply frame(s) from the VIP sent by ${server.machine.name}; on ${holder.name}'s link ${toVipOnDirector.length} frame(s) for the VIP, ${repliesOnDirector.length} from it`,
        );
        const problems: string[] = [];
        if (forwarded.length === 0) {
            problems.push(
                `no frame for the VIP reached ${server.machine.name}'s link with ${holder.name}'s source MAC and ${server.machine.name}'s destination MAC`,
            );
        }
        if (toVipOnServer.length !== forwarded.length) {
            problems.push(
                `${toVipOnServer.length - forwarded.length} frame(s) for the VIP on ${server.machine.name}'s link did not come from ${holder.name} to ${server.machine.name}'s MAC`,
            );
        }
        if (repliesOnServer.length === 0) {
            problems.push(`${server.machine.name} sent no reply from the VIP on its own link`);
        }
        if (toVipOnDirector.length === 0) {
            problems.push(`no client frame for the VIP reached ${holder.name}'s link (does it hold the VIP?)`);
        }
        if (repliesOnDirector.length > 0) {
            problems.push(`${repliesOnDirector.length} frame(s) from the VIP crossed ${holder.name}'s link: replies should go straight from the real servers`);
        }
        return { problems, measured };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** A free TCP port on this namespace's loopback. */
function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
        });
    });
}

/** The page as headless Chromium sees it once its script has run (the DOM after a few seconds). */
async function pageInChromium(url: string): Promise<string> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-chromium-"));
    try {
        const result = await runCommand(
            "chromium",
            [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                `--user-data-dir=${profile}`,
                "--virtual-time-budget=6000",
                "--dump-dom",
                url,
            ],
            { timeoutMs: 90_000 },
        );
        if (result.code !== 0 || result.timedOut) {
            throw new Error(
                `chromium --dump-dom ${url} failed (${result.timedOut ? "no answer within 90 s" : `exit ${result.code}`}): ${result.stderr.trim().split("\n").slice(-2).join(" ")}`,
            );
        }
        return result.stdout;
    } finally {
        fs.rmSync(profile, { recursive: true, force: true });
    }
}

/** The table row of one real server as the page shows it (its cells' text). */
export function serverRow(dom: string, server: string): string | undefined {
    const row = dom.split(/<tr>/).find((chunk) => chunk.startsWith(`<td>${server}</td>`));
    return row
        ?.replace(/<\/tr>[\s\S]*$/, "")
        .replace(/<[^>]+>/g, " ")
        .replace(/\s+/g, " ")
        .trim();
}

/**
 * `scripts/lab view` served here, read by headless Chromium: every machine on
 * the page; web1's apache stopped, the page shows it out of the table; started,
 * back in.
 */
export async function viewDrill(topology: LabTopology, out: LabOutputValues, stackName: string): Promise<DrillReport> {
    const port = await freePort();
    const cli = path.join(__dirname, "..", "scripts", "tools", "cli.js");
    const viewer = spawn(process.execPath, [cli, "view", "--stack", stackName, "--port", String(port), "--refresh", "2", "--minutes", "10"], {
        stdio: ["ignore", "pipe", "pipe"],
    });
    const viewerOutput: string[] = [];
    viewer.stdout.on("data", (b: Buffer) => viewerOutput.push(b.toString("utf8")));
    viewer.stderr.on("data", (b: Buffer) => viewerOutput.push(b.toString("utf8")));
    const url = `http://127.0.0.1:${port}/`;
    const server = out.realServers[0];
    const problems: string[] = [];
    const measured: Measured = {};
    try {
        const listening = await waitFor(async () => viewerOutput.join("").includes(url), 120_000, 500);
        if (listening === undefined) {
            return { problems: [`scripts/lab view did not serve ${url} within 120 s: ${viewerOutput.join("").trim().slice(-400)}`], measured };
        }
        const first = await pageInChromium(url);
        // Graphviz titles each node of the drawing with its id (machine:NAME).
        const missing = topology.machines.filter((m) => !first.includes(`<title>machine:${m.name}</title>`)).map((m) => m.name);
        const firstRow = serverRow(first, server.name);
        console.log(
            `view drill: first page ${first.length} bytes, ${topology.machines.length - missing.length}/${topology.machines.length} machines on it; ${server.name}'s row: ${firstRow ?? "none"}`,
        );
        if (missing.length > 0) {
            problems.push(`the page does not show ${missing.join(", ")}`);
        }
        if (!firstRow || /not in the table/.test(firstRow)) {
            problems.push(`the page's table has no row of ${server.name} in the table: ${firstRow ?? "no row"}`);
        }
        const stoppedAt = Date.now();
        await sshRun(out.ssh, server.publicIp, "sudo systemctl stop apache2");
        let row: string | undefined;
        const goneAt = await waitFor(
            async () => {
                row = serverRow(await pageInChromium(url), server.name);
                return row !== undefined && /not in the table/.test(row);
            },
            out.healthCheck.windowSeconds * 1000 + 60_000,
            1000,
        );
        measured.pageShowsServerOutAfterSeconds = seconds(stoppedAt, goneAt);
        console.log(
            `view drill: ${server.name}'s apache stopped; the page shows it out of the table after ${measured.pageShowsServerOutAfterSeconds ?? "never"} s (${row ?? "no row"})`,
        );
        if (goneAt === undefined) {
            problems.push(`the page never showed ${server.name} out of the table (last row: ${row ?? "none"})`);
        }
        const startedAt = Date.now();
        await sshRun(out.ssh, server.publicIp, "sudo systemctl start apache2");
        const backAt = await waitFor(
            async () => {
                row = serverRow(await pageInChromium(url), server.name);
                return row !== undefined && !/not in the table/.test(row);
            },
            out.healthCheck.windowSeconds * 1000 + 60_000,
            1000,
        );
        measured.pageShowsServerBackAfterSeconds = seconds(startedAt, backAt);
        console.log(`view drill: apache started; the page shows ${server.name} back after ${measured.pageShowsServerBackAfterSeconds ?? "never"} s`);
        if (backAt === undefined) {
            problems.push(`the page never showed ${server.name} back in the table (last row: ${row ?? "none"})`);
        }
        return { problems, measured };
    } finally {
        viewer.kill("SIGTERM");
        // Make sure web1 serves again whatever happened above.
        await sshRun(out.ssh, server.publicIp, "sudo systemctl start apache2").catch(() => undefined);
    }
}

/**
 * 100% loss on web1's public link under load (scripts/lab impair's code): the
 * HTTP check takes web1 out within its window and requests keep succeeding;
 * cleared, web1 returns and answers again.
 */
export async function lossDrill(topology: LabTopology, out: LabOutputValues): Promise<DrillReport> {
    const server = out.realServers[0];
    const director = out.directors[0];
    const link = await publicLink(topology, server.name);
    const windowMs = out.healthCheck.windowSeconds * 1000;
    const probe = startLoadProbe(out.vipUrl, out.identityHeader, out.expectedPage);
    const table = watchTable(out, director.publicIp, server.forwardingAddress);
    let cleared = false;
    try {
        await delay(3000);
        await applyImpairment(link, { lossPercent: 100 }, HOST_SIDE_ONLY);
        const impairedAt = Date.now();
        const outAt = await table.until(false, impairedAt, windowMs + 30_000);
        await delay(4000);
        const clearedAt = Date.now();
        await clearLink(link, HOST_SIDE_ONLY);
        cleared = true;
        const backAt = await table.until(true, clearedAt, windowMs + 30_000);
        await delay(4000);
        const samples = await probe.stop();
        const summary = summarizeProbe(samples, impairedAt);
        const answeredAgain = backAt !== undefined && samples.some((sample) => sample.at > backAt && sample.server === server.name);
        const measured: Measured = {
            server: server.name,
            windowSeconds: out.healthCheck.windowSeconds,
            lastFailedRequestAfterSeconds: summary.lastFailureAfterSeconds,
            tableShowedItOutAfterSeconds: seconds(impairedAt, outAt),
            backInTableAfterSeconds: seconds(clearedAt, backAt),
            requests: summary.requests,
            failedRequests: summary.failed,
            outageSeconds: summary.outageSeconds,
        };
        console.log(
            `loss drill: 100% loss on ${server.name}'s public link; requests stopped failing ${summary.lastFailureAfterSeconds?.toFixed(1) ?? "-"} s after it ` +
                `(window ${out.healthCheck.windowSeconds} s; the director's table showed it out after ${measured.tableShowedItOutAfterSeconds ?? "never"} s), ` +
                `back ${measured.backInTableAfterSeconds ?? "never"} s after --clear; ${summary.failed} of ${summary.requests} requests failed (an outage of ${summary.outageSeconds.toFixed(1)} s), ` +
                `started at ${failureTimes(samples, impairedAt)} s`,
        );
        const problems: string[] = [];
        if (outAt === undefined) {
            problems.push(`${server.name} never left the table with its link dropping everything`);
        }
        if (backAt === undefined) {
            problems.push(`${server.name} never came back into the table after --clear`);
        } else if (!answeredAgain) {
            problems.push(`${server.name} is back in the table but answered no request`);
        }
        // Requests the director still sends to web1 fail until the check takes it
        // out: the last such failure dates its leaving, within the window (+3 s
        // for the slow clocks of emulated guests).
        const leftAfter = summary.lastFailureAfterSeconds ?? 0;
        if (leftAfter > out.healthCheck.windowSeconds + 3) {
            problems.push(
                `requests routed to ${server.name} failed until ${leftAfter.toFixed(1)} s after the loss began, longer than the ${out.healthCheck.windowSeconds} s check window (+3 s)`,
            );
        }
        return { problems, measured };
    } finally {
        if (!cleared) {
            await clearLink(link, HOST_SIDE_ONLY).catch(() => undefined);
        }
        await probe.stop();
        table.stop();
    }
}

/**
 * VRRP adverts dropped both ways between the directors (impair --loss 100
 * --proto vrrp on each one's link): both claim MASTER and hold the VIP.
 * Healed: the BACKUP hears the higher priority and lets go; the MASTER's
 * gratuitous ARP (on hearing the lower priority, or its 5 s refresh) puts this
 * client's neighbour entry for the VIP back on the MASTER's MAC, within
 * SPLIT_BRAIN_HEAL_LIMIT_SECONDS.
 */
export async function splitBrainDrill(topology: LabTopology, out: LabOutputValues): Promise<DrillReport> {
    const [master, backup] = out.directors;
    const links = await Promise.all([publicLink(topology, master.name), publicLink(topology, backup.name)]);
    const masterMac = links[0].nic.mac.toLowerCase();
    const backupMac = links[1].nic.mac.toLowerCase();
    const probe = startLoadProbe(out.vipUrl, out.identityHeader, out.expectedPage);
    const masterHolds = watchVip(out, master.publicIp);
    const backupHolds = watchVip(out, backup.publicIp);
    let healed = false;
    try {
        await delay(2000);
        await Promise.all(links.map((link) => applyImpairment(link, { lossPercent: 100, proto: "vrrp" }, HOST_SIDE_ONLY)));
        const splitAt = Date.now();
        const bothAt = await waitFor(async () => masterHolds.current === true && backupHolds.current === true, 30_000, 100);
        await delay(5000);
        const neighbourDuringSplit = await neighbourMacHere(out.vip);
        const healAt = Date.now();
        await Promise.all(links.map((link) => clearLink(link, HOST_SIDE_ONLY)));
        healed = true;
        const oneAt = await waitFor(async () => masterHolds.current === true && backupHolds.current === false, 30_000, 100);
        const onMasterAt = await waitFor(async () => (await neighbourMacHere(out.vip)) === masterMac, 30_000, 500);
        await delay(3000);
        const samples = await probe.stop();
        const during = summarizeProbe(
            samples.filter((s) => s.at < healAt),
            splitAt,
        );
        const after = summarizeProbe(
            samples.filter((s) => s.at >= healAt),
            healAt,
        );
        const who = (mac: string | undefined): string => (mac === masterMac ? master.name : mac === backupMac ? backup.name : (mac ?? "none"));
        const measured: Measured = {
            bothMasterAfterSeconds: seconds(splitAt, bothAt),
            clientNeighbourDuringSplit: who(neighbourDuringSplit),
            requestsDuringSplit: during.requests,
            failedDuringSplit: during.failed,
            oneHolderAfterHealSeconds: seconds(healAt, oneAt),
            clientOnMasterAfterHealSeconds: seconds(healAt, onMasterAt),
            requestsAfterHeal: after.requests,
            failedAfterHeal: after.failed,
            outageAfterHealSeconds: after.outageSeconds,
        };
        console.log(
            `split-brain drill: VRRP dropped both ways; both directors held the VIP after ${measured.bothMasterAfterSeconds ?? "never"} s; ` +
                `meanwhile this client's neighbour entry for the VIP pointed at ${measured.clientNeighbourDuringSplit} and ${during.failed} of ${during.requests} requests failed; ` +
                `healed: one holder (${master.name}) after ${measured.oneHolderAfterHealSeconds ?? "never"} s, the client's entry on ${master.name}'s MAC after ${measured.clientOnMasterAfterHealSeconds ?? "never"} s, ` +
                `${after.failed} of ${after.requests} requests failed after the heal`,
        );
        const problems: string[] = [];
        if (bothAt === undefined) {
            problems.push("with VRRP dropped both ways the directors never both held the VIP (no split brain to heal)");
        }
        if (oneAt === undefined || (oneAt - healAt) / 1000 > SPLIT_BRAIN_HEAL_LIMIT_SECONDS) {
            problems.push(
                `after the heal ${master.name} alone did not hold the VIP within ${SPLIT_BRAIN_HEAL_LIMIT_SECONDS} s (${measured.oneHolderAfterHealSeconds ?? "never"})`,
            );
        }
        if (onMasterAt === undefined || (onMasterAt - healAt) / 1000 > SPLIT_BRAIN_HEAL_LIMIT_SECONDS) {
            problems.push(
                `this client's neighbour entry for the VIP was not on ${master.name}'s MAC within ${SPLIT_BRAIN_HEAL_LIMIT_SECONDS} s of the heal (${measured.clientOnMasterAfterHealSeconds ?? "never"}): no gratuitous ARP?`,
            );
        }
        if (after.outageSeconds > SPLIT_BRAIN_HEAL_LIMIT_SECONDS) {
            problems.push(`requests failed for ${after.outageSeconds.toFixed(1)} s after the heal (limit ${SPLIT_BRAIN_HEAL_LIMIT_SECONDS} s)`);
        }
        return { problems, measured };
    } finally {
        if (!healed) {
            await Promise.all(links.map((link) => clearLink(link, HOST_SIDE_ONLY).catch(() => undefined)));
        }
        await probe.stop();
        masterHolds.stop();
        backupHolds.stop();
    }
}
