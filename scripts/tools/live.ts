// Live facts of a running lab, gathered from inside the lab host (where
// qemu:///system is the lab's libvirtd and the guests' addresses answer):
// each domain's state, each network's bridge and host address, and per
// director its IPVS table with counters and whether it holds the VIP.
// In a spread lab each machine's domain and taps are asked of its own host's
// libvirt URI, every host at once; the networks' facts of the gateway host.
// Every external call has a time limit; a director that cannot be asked is
// reported as unreachable, never as an empty table, and a host that does not
// answer makes its own machines "unknown", no others.
import * as fs from "fs";
import { runCommand } from "../../components/libvirt/host";
import { PROJECT_ROOT, pulumiEnvironment } from "../pulumiEnv";
import { errorText } from "../../proofs/kit/main";
import { sshOptions } from "../../proofs/kit/ssh";
import { tapOf } from "./capture";
import { checked, CommandRunner } from "./hostRun";
import {
    holdsAddress,
    IpvsService,
    mergeIpvsStats,
    neighbourMac,
    NetworkFacts,
    parseDomainInterfaces,
    parseDomainStates,
    parseIpvsTable,
    parseNetworkXml,
} from "./parse";
import { gatewayHost, LabMachine, LabTopology, MachineNic, topologyFromOutputs } from "./topology";

export interface DirectorLive {
    reachable: boolean;
    /** Why it could not be asked (SSH refused, timed out, ...). */
    error?: string;
    holdsVip: boolean;
    services: IpvsService[];
}

/** A lab host whose libvirt did not answer, and its words. */
export interface HostTrouble {
    host: string;
    uri: string;
    error: string;
}

/** libvirt's state of every machine, from every host the lab uses. */
export interface DomainListing {
    /** By machine name; "missing" when its host has no such domain, "unknown" when its host did not answer. */
    states: Record<string, string>;
    /** The hosts that did not answer (their machines are "unknown"). */
    unanswered: HostTrouble[];
}

export interface LiveFacts {
    /** ISO time the facts were gathered. */
    gatheredAt: string;
    /** libvirt's state by machine name; "missing" when libvirt has no such domain, "unknown" when its host's libvirt did not answer. */
    domainStates: Record<string, string>;
    /** Hosts whose libvirt did not answer. */
    unansweredHosts: HostTrouble[];
    networks: { public: NetworkFacts; storage: NetworkFacts };
    directors: Record<string, DirectorLive>;
}

const VIRSH_TIMEOUT_MS = 20_000;
const SSH_TIMEOUT_MS = 20_000;
const OUTPUTS_TIMEOUT_MS = 90_000;

/** Runs a command here with a time limit (through `run`, runCommand unless a test gives another); throws with its own words when it fails. */
export async function runChecked(file: string, args: string[], timeoutMs: number, input?: string, run: CommandRunner = runCommand): Promise<string> {
    return checked([file, ...args], await run(file, args, { timeoutMs, input }), timeoutMs);
}

/** The MAC this host's neighbour table has for `address` (lower-cased), if any. */
export async function neighbourMacHere(address: string): Promise<string | undefined> {
    return neighbourMac(await runChecked("ip", ["neigh", "show", address], 5000), address);
}

/** virsh's arguments for the libvirt at `uri`: a machine's own host (machine.libvirtUri), or the gateway's for the networks. */
export function virshArgs(uri: string, ...args: string[]): string[] {
    return ["-q", "-c", uri, ...args];
}

/**
 * The stack's outputs, secrets included (for local tools only), as Pulumi's
 * own `stack output` reads them: a quarter of a second, where loading the SDK
 * and opening the stack through it takes two. A mistyped --stack is refused,
 * never made.
 */
export async function readOutputs(stackName: string): Promise<Record<string, unknown>> {
    const env = pulumiEnvironment();
    const read = await runCommand("pulumi", ["stack", "output", "--stack", stackName, "--json", "--show-secrets"], {
        cwd: PROJECT_ROOT,
        env,
        timeoutMs: OUTPUTS_TIMEOUT_MS,
    });
    if (read.timedOut) {
        throw new Error(`reading stack ${stackName}'s outputs took longer than ${OUTPUTS_TIMEOUT_MS / 1000} s`);
    }
    if (read.code !== 0) {
        if (/no stack named|not found/i.test(read.stderr)) {
            throw new Error(`no stack "${stackName}" in ${env.PULUMI_BACKEND_URL} (bring one up with scripts/lab up --stack ${stackName})`);
        }
        throw new Error(`pulumi stack output --stack ${stackName} failed (exit ${read.code}): ${read.stderr.trim().split("\n").pop() ?? ""}`);
    }
    return JSON.parse(read.stdout) as Record<string, unknown>;
}

/** The lab's machines: from `outputsFile` (JSON as `scripts/lab outputs` prints it) if given, else from the stack. */
export async function readTopology(stackName: string, outputsFile?: string): Promise<LabTopology> {
    const outputs: unknown = outputsFile !== undefined ? JSON.parse(fs.readFileSync(outputsFile, "utf8")) : await readOutputs(stackName);
    return topologyFromOutputs(outputs, stackName);
}

/** SSH to a guest with the operator key and the lab's options (the proofs' kit has them), `extra` before the login. */
export function sshArgs(topology: LabTopology, address: string, extra: string[] = []): string[] {
    return [...sshOptions(topology.ssh.privateKeyPath, 8), ...extra, `${topology.ssh.user}@${address}`];
}

/** What one SSH call to a director prints: the table, its counters, its addresses, split by markers. */
const DIRECTOR_PROBE = "sudo -n ipvsadm -Ln --exact; echo @@stats; sudo -n ipvsadm -Ln --stats --exact; echo @@addr; ip -o -4 addr show";

export function directorFromProbe(output: string, vip: string): DirectorLive {
    const [table = "", rest = ""] = output.split("@@stats\n");
    const [stats = "", addresses = ""] = rest.split("@@addr\n");
    return { reachable: true, holdsVip: holdsAddress(addresses, vip), services: mergeIpvsStats(parseIpvsTable(table), stats) };
}

async function askDirector(topology: LabTopology, address: string, run: CommandRunner): Promise<DirectorLive> {
    try {
        const output = await runChecked("ssh", [...sshArgs(topology, address), DIRECTOR_PROBE], SSH_TIMEOUT_MS, undefined, run);
        return directorFromProbe(output, topology.vip);
    } catch (error) {
        return { reachable: false, error: errorText(error), holdsVip: false, services: [] };
    }
}

/** A network's bridge and address on the gateway host (the other hosts' bridges have no address). */
async function networkFacts(topology: LabTopology, network: string, run: CommandRunner): Promise<NetworkFacts> {
    try {
        return parseNetworkXml(await runChecked("virsh", virshArgs(gatewayHost(topology).uri, "net-dumpxml", network), VIRSH_TIMEOUT_MS, undefined, run));
    } catch {
        return {};
    }
}

/**
 * The tap on the host side of one NIC of a machine (virsh domiflist on the
 * machine's own host, matched by MAC): the machine carries its host's URI.
 */
export async function tapOfNic(machine: LabMachine, nic: MachineNic, run: CommandRunner = runCommand): Promise<string> {
    const interfaces = parseDomainInterfaces(
        await runChecked("virsh", virshArgs(machine.libvirtUri, "domiflist", machine.domain), VIRSH_TIMEOUT_MS, undefined, run),
    );
    return tapOf(machine, nic, interfaces);
}

/**
 * libvirt's state of every machine: one `virsh list --all` per host the lab
 * uses, all at once, merged. A host that does not answer makes only its own
 * machines "unknown"; a domain its host does not have is "missing".
 */
export async function listDomains(topology: LabTopology, run: CommandRunner = runCommand): Promise<DomainListing> {
    const uris = [...new Set(topology.machines.map((machine) => machine.libvirtUri))];
    const answers = await Promise.all(
        uris.map(async (uri) => {
            try {
                return { uri, listed: parseDomainStates(await runChecked("virsh", virshArgs(uri, "list", "--all"), VIRSH_TIMEOUT_MS, undefined, run)) };
            } catch (error) {
                return { uri, error: errorText(error) };
            }
        }),
    );
    const byUri = new Map(answers.map((answer) => [answer.uri, answer]));
    const states = Object.fromEntries(
        topology.machines.map((machine) => {
            const listed = byUri.get(machine.libvirtUri)?.listed;
            return [machine.name, listed === undefined ? "unknown" : (listed.get(machine.domain) ?? "missing")];
        }),
    );
    const unanswered = answers.flatMap((answer) =>
        answer.error === undefined
            ? []
            : [{ host: topology.hosts.find((host) => host.uri === answer.uri)?.name ?? answer.uri, uri: answer.uri, error: answer.error }],
    );
    return { states, unanswered };
}

/** libvirt's state by machine name, from every host: listDomains' states alone. */
export async function domainStatesOf(topology: LabTopology, run: CommandRunner = runCommand): Promise<Record<string, string>> {
    return (await listDomains(topology, run)).states;
}

/** Everything live at once (the hosts and the directors asked in parallel). */
export async function gatherLive(topology: LabTopology, run: CommandRunner = runCommand): Promise<LiveFacts> {
    const directors = topology.machines.filter((m) => m.role === "director");
    const [listing, [publicFacts, storageFacts], answers] = await Promise.all([
        listDomains(topology, run),
        Promise.all([networkFacts(topology, topology.networks.public, run), networkFacts(topology, topology.networks.storage, run)]),
        Promise.all(directors.map((d) => askDirector(topology, d.sshAddress, run))),
    ]);
    return {
        gatheredAt: new Date().toISOString(),
        domainStates: listing.states,
        unansweredHosts: listing.unanswered,
        networks: { public: publicFacts, storage: storageFacts },
        directors: Object.fromEntries(directors.map((d, index) => [d.name, answers[index]])),
    };
}
