// The entry point of the verbs that look at and poke a running lab:
// graph, view, node, ssh, inventory, capture, impair. `scripts/lab VERB` runs
// it inside the lab host (inventory, view and --help outside), where qemu:///system
// is the lab's libvirtd and the guests' addresses answer. In a spread lab each
// machine is asked of its own host's libvirt URI, and capture and impair run
// their host-side commands on that host (over ssh for another host).
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CommandLine, errorText, OptionSpec, PositionalsSetting, readCommandLine, runMain, UsageError } from "../../proofs/kit/main";
import { graphModel, renderDot, renderMermaid } from "./graph";
import { checkImpairment, Impairment } from "./impair";
import { applyImpairment, clearLink, Link, showLink } from "./impairRun";
import { capture, summarizePcap } from "./captureRun";
import { proxyCommand, renderAnsibleInventory, renderSshConfig } from "./inventory";
import { gatherLive, readOutputs, readTopology, sshArgs, tapOfNic } from "./live";
import { consoleArgs, listMachines, startMachine, stopMachine } from "./nodeRun";
import { outputsScratchFile, serveView } from "./view";
import { defaultNic, LabMachine, machineNamed, nicOf, NicName, topologyFromOutputs } from "./topology";

export const HELP: Record<string, string> = {
    graph: `usage: scripts/lab graph [--stack S] [--format svg|png|dot|mermaid|json] [-o FILE]

Draws the running lab from its stack outputs and live state: both networks,
every machine with its addresses and libvirt state, the VIP, which director
holds it, mode and scheduler, and per real server its weight and active /
inactive connections from each director's live IPVS table (ipvsadm -Ln
--stats over SSH). svg and png are rendered by Graphviz's dot; mermaid is
text for Markdown; json is the facts the drawing is made from. Without -o,
dot, mermaid and json go to standard output, svg and png to lab-graph.FORMAT.`,
    node: `usage: scripts/lab node list|stop|start|restart|console [NAME] [--stack S]
                       [--force] [--wait] [--timeout SECONDS] [--seconds N]

libvirt's controls for one machine, on the host it runs on (a spread lab's
machines are asked of their own hosts), no Pulumi run (a later scripts/lab up
or refresh sees what you did):
  list      every machine's libvirt state
  stop      ACPI shutdown, then a hard power-off if the guest is still up
            after --timeout (default 120 s); --force powers off at once
  start     power on; --wait waits (up to --timeout, default 300 s) until SSH answers
  restart   stop, then start (same options)
  console   the serial console (virsh console; leave with Ctrl-]);
            --seconds N detaches after N seconds`,
    ssh: `usage: scripts/lab ssh [--stack S] [--timeout SECONDS] NAME [COMMAND...]

An SSH session on a machine (or COMMAND run there) with the lab's key, from
inside the lab host. A COMMAND is ended after --timeout (default 600 s); an
interactive session ends when the guest stops answering for 30 s.`,
    inventory: `usage: scripts/lab inventory [--stack S] [-o DIR]

Writes DIR/ssh_config (one Host per machine, reached through the lab host's
namespace by a ProxyCommand, so \`ssh -F DIR/ssh_config web1\` works from
this machine) and DIR/hosts.ini (Ansible; groups directors, real_servers,
nfs). DIR defaults to LVSLAB_HOME/inventory/STACK.`,
    capture: `usage: scripts/lab capture NAME [--stack S] [--nic public|storage]
                       [--seconds N] [--filter EXPR] [-w FILE.pcap] [--read FILE.pcap]

tcpdump on the host side of NAME's link (its tap, found by the NIC's MAC in
virsh domiflist) inside the lab host, for N seconds (default 10, at most
600), written to FILE.pcap (default capture-NAME-NIC-TIME.pcap here), then a
summary: frames by sender and receiver (MACs named after their machines),
and the frames to and from the VIP. --nic defaults to public (storage for nfs).
--filter is a pcap filter, e.g. "tcp port 80" or "vrrp". --read FILE.pcap
summarizes a capture made earlier instead. In a spread lab, a machine on
another host is captured on that host (over ssh, as libvirt reaches it):
into its /tmp, read there, copied here to FILE.pcap, removed there.`,
    impair: `usage: scripts/lab impair NAME [--stack S] [--nic public|storage]
                      [--delay MS] [--jitter MS] [--loss PCT [--proto P]] [--rate R]
                      | --clear | --show

Impairs NAME's link. With netem in the lab host's kernel, one netem on the
host side of the link (its tap) delays, drops or slows what NAME receives on
that NIC. Without it (see --show), each part goes where it still works:
--loss as an nftables rule dropping frames the bridge sends to the tap (what
NAME receives), --rate as tbf on the tap, --delay/--jitter as netem inside
NAME's own kernel on that NIC (what NAME sends). --proto P drops only IP
protocol P (vrrp, tcp, udp, icmp; always nftables), e.g. --loss 100 --proto
vrrp on both directors for a split brain. A new impairment replaces the one
before; --clear removes it from every place, --show prints every place.
In a spread lab, tc and nft run on the host NAME runs on (over ssh for
another host).`,
    view: `usage: scripts/lab view [--stack S] [--port P] [--refresh SECONDS] [--minutes M]

A web page on http://127.0.0.1:P/ (default port 8413) with the drawing of
scripts/lab graph and a table of each real server's weight and connection
counts, redrawn every --refresh seconds (default 5). The facts come from
inside the lab host; the page is served here. Stops after --minutes (default
60) or Ctrl-C.`,
};

/** Every verb's options but its own: the stack, or its outputs saved as JSON (`--outputs FILE`). */
const COMMON = { outputs: "value" } as const;

/** A verb's command line: the common options and `own`. */
function verbLine<S extends OptionSpec>(argv: readonly string[], own: S, positionals: PositionalsSetting = false): CommandLine<typeof COMMON & S> {
    return readCommandLine(argv, { ...COMMON, ...own }, { positionals });
}

function numberOption(name: string, text: string | undefined, fallback: number, max?: number): number {
    if (text === undefined) {
        return fallback;
    }
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || (max !== undefined && value > max)) {
        throw new UsageError(`${name} must be a number above 0${max !== undefined ? ` and at most ${max}` : ""} (got "${text}")`);
    }
    return value;
}

function optionalNumber(name: string, text: string | undefined): number | undefined {
    if (text === undefined) {
        return undefined;
    }
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) {
        throw new UsageError(`${name} takes a number (got "${text}")`);
    }
    return value;
}

function nicOption(machine: LabMachine, text: string | undefined): NicName {
    if (text === undefined) {
        return defaultNic(machine);
    }
    if (text !== "public" && text !== "storage") {
        throw new UsageError(`--nic is public or storage (got "${text}")`);
    }
    return text;
}

async function graph(argv: string[]): Promise<number> {
    const { stack, values } = verbLine(argv, { format: "value", o: "value" });
    const format = values.format ?? "svg";
    if (!["svg", "png", "dot", "mermaid", "json"].includes(format)) {
        throw new UsageError(`--format is svg, png, dot, mermaid or json (got "${format}")`);
    }
    const topology = await readTopology(stack, values.outputs);
    const live = await gatherLive(topology);
    const model = graphModel(topology, live, stack);
    let content: string | Buffer;
    if (format === "json") {
        content = `${JSON.stringify({ model, live }, null, 2)}\n`;
    } else if (format === "mermaid") {
        content = renderMermaid(model);
    } else if (format === "dot") {
        content = renderDot(model);
    } else {
        content = await renderWithDot(renderDot(model), format === "png" ? "png" : "svg");
    }
    const target = values.o ?? (format === "svg" || format === "png" ? `lab-graph.${format}` : undefined);
    if (target === undefined || target === "-") {
        process.stdout.write(content);
    } else {
        fs.writeFileSync(target, content);
        console.error(`wrote ${path.resolve(target)}`);
    }
    for (const d of model.directors.filter((director) => !director.reachable)) {
        console.error(`warning: ${d.name} could not be asked: ${d.error ?? "no answer"}`);
    }
    for (const trouble of live.unansweredHosts) {
        console.error(`warning: host ${trouble.host}'s libvirt did not answer, so its machines are unknown: ${trouble.error}`);
    }
    return 0;
}

/** Graphviz's dot turns the text into SVG or PNG (bounded: a drawing this size takes well under a second). */
export async function renderWithDot(dotText: string, format: "svg" | "png"): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const child = spawn("dot", [`-T${format}`], { stdio: ["pipe", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        child.on("error", (e: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            reject(new Error(e.code === "ENOENT" ? "Graphviz's dot is not installed (apt-get install graphviz; scripts/lab setup does)" : e.message));
        });
        child.on("close", (code) => {
            clearTimeout(timer);
            if (code === 0) {
                resolve(Buffer.concat(out));
            } else {
                reject(new Error(`dot -T${format} failed (exit ${code}): ${Buffer.concat(err).toString("utf8").trim()}`));
            }
        });
        child.stdin.end(dotText);
    });
}

/** Runs a command with the terminal handed over; ends it after timeoutS (if given). */
function interactive(file: string, args: string[], timeoutS?: number): Promise<number> {
    return new Promise((resolve, reject) => {
        const child = spawn(file, args, { stdio: "inherit" });
        const timer = timeoutS === undefined ? undefined : setTimeout(() => child.kill("SIGTERM"), timeoutS * 1000);
        child.on("error", reject);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve(code ?? (signal === "SIGTERM" && timeoutS !== undefined ? 0 : 1));
        });
    });
}

async function node(argv: string[]): Promise<number> {
    const { stack, values, positionals } = verbLine(argv, { force: "flag", wait: "flag", timeout: "value", seconds: "value" }, true);
    const [action, name] = positionals;
    if (!["list", "stop", "start", "restart", "console"].includes(action ?? "")) {
        throw new UsageError(`node needs an action: list, stop, start, restart or console (got "${action ?? ""}")`);
    }
    const topology = await readTopology(stack, values.outputs);
    if (action === "list") {
        return listMachines(topology);
    }
    const machine = machineNamed(topology, name);
    if (action === "console") {
        const seconds = values.seconds === undefined ? undefined : numberOption("--seconds", values.seconds, 10, 3600);
        console.error(`console of ${machine.name} (${machine.domain}${topology.spread ? ` on host ${machine.host}` : ""}); leave with Ctrl-]`);
        return interactive("virsh", consoleArgs(machine), seconds);
    }
    if (action === "stop" || action === "restart") {
        await stopMachine(machine, values.force ?? false, numberOption("--timeout", values.timeout, 120, 3600));
    }
    if (action === "start" || action === "restart") {
        await startMachine(topology, machine, values.wait ?? false, numberOption("--timeout", values.timeout, 300, 3600));
    }
    return 0;
}

async function ssh(argv: string[]): Promise<number> {
    // Options come before NAME; everything after it is the remote command, flags included.
    const { stack, values, positionals, rest: command = [] } = verbLine(argv, { timeout: "value" }, "first");
    const topology = await readTopology(stack, values.outputs);
    const machine = machineNamed(topology, positionals[0]);
    const keepAlive = ["-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"];
    if (command.length === 0) {
        const tty = process.stdin.isTTY ? ["-t"] : [];
        return interactive("ssh", sshArgs(topology, machine.sshAddress, [...keepAlive, ...tty]));
    }
    return interactive("ssh", [...sshArgs(topology, machine.sshAddress, keepAlive), command.join(" ")], numberOption("--timeout", values.timeout, 600, 86400));
}

async function inventory(argv: string[]): Promise<number> {
    const { stack, values } = verbLine(argv, { o: "value" });
    const topology = await readTopology(stack, values.outputs);
    const home = process.env.LVSLAB_HOME ?? "/var/lib/lvs-dr-lab";
    const dir = path.resolve(values.o ?? path.join(home, "inventory", stack));
    fs.mkdirSync(dir, { recursive: true });
    const projectRoot = path.resolve(__dirname, "..", "..", "..");
    const environment: Record<string, string> = { LVSLAB_LABHOST: process.env.LVSLAB_LABHOST ?? "lvslab" };
    for (const key of ["LVSLAB_HOME", "LVSLAB_LABHOST_ROOT"]) {
        const value = process.env[key];
        if (value !== undefined) {
            environment[key] = value;
        }
    }
    const proxy = proxyCommand({
        environment,
        labhostScript: path.join(projectRoot, "labhost", "labhost.sh"),
        node: process.execPath,
        pipeScript: path.join(__dirname, "netnsPipe.js"),
    });
    const sshConfig = path.join(dir, "ssh_config");
    const hosts = path.join(dir, "hosts.ini");
    fs.writeFileSync(sshConfig, renderSshConfig(topology, stack, proxy));
    fs.writeFileSync(hosts, renderAnsibleInventory(topology, stack, sshConfig));
    console.log(`wrote ${sshConfig}\n      ${hosts}`);
    console.log(`try:  ssh -F ${sshConfig} ${topology.machines[0].name} hostname`);
    console.log(`      ansible -i ${hosts} all -m ping`);
    return 0;
}

async function tapFor(machine: LabMachine, nicText: string | undefined): Promise<{ nic: NicName; device: string }> {
    const nic = nicOf(machine, nicOption(machine, nicText));
    return { nic: nic.network, device: await tapOfNic(machine, nic) };
}

async function captureVerb(argv: string[]): Promise<number> {
    const { stack, values, positionals } = verbLine(argv, { nic: "value", seconds: "value", filter: "value", w: "value", read: "value" }, true);
    const topology = await readTopology(stack, values.outputs);
    const machine = machineNamed(topology, positionals[0]);
    if (values.read !== undefined) {
        await summarizePcap(topology, path.resolve(values.read));
        return 0;
    }
    const seconds = numberOption("--seconds", values.seconds, 10, 600);
    const { nic, device } = await tapFor(machine, values.nic);
    const stamp = new Date()
        .toISOString()
        .replace(/[:.]/g, "-")
        .replace(/-\d+Z$/, "Z");
    const file = path.resolve(values.w ?? `capture-${machine.name}-${nic}-${stamp}.pcap`);
    return capture(topology, machine, nic, device, {
        seconds,
        file,
        filter: values.filter === undefined ? [] : values.filter.split(/\s+/).filter((w) => w !== ""),
    });
}

async function impair(argv: string[]): Promise<number> {
    const { stack, values, positionals } = verbLine(
        argv,
        { nic: "value", delay: "value", jitter: "value", loss: "value", rate: "value", proto: "value", clear: "flag", show: "flag" },
        true,
    );
    const topology = await readTopology(stack, values.outputs);
    const machine = machineNamed(topology, positionals[0]);
    const impairment: Impairment = {
        delayMs: optionalNumber("--delay", values.delay),
        jitterMs: optionalNumber("--jitter", values.jitter),
        lossPercent: optionalNumber("--loss", values.loss),
        rate: values.rate,
        proto: values.proto,
    };
    const changes = Object.values(impairment).some((v) => v !== undefined);
    if ([changes, values.clear === true, values.show === true].filter(Boolean).length > 1) {
        throw new UsageError("give an impairment, --clear or --show, one at a time");
    }
    if (changes || (values.clear !== true && values.show !== true)) {
        try {
            checkImpairment(impairment);
        } catch (error) {
            throw new UsageError(errorText(error));
        }
    }
    const { nic, device } = await tapFor(machine, values.nic);
    const link: Link = { topology, machine, nic: nicOf(machine, nic), device };
    if (values.clear) {
        const removed = await clearLink(link);
        console.log(`${machine.name} ${nic} (tap ${device}): ${removed.length > 0 ? `removed ${removed.join(", ")}` : "had no impairment"}`);
        return 0;
    }
    if (values.show) {
        process.stdout.write(await showLink(link));
        return 0;
    }
    await applyImpairment(link, impairment);
    process.stdout.write(await showLink(link));
    console.log(`(undo: scripts/lab impair ${machine.name} --nic ${nic} --clear)`);
    return 0;
}

async function view(argv: string[]): Promise<number> {
    const { stack, values } = verbLine(argv, { port: "value", refresh: "value", minutes: "value" });
    const outputsFile = values.outputs;
    const port = numberOption("--port", values.port, 8413, 65535);
    const refreshSeconds = numberOption("--refresh", values.refresh, 5, 600);
    const minutes = numberOption("--minutes", values.minutes, 60, 24 * 60);
    const outputs: unknown = outputsFile !== undefined ? JSON.parse(fs.readFileSync(outputsFile, "utf8")) : await readOutputs(stack);
    topologyFromOutputs(outputs, stack);
    const scratch = outputsScratchFile(outputs);
    try {
        return await serveView({ stack, port, refreshSeconds, minutes, outputsFile: scratch, render: (dotText) => renderWithDot(dotText, "svg") });
    } finally {
        fs.rmSync(path.dirname(scratch), { recursive: true, force: true });
    }
}

const VERBS: Record<string, (argv: string[]) => Promise<number>> = { graph, view, node, ssh, inventory, capture: captureVerb, impair };

export async function main(argv: string[]): Promise<number> {
    const [verb, ...rest] = argv;
    const run = verb === undefined ? undefined : VERBS[verb];
    if (run === undefined || verb === undefined) {
        console.error(`usage: cli.js ${Object.keys(VERBS).join("|")} ... (--help for each)`);
        return 64;
    }
    const helpAt = rest.findIndex((arg) => arg === "--help" || arg === "-h");
    // For ssh, a --help after NAME belongs to the remote command.
    if (helpAt >= 0 && (verb !== "ssh" || rest.slice(0, helpAt).every((arg) => arg.startsWith("-")))) {
        console.log(HELP[verb]);
        return 0;
    }
    try {
        return await run(rest);
    } catch (error) {
        console.error(`error: ${errorText(error)}`);
        if (error instanceof UsageError) {
            console.error(`(scripts/lab ${verb} --help)`);
            return 64;
        }
        return 1;
    }
}

runMain("cli", module, () => main(process.argv.slice(2)));
