// The fault drills (`npm run drills`): what the lab does when things break.
// Each drill states what is expected, checks it, and records what was
// observed. Runs inside the lab host's namespace (labhost/isolated.sh puts it
// there) on a fresh stack with the dev topology.
//
// Order: bad configuration (a scratch stack, before anything exists); up
// from nothing (set-up, not a drill); a real server's VM lost behind
// Pulumi's back; guests rebooted; the NFS store stopped; `up` interrupted
// (SIGINT, then SIGKILL) and run again; `destroy` with guests unreachable.
import * as auto from "@pulumi/pulumi/automation";
import { ChildProcess, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { LabConfig } from "../components/config";
import type { LabOutputValues } from "../components/program";
import { openStack, OperationResult, PROJECT_ROOT, rawConfigFrom, runOperation, validatedConfig } from "../scripts/automation";
import {
    changedSteps,
    delay,
    errorText,
    failureKind,
    formatTable,
    get,
    labOutputs,
    leftovers,
    resourceNameOf,
    resourceNames,
    runMain,
    SshAccess,
    sshAccessOf,
    sshRun,
    sweep,
    virshText,
    writeResults,
} from "./kit";
import { smokeTest, SmokeReport } from "./smoke";
import { parseDomainInterfaces } from "../scripts/tools/parse";

// ---------------------------------------------------------------- pure parts

export interface DrillResult {
    drill: string;
    expected: string;
    observed: string;
    pass: boolean;
    seconds: number;
}

/** The verdict of a drill from the problems its checks found: pass when there are none. */
export function verdict(drill: string, expected: string, facts: string[], problems: string[], seconds: number): DrillResult {
    const observed = [...facts, ...problems.map((p) => `PROBLEM: ${p}`)].join("; ");
    return { drill, expected, observed: observed || "as expected", pass: problems.length === 0, seconds };
}

/** The drills table: drill, expected, observed, pass/fail. */
export function drillsTable(results: readonly DrillResult[]): string {
    const clip = (text: string, width: number): string => (text.length > width ? `${text.slice(0, width - 3)}...` : text);
    return formatTable(
        ["drill", "expected", "observed", "verdict"],
        results.map((r) => [clip(r.drill, 36), clip(r.expected, 60), clip(r.observed, 110), r.pass ? "PASS" : "FAIL"]),
    );
}

/**
 * After a VM was lost and `up` ran again: only that server's own resources
 * (its VM, disk, seed, guest steps) may be created, replaced or updated, and
 * its VM must be created. Provider updates are no machine and are allowed.
 */
export function recreateProblems(result: Pick<OperationResult, "steps">, server: string): string[] {
    const problems: string[] = [];
    const changed = changedSteps(result);
    for (const step of changed) {
        const owned = step.name === server || step.name.startsWith(`${server}-`);
        if (owned || step.type.startsWith("pulumi:providers:")) {
            continue;
        }
        problems.push(`unexpected ${step.op} of ${step.type} ${step.name}`);
    }
    if (!changed.some((step) => step.name === `${server}-vm` && (step.op === "create" || step.op === "create-replacement"))) {
        problems.push(`${server}-vm was not created again`);
    }
    return problems;
}

/** "key=value" lines (as the drills' guest probes print them) into a map. */
export function parseProbe(text: string): Record<string, string> {
    const values: Record<string, string> = {};
    for (const line of text.split("\n")) {
        const match = /^([A-Za-z_]+)=(.*)$/.exec(line.trim());
        if (match) {
            values[match[1]] = match[2].trim();
        }
    }
    return values;
}

/** Each expected key=value that the probe did not show, as a problem naming the machine. */
export function probeProblems(machine: string, probe: Record<string, string>, expected: Record<string, string>): string[] {
    return Object.entries(expected)
        .filter(([key, value]) => probe[key] !== value)
        .map(([key, value]) => `${machine}: ${key} is ${JSON.stringify(probe[key] ?? "(missing)")}, expected ${JSON.stringify(value)}`);
}

/**
 * libvirt objects that carry the stack's prefix but that the stack does not
 * know (orphans), and objects the stack names that libvirt lacks.
 */
export function stateVersusLibvirt(
    inLibvirt: readonly string[],
    inState: { networks: readonly string[]; domains: readonly string[]; volumes: readonly string[] },
): { orphans: string[]; missing: string[] } {
    const known = new Set([
        ...inState.networks.map((n) => `network ${n}`),
        ...inState.domains.map((n) => `domain ${n}`),
        ...inState.volumes.map((n) => `volume ${n}`),
    ]);
    const present = new Set(inLibvirt);
    return { orphans: inLibvirt.filter((e) => !known.has(e)), missing: [...known].filter((e) => !present.has(e)) };
}

/** Counts answers such as "200", "timeout", "502" into "3x 200, 2x timeout". */
export function summariseAnswers(answers: readonly string[]): string {
    const counts = new Map<string, number>();
    for (const answer of answers) {
        counts.set(answer, (counts.get(answer) ?? 0) + 1);
    }
    return [...counts.entries()].map(([answer, n]) => `${n}x ${answer}`).join(", ") || "no requests";
}

/**
 * The shell probe a real server runs while the NFS store is down: a look-up
 * of a name never asked for before (so no cache can answer it) in the
 * mounted web root, killed after `seconds`; prints rc= and said= lines.
 */
export function storeLookupProbe(webRoot: string, name: string, seconds: number): string {
    return `out=$(timeout -s KILL ${seconds} stat -c %n ${webRoot}/${name} 2>&1); echo "rc=$?"; echo "said=$(printf %s "$out" | tr '\\n' ' ')"`;
}

/**
 * Whether the store's outage took effect, from each real server's look-up
 * (or the error asking it): the store answering at all (the name found, or
 * "No such file or directory") means it is still available to that server.
 */
export function storeOutageProblems(lookups: Readonly<Record<string, Record<string, string> | { error: string }>>): string[] {
    const problems: string[] = [];
    if (Object.keys(lookups).length === 0) {
        problems.push("no real server was asked: the store's outage is not shown");
    }
    for (const [server, lookup] of Object.entries(lookups)) {
        if ("error" in lookup) {
            problems.push(`${server} could not be asked (${lookup.error}): the store's outage is not shown`);
        } else if (lookup.rc === undefined) {
            problems.push(`${server}'s look-up printed no exit status: the store's outage is not shown`);
        } else if (lookup.rc === "0" || (lookup.rc === "1" && /No such file or directory/.test(lookup.said ?? ""))) {
            problems.push(
                `${server} still got an answer from the store while it was stopped (exit ${lookup.rc}: ${lookup.said ?? ""}): the fault did not take effect`,
            );
        }
    }
    return problems;
}

/** How the interrupted `up` ended, as its process's exit reports it. */
export interface RunEnd {
    code: number | null;
    signal: string | null;
}

/**
 * Whether the first `up` really ended early and unfinished: it was still
 * running when interrupted, did not exit 0, and left pending operations or
 * fewer resources than the full lab. Otherwise the re-run proves nothing.
 */
export function interruptedUpProblems(input: {
    endedBeforeInterrupt: boolean;
    end: RunEnd | undefined;
    pending: readonly string[];
    resources: number;
    fullLabResources: number;
}): string[] {
    const problems: string[] = [];
    if (input.endedBeforeInterrupt) {
        problems.push(`the first up had already ended (exit ${input.end?.code ?? input.end?.signal ?? "?"}) before the interrupt`);
    }
    if (input.end === undefined) {
        problems.push("the interrupted up was not seen to end");
    } else if (input.end.code === 0) {
        problems.push("the interrupted up exited 0: it completed");
    }
    if (input.pending.length === 0 && input.resources >= input.fullLabResources) {
        problems.push(`the interrupted up left no pending operation and ${input.resources} of ${input.fullLabResources} resources: it finished`);
    }
    return problems;
}

/** The state's resource count once a server is added: today's plus as many as one server (`model`) owns. */
export function fullLabResourceCount(names: readonly string[], model: string): number {
    return names.length + names.filter((name) => name === model || name.startsWith(`${model}-`)).length;
}

/** Whether the guests were really out of reach before `destroy`: links cut, SSH refused, the store paused. */
export function unreachableProblems(input: { server: string; linksCut: number; sshAnswered: boolean; store: string; storeState: string }): string[] {
    const problems: string[] = [];
    if (input.linksCut === 0) {
        problems.push(`no NIC link of ${input.server} was cut (virsh domiflist gave no MAC): it was never unreachable`);
    }
    if (input.sshAnswered) {
        problems.push(`${input.server} still answered SSH with its links down`);
    }
    if (input.storeState !== "paused") {
        problems.push(`${input.store} is "${input.storeState}", not paused`);
    }
    return problems;
}

/** The wrong inputs the bad-configuration drill feeds a scratch stack, with the setting each message must name. */
export const BAD_CONFIGS: readonly { name: string; set: Record<string, string>; names: string }[] = [
    { name: "VIP outside the public subnet", set: { vip: "172.16.17.172" }, names: "vip" },
    { name: "two machines on one address", set: { directorPublicIp: "172.16.16.177" }, names: "directorPublicIp" },
    { name: "VIP on a machine's address", set: { vip: "172.16.16.173" }, names: "directorPublicIp" },
    { name: "zero real servers", set: { realServerCount: "0" }, names: "realServerCount" },
    { name: "unknown scheduler", set: { scheduler: "fastest" }, names: "scheduler" },
    { name: "port out of range", set: { port: "70000" }, names: "port" },
    { name: "too little memory", set: { memoryMiB: "128" }, names: "memoryMiB" },
    { name: "misspelt key", set: { schedular: "rr" }, names: "schedular" },
    { name: "base image missing", set: { baseImage: "/nonexistent/image.qcow2" }, names: "baseImage" },
];

/** The line of an error message that names the setting, if any. */
export function messageFor(errorMessage: string, key: string): string | undefined {
    return errorMessage
        .split("\n")
        .map((line) => line.trim().replace(/^-\s*/, ""))
        .find((line) => new RegExp(`(^|[^A-Za-z])${key}([^A-Za-z]|$)`).test(line));
}

// ------------------------------------------------------------------ helpers

/** "4 entries on director" (per director) for a drill's facts. */
function entriesText(smoke: SmokeReport): string {
    return Object.entries(smoke.entriesByDirector)
        .map(([name, count]) => `${count} entries on ${name}`)
        .join(", ");
}

async function pendingOperations(stack: auto.Stack): Promise<string[]> {
    const state = await stack.exportStack();
    const pending = (state.deployment as { pending_operations?: { type: string; resource: { urn: string } }[] }).pending_operations ?? [];
    return pending.map((p) => `${p.type} ${resourceNameOf(p.resource.urn)}`);
}

/** Runs `probe` over SSH until it works (bounded); undefined when it never did. */
async function probeWhenUp(access: SshAccess, host: string, probe: string, deadlineMs: number, probeTimeoutMs = 30_000): Promise<string | undefined> {
    while (Date.now() < deadlineMs) {
        try {
            return await sshRun(access, host, probe, probeTimeoutMs);
        } catch {
            await delay(3000);
        }
    }
    return undefined;
}

// ------------------------------------------------------------------- drills

async function badConfigDrill(base: Record<string, string>): Promise<DrillResult[]> {
    const scratchName = `${process.env.LVSLAB_DRILLS_STACK ?? "drills"}-badconfig`;
    const scratch = await openStack(scratchName);
    const results: DrillResult[] = [];
    try {
        for (const bad of BAD_CONFIGS) {
            const started = Date.now();
            const config: auto.ConfigMap = {};
            for (const [key, value] of Object.entries({ ...base, namePrefix: "lvsbad", ...bad.set })) {
                config[`lvs-dr-lab:${key}`] = { value };
            }
            for (const key of Object.keys(await scratch.getAllConfig())) {
                if (!(key in config)) {
                    await scratch.removeConfig(key);
                }
            }
            await scratch.setAllConfig(config);
            const facts: string[] = [];
            const problems: string[] = [];
            try {
                await scratch.up({ color: "never" });
                problems.push("up succeeded: the input was accepted");
            } catch (error) {
                const line = messageFor(errorText(error), bad.names);
                if (line) {
                    facts.push(`refused: "${line}"`);
                } else {
                    problems.push(`refused without naming ${bad.names}: ${errorText(error).split("\n").slice(-3).join(" ").slice(0, 200)}`);
                }
            }
            const created = (await resourceNames(scratch)).filter((name) => !name.startsWith(`lvs-dr-lab-${scratchName}`));
            const made = leftovers("qemu:///system", base.storagePool ?? "default", "lvsbad");
            if (created.length > 0) {
                problems.push(`the state holds ${created.join(", ")}`);
            }
            if (made.length > 0) {
                problems.push(`libvirt holds ${made.join(", ")}`);
            }
            results.push(verdict(`bad config: ${bad.name}`, `refused naming ${bad.names}; nothing created`, facts, problems, (Date.now() - started) / 1000));
        }
    } finally {
        await scratch.destroy({ color: "never" }).catch(() => undefined);
        await sweep("qemu:///system", base.storagePool ?? "default", "lvsbad").catch(() => []);
        await scratch.workspace.removeStack(scratchName).catch(() => undefined);
        fs.rmSync(path.join(PROJECT_ROOT, `Pulumi.${scratchName}.yaml`), { force: true });
    }
    return results;
}

async function lostVmDrill(stack: auto.Stack, outputs: LabOutputValues): Promise<DrillResult> {
    const started = Date.now();
    const server = outputs.realServers[Math.min(2, outputs.realServers.length - 1)].name;
    const domain = `${outputs.libvirt.prefix}-${server}`;
    const facts: string[] = [];
    const problems: string[] = [];
    virshText(outputs.libvirt.uri, "destroy", domain);
    virshText(outputs.libvirt.uri, "undefine", domain, "--nvram");
    facts.push(`virsh destroy + undefine ${domain}`);
    const refresh = await runOperation(stack, "refresh", () => undefined);
    const afterRefresh = await resourceNames(stack);
    if (afterRefresh.includes(`${server}-vm`)) {
        problems.push(`refresh kept ${server}-vm in the state`);
    } else {
        facts.push(`refresh dropped ${server}-vm (${JSON.stringify(refresh.changes)})`);
    }
    const up = await runOperation(stack, "up", () => undefined);
    facts.push(
        `up: ${changedSteps(up)
            .map((s) => `${s.op} ${s.name}`)
            .join(", ")} in ${up.seconds.toFixed(0)} s`,
    );
    problems.push(...recreateProblems(up, server));
    const smoke = await smokeTest(await labOutputs(stack), 100, () => undefined);
    facts.push(`smoke: ${smoke.succeeded}/100, ${entriesText(smoke)}, ${server} answered ${smoke.answersByServer[server] ?? 0}`);
    problems.push(...smoke.problems);
    return verdict(
        `real server VM lost (${server})`,
        `refresh sees it gone; up recreates only ${server}'s resources; smoke passes with it in the table`,
        facts,
        problems,
        (Date.now() - started) / 1000,
    );
}

/** What a guest probe asks (key=value lines) and what it must show. */
interface GuestProbe {
    host: string;
    probe: string;
    expected: Record<string, string>;
}

/**
 * The reboot drill's probes, of the director and the first real server: its
 * boot id and the settings a boot must bring back, read once the guest's boot
 * has finished (every start job done, the real server's NFS mount with its
 * nofail among them), not the moment sshd answers, which on the lab's fast
 * boot comes first.
 */
function rebootProbes(outputs: LabOutputValues): Record<string, GuestProbe> {
    const web = outputs.realServers[0];
    const vip = outputs.vip;
    const probes: Record<string, GuestProbe> = {
        director: {
            host: outputs.director.publicIp,
            probe: [
                "echo boot=$(cat /proc/sys/kernel/random/boot_id)",
                `echo vip=$(ip -o -4 addr show | grep -c " ${vip}/")`,
                "echo routes=$(sudo ipvsadm -Ln | grep -c Route)",
                "echo send_redirects=$(cat /proc/sys/net/ipv4/conf/all/send_redirects)",
            ].join("; "),
            expected: { vip: "1", routes: String(outputs.realServers.length), send_redirects: "0" },
        },
        [web.name]: {
            host: web.publicIp,
            probe: [
                "echo boot=$(cat /proc/sys/kernel/random/boot_id)",
                `echo vip_on_lo=$(ip -o -4 addr show dev lo | grep -c " ${vip}/32")`,
                "echo arp_ignore=$(cat /proc/sys/net/ipv4/conf/all/arp_ignore)",
                "echo arp_announce=$(cat /proc/sys/net/ipv4/conf/all/arp_announce)",
                "echo webroot=$(findmnt -n -o FSTYPE /var/www/html | cut -c1-3)",
                "echo page=$(curl -s -m 5 http://127.0.0.1/)",
            ].join("; "),
            expected: {
                vip_on_lo: "1",
                arp_ignore: "1",
                arp_announce: "2",
                webroot: "nfs",
                page: outputs.expectedPage,
            },
        },
    };
    for (const p of Object.values(probes)) {
        p.probe = `sudo timeout 300 systemctl is-system-running --wait >/dev/null 2>&1; ${p.probe}`;
    }
    return probes;
}

async function rebootDrill(config: LabConfig, outputs: LabOutputValues): Promise<DrillResult> {
    const started = Date.now();
    const access = sshAccessOf(config);
    const web = outputs.realServers[0];
    const probes = rebootProbes(outputs);
    const facts: string[] = [];
    const problems: string[] = [];
    const bootIds: Record<string, string> = {};
    for (const [machine, p] of Object.entries(probes)) {
        bootIds[machine] = parseProbe(await sshRun(access, p.host, p.probe)).boot ?? "";
        // The reboot cuts the SSH session: its failure is expected.
        await sshRun(access, p.host, "sudo systemctl reboot", 15_000).catch(() => undefined);
    }
    facts.push(`rebooted ${Object.keys(probes).join(" and ")} with systemctl reboot`);
    const deadline = Date.now() + 600_000;
    for (const [machine, p] of Object.entries(probes)) {
        let probe: Record<string, string> | undefined;
        while (Date.now() < deadline) {
            const text = await probeWhenUp(access, p.host, p.probe, deadline, 330_000);
            if (text === undefined) {
                break;
            }
            const values = parseProbe(text);
            if (values.boot && values.boot !== bootIds[machine]) {
                probe = values;
                break;
            }
            await delay(3000);
        }
        if (!probe) {
            problems.push(`${machine} did not come back within 10 minutes`);
            continue;
        }
        facts.push(`${machine} back after ${((Date.now() - started) / 1000).toFixed(0)} s`);
        problems.push(...probeProblems(machine, probe, p.expected));
    }
    const smoke = await smokeTest(outputs, 100, () => undefined);
    facts.push(`smoke: ${smoke.succeeded}/100, ${entriesText(smoke)}`);
    problems.push(...smoke.problems);
    return verdict(
        `guests rebooted (director, ${web.name})`,
        "after boot, with no Pulumi run: VIP, ARP settings, NFS mount, IPVS table back; smoke passes",
        facts,
        problems,
        (Date.now() - started) / 1000,
    );
}

async function nfsDrill(config: LabConfig, outputs: LabOutputValues): Promise<DrillResult> {
    const started = Date.now();
    const access = sshAccessOf(config);
    const facts: string[] = [];
    const problems: string[] = [];
    await sshRun(access, outputs.nfs.storageIp, "sudo systemctl stop nfs-server");
    facts.push("nfs-server stopped on the store");
    // The fault first: every real server's look-up on the export must go unanswered (killed after 10 s).
    const probe = storeLookupProbe("/var/www/html", `.lvslab-nfs-drill-${randomBytes(6).toString("hex")}`, 10);
    const lookups: Record<string, Record<string, string> | { error: string }> = {};
    await Promise.all(
        outputs.realServers.map(async (server) => {
            lookups[server.name] = await sshRun(access, server.publicIp, probe, 60_000).then(parseProbe, (error: unknown) => ({ error: errorText(error) }));
        }),
    );
    const outage = storeOutageProblems(lookups);
    problems.push(...outage);
    if (outage.length === 0) {
        facts.push(
            `no real server got an answer from the store (${Object.entries(lookups)
                .map(([name, l]) => `${name}: exit ${"rc" in l ? l.rc : "?"}`)
                .join(", ")})`,
        );
    }
    // 15 requests over about 45 s, each given 3 s: what clients saw meanwhile.
    const whileDown: string[] = [];
    for (let i = 0; i < 15; i++) {
        const answer = await get(outputs.vipUrl, outputs.identityHeader, 3000).then(
            (a) => (a.status === 200 && a.body.trim() !== outputs.expectedPage ? "200 (other page)" : String(a.status)),
            failureKind,
        );
        whileDown.push(answer);
        await delay(1000);
    }
    facts.push(`while down, the VIP answered: ${summariseAnswers(whileDown)}`);
    await sshRun(access, outputs.nfs.storageIp, "sudo systemctl start nfs-server");
    const back = Date.now();
    // Recovered: 20 requests in a row return the page. Bounded: 5 minutes (NFSv4's grace period is 90 s).
    let inARow = 0;
    const afterStart: string[] = [];
    while (inARow < 20 && Date.now() - back < 300_000) {
        const answer = await get(outputs.vipUrl, outputs.identityHeader, 5000).then(
            (a) => (a.status === 200 && a.body.trim() === outputs.expectedPage ? "page" : String(a.status)),
            failureKind,
        );
        const ok = answer === "page";
        afterStart.push(answer);
        inARow = ok ? inARow + 1 : 0;
        if (!ok) {
            await delay(1000);
        }
    }
    if (inARow >= 20) {
        facts.push(`recovered ${((Date.now() - back) / 1000).toFixed(0)} s after the store returned (${summariseAnswers(afterStart)})`);
    } else {
        problems.push(`not recovered 300 s after the store returned (${summariseAnswers(afterStart)})`);
    }
    return verdict(
        "NFS store stopped",
        "while down: no real server gets an answer from the store (a fresh look-up on the export goes unanswered), the VIP's answers recorded; after nfs-server starts again, 20 requests in a row return the page within 5 min",
        facts,
        problems,
        (Date.now() - started) / 1000,
    );
}

/** Starts `up` in its own process group, as a terminal would run it, and returns the child. */
function startUp(stackName: string, log: string[]): ChildProcess {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin", "scripts", "automation.js"), "up", "--stack", stackName], {
        cwd: PROJECT_ROOT,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = (chunk: Buffer): void => {
        log.push(...chunk.toString("utf8").split("\n"));
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    return child;
}

function groupAlive(pgid: number): boolean {
    try {
        process.kill(-pgid, 0);
        return true;
    } catch {
        return false;
    }
}

/** How the interrupted first `up` went: how it ended, whether before the interrupt, and what the interrupt did. */
interface Interrupted {
    end: RunEnd | undefined;
    endedBeforeInterrupt: boolean;
    /** What the interrupt did, in words. */
    fact: string;
    /** Processes of the killed run still alive afterwards. */
    leftAlive: boolean;
}

/** Starts `up`, waits until `added`'s VM is being made (at most 4 minutes), then SIGINT, and SIGKILL 5 s later if it still runs. */
async function interruptFirstUp(stackName: string, added: string): Promise<Interrupted> {
    const log: string[] = [];
    const child = startUp(stackName, log);
    const pgid = child.pid ?? 0;
    let end: RunEnd | undefined;
    const exited = new Promise<void>((resolve) =>
        child.on("exit", (code, signal) => {
            end = { code, signal };
            resolve();
        }),
    );
    // Interrupt once the added server's VM is being made (or after 4 minutes).
    const deadline = Date.now() + 240_000;
    while (Date.now() < deadline && !log.some((line) => line.includes(`${added}-vm`) && /creating/.test(line))) {
        await delay(500);
    }
    await delay(2000);
    const seen =
        log
            .filter((line) => /creat/.test(line))
            .slice(-1)[0]
            ?.trim() ?? "(no output)";
    const endedBeforeInterrupt = end !== undefined;
    if (groupAlive(pgid)) {
        process.kill(-pgid, "SIGINT");
    }
    await delay(5000);
    let fact: string;
    if (groupAlive(pgid)) {
        process.kill(-pgid, "SIGKILL");
        fact = `SIGINT at "${seen.slice(0, 80)}", SIGKILL 5 s later`;
    } else {
        fact = `SIGINT at "${seen.slice(0, 80)}"; the run ended by itself within 5 s`;
    }
    await Promise.race([exited, delay(10_000)]);
    await delay(2000);
    return { end, endedBeforeInterrupt, fact, leftAlive: groupAlive(pgid) };
}

/** Runs `up` again (at most 3 times), recovering the way the CLI tells a user to: pulumi cancel, refresh --clear-pending-creates. */
async function upAgain(stack: auto.Stack): Promise<{ converged: boolean; recovery: string[] }> {
    const recovery: string[] = [];
    let converged = false;
    for (let attempt = 1; attempt <= 3 && !converged; attempt++) {
        try {
            await runOperation(stack, "up", () => undefined);
            converged = true;
            recovery.push(`up #${attempt} succeeded`);
        } catch (error) {
            const text = errorText(error);
            if (/locked/i.test(text)) {
                recovery.push(`up #${attempt}: stack locked -> pulumi cancel`);
                await stack.cancel().catch((e: unknown) => recovery.push(`pulumi cancel failed: ${errorText(e).slice(0, 120)}`));
            } else if (/pending operation|interrupted while/i.test(text)) {
                recovery.push(`up #${attempt}: pending operations -> pulumi refresh --clear-pending-creates`);
                await stack.refresh({ clearPendingCreates: true, color: "never" });
            } else {
                const line = text.split("\n").find((l) => /error:|already exists/i.test(l)) ?? text.slice(0, 200);
                recovery.push(`up #${attempt} failed: ${line.trim().slice(0, 200)}`);
                break;
            }
        }
    }
    return { converged, recovery };
}

async function interruptDrill(stack: auto.Stack, stackName: string, config: LabConfig): Promise<DrillResult> {
    const started = Date.now();
    const facts: string[] = [];
    const problems: string[] = [];
    const count = config.realServers.length;
    const fullLabResources = fullLabResourceCount(await resourceNames(stack), config.realServers[0].name);
    await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(count + 1) });
    const { end, endedBeforeInterrupt, fact, leftAlive } = await interruptFirstUp(stackName, `web${count + 1}`);
    facts.push(fact);
    if (leftAlive) {
        problems.push("processes of the killed run were still alive");
    }
    const pending = await pendingOperations(stack);
    const resources = (await resourceNames(stack)).length;
    const endText = end === undefined ? "not seen" : end.signal !== null ? `by ${end.signal}` : `exit ${end.code}`;
    facts.push(
        `the first up ended ${endText}; pending operations in the state: ${pending.length ? pending.join(", ") : "none"}; ${resources} of the full lab's ${fullLabResources} resources`,
    );
    // The fault first: a first run that finished would make the re-run prove nothing.
    const unfinished = interruptedUpProblems({ endedBeforeInterrupt, end, pending, resources, fullLabResources });
    problems.push(...unfinished);

    const { converged, recovery } = await upAgain(stack);
    facts.push(recovery.join("; "));
    if (!converged) {
        problems.push("the re-run did not converge");
    }
    // Orphans: libvirt objects with the stack's prefix that the state does not name.
    const outputs = await labOutputs(stack);
    const { orphans, missing } = stateVersusLibvirt(leftovers(outputs.libvirt.uri, outputs.libvirt.pool, outputs.libvirt.prefix), outputs.libvirt);
    if (orphans.length) {
        problems.push(`orphans in libvirt: ${orphans.join(", ")}`);
    }
    if (missing.length) {
        problems.push(`named by the stack but missing in libvirt: ${missing.join(", ")}`);
    }
    if (converged) {
        const domains = leftovers(outputs.libvirt.uri, outputs.libvirt.pool, outputs.libvirt.prefix).filter((e) => e.startsWith("domain "));
        facts.push(`${domains.length} domains for ${count + 3} machines`);
        if (domains.length !== count + 3) {
            problems.push(`${domains.length} domains, expected ${count + 3}`);
        }
        const smoke = await smokeTest(outputs, 100, () => undefined);
        facts.push(`smoke with ${count + 1}: ${smoke.succeeded}/100`);
        problems.push(...smoke.problems);
    }
    return verdict(
        "up interrupted (SIGINT, SIGKILL), run again",
        `the first up ends early and unfinished (not exit 0; pending operations or fewer resources than the full lab); the re-run (after pulumi cancel / refresh --clear-pending-creates if asked) converges to ${count + 1} servers; no orphaned or duplicate domains, volumes, networks`,
        facts,
        problems,
        (Date.now() - started) / 1000,
    );
}

async function unreachableDestroyDrill(stack: auto.Stack, outputs: LabOutputValues): Promise<DrillResult> {
    const started = Date.now();
    const facts: string[] = [];
    const problems: string[] = [];
    const { uri, pool, prefix } = outputs.libvirt;
    const server = outputs.realServers[1];
    const web = `${prefix}-${server.name}`;
    const nfs = `${prefix}-nfs`;
    // web2's NICs link-down (it stays running but no packet reaches it); the NFS store paused.
    const macs = parseDomainInterfaces(virshText(uri, "domiflist", web)).map((nic) => nic.mac);
    for (const mac of macs) {
        virshText(uri, "domif-setlink", web, mac, "down");
    }
    virshText(uri, "suspend", nfs);
    // The fault first: web2 must not answer SSH, the store must be paused.
    const sshAnswered = await sshRun(outputs.ssh, server.publicIp, "true", 30_000).then(
        () => true,
        () => false,
    );
    const storeState = virshText(uri, "domstate", nfs).trim();
    facts.push(`${web}: ${macs.length} NIC links down, SSH ${sshAnswered ? "answered" : "did not answer"}; ${nfs} ${storeState}`);
    problems.push(...unreachableProblems({ server: server.name, linksCut: macs.length, sshAnswered, store: nfs, storeState }));
    try {
        const destroy = await runOperation(stack, "destroy", () => undefined);
        facts.push(`destroy finished in ${destroy.seconds.toFixed(0)} s (${JSON.stringify(destroy.changes)})`);
    } catch (error) {
        problems.push(`destroy failed: ${errorText(error).split("\n").slice(-3).join(" ").slice(0, 200)}`);
    }
    const left = leftovers(uri, pool, prefix);
    if (left.length) {
        problems.push(`left in libvirt: ${left.join(", ")}`);
    } else {
        facts.push("nothing of the stack left in libvirt");
    }
    return verdict(
        "destroy with guests unreachable",
        "with web2's links down (SSH to it fails) and the store paused, destroy completes and leaves no domain, volume or network",
        facts,
        problems,
        (Date.now() - started) / 1000,
    );
}

// --------------------------------------------------------------------- main

async function main(): Promise<number> {
    const stackName = process.env.LVSLAB_DRILLS_STACK ?? "drills";
    const stack = await openStack(stackName);
    const config = await validatedConfig(stack);
    const base: Record<string, string> = {};
    for (const [key, value] of Object.entries(rawConfigFrom(await stack.getAllConfig()))) {
        if (value !== undefined) {
            base[key] = value;
        }
    }
    const started = Date.now();
    const results: DrillResult[] = [];
    const notes: string[] = [];
    let prefix: string | undefined;
    const run = async (name: string, body: () => Promise<DrillResult | DrillResult[]>): Promise<void> => {
        console.log(`\n=== drills: ${name}`);
        const t0 = Date.now();
        try {
            const r = await body();
            for (const one of Array.isArray(r) ? r : [r]) {
                results.push(one);
                console.log(`  ${one.pass ? "PASS" : "FAIL"} ${one.drill}: ${one.observed}`);
            }
        } catch (error) {
            results.push({
                drill: name,
                expected: "(see above)",
                observed: `the drill itself failed: ${errorText(error).slice(0, 300)}`,
                pass: false,
                seconds: (Date.now() - t0) / 1000,
            });
            console.log(`  FAIL ${name}: ${errorText(error)}`);
        }
    };

    try {
        await run("bad configuration", () => badConfigDrill(base));
        console.log("\n=== drills: set-up: up from nothing");
        await runOperation(stack, "destroy", () => undefined);
        const up = await runOperation(stack, "up");
        notes.push(`set-up up from nothing: ${up.seconds.toFixed(0)} s`);
        let outputs = await labOutputs(stack);
        prefix = outputs.libvirt.prefix;
        const smoke = await smokeTest(outputs, 100);
        if (smoke.problems.length) {
            throw new Error(`the set-up smoke test failed: ${smoke.problems.join("; ")}`);
        }
        await run("real server VM lost", () => lostVmDrill(stack, outputs));
        outputs = await labOutputs(stack);
        await run("guests rebooted", () => rebootDrill(config, outputs));
        await run("NFS store stopped", () => nfsDrill(config, outputs));
        await run("up interrupted", () => interruptDrill(stack, stackName, config));
        outputs = await labOutputs(stack);
        await run("destroy with guests unreachable", () => unreachableDestroyDrill(stack, outputs));
    } catch (error) {
        notes.push(`stopped early: ${errorText(error).slice(0, 400)}`);
        console.error(`drills: ${errorText(error)}`);
    } finally {
        await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(config.realServers.length) }).catch(() => undefined);
        if (prefix) {
            // Whatever a failed drill left: destroy, then sweep by prefix (recorded).
            await runOperation(stack, "destroy", () => undefined).catch((error: unknown) =>
                notes.push(`final destroy failed: ${errorText(error).slice(0, 200)}`),
            );
            const swept = await sweep(config.libvirtUri, config.storagePool, prefix).catch(() => []);
            if (swept.length) {
                notes.push(`swept after the final destroy: ${swept.join(", ")}`);
            }
        }
        const passed = results.filter((r) => r.pass).length;
        const file = writeResults("drills.json", {
            stack: stackName,
            when: new Date().toISOString(),
            domainType: config.domainType,
            totalSeconds: (Date.now() - started) / 1000,
            passed,
            failed: results.length - passed,
            notes,
            drills: results,
        });
        console.log("\n=== drills summary");
        console.log(drillsTable(results));
        for (const note of notes) {
            console.log(`note: ${note}`);
        }
        console.log(
            `drills: ${passed} passed, ${results.length - passed} failed; ${((Date.now() - started) / 1000).toFixed(0)} s; written to ${path.relative(PROJECT_ROOT, file)}`,
        );
    }
    return results.length > 0 && results.every((r) => r.pass) && notes.every((n) => !n.startsWith("stopped")) ? 0 : 1;
}

runMain("drills", module, main);
