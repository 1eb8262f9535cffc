// Live facts of a running lab, gathered from inside the lab host (where
// qemu:///system is the lab's libvirtd and the guests' addresses answer):
// each domain's state, each network's bridge and host address, and per
// director its IPVS table with counters and whether it holds the VIP.
// Every external call has a time limit; a director that cannot be asked is
// reported as unreachable, never as an empty table.
import * as fs from "fs";
import { runCommand, RunResult } from "../../components/libvirt";
import { errorText } from "../../proofs/kit/main";
import { sshOptions } from "../../proofs/kit/ssh";
import { tapOf } from "./capture";
import { holdsAddress, IpvsService, mergeIpvsStats, NetworkFacts, parseDomainInterfaces, parseDomainStates, parseIpvsTable, parseNetworkXml } from "./parse";
import { LabMachine, LabTopology, MachineNic, topologyFromOutputs } from "./topology";

export interface DirectorLive {
    reachable: boolean;
    /** Why it could not be asked (SSH refused, timed out, ...). */
    error?: string;
    holdsVip: boolean;
    services: IpvsService[];
}

export interface LiveFacts {
    /** ISO time the facts were gathered. */
    gatheredAt: string;
    /** libvirt's state by machine name; "missing" when libvirt has no such domain, "unknown" when libvirt did not answer. */
    domainStates: Record<string, string>;
    networks: { public: NetworkFacts; storage: NetworkFacts };
    directors: Record<string, DirectorLive>;
}

const VIRSH_TIMEOUT_MS = 20_000;
const SSH_TIMEOUT_MS = 20_000;
const OUTPUTS_TIMEOUT_MS = 90_000;

/** Runs a command with a time limit; throws with its own words when it fails. */
export async function runChecked(file: string, args: string[], timeoutMs: number, input?: string): Promise<string> {
    const result: RunResult = await runCommand(file, args, { timeoutMs, input });
    if (result.timedOut) {
        throw new Error(`${file} ${args.join(" ")}: no answer within ${timeoutMs / 1000} s`);
    }
    if (result.code !== 0) {
        const words = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join(" ");
        throw new Error(`${file} ${args.join(" ")} failed (exit ${result.code}): ${words}`);
    }
    return result.stdout;
}

export function virshArgs(topology: LabTopology, ...args: string[]): string[] {
    return ["-q", "-c", topology.libvirtUri, ...args];
}

/**
 * The stack's outputs, secrets included (for local tools only). The stack is
 * selected, never created, so a mistyped --stack is refused instead of made.
 */
export async function readOutputs(stackName: string): Promise<Record<string, unknown>> {
    // Loaded only here: Pulumi's SDK takes seconds to load, and --outputs,
    // --help and the refusals need none of it.
    const auto = await import("@pulumi/pulumi/automation");
    const { PROJECT_NAME, PROJECT_ROOT, pulumiEnvironment } = await import("../automation");
    const reading = (async () => {
        const stack = await auto.LocalWorkspace.selectStack(
            { stackName, projectName: PROJECT_NAME, program: async () => undefined },
            { workDir: PROJECT_ROOT, envVars: pulumiEnvironment() },
        ).catch((error: unknown) => {
            const text = errorText(error);
            if (/no stack named|not found/i.test(text)) {
                throw new Error(`no stack "${stackName}" in ${pulumiEnvironment().PULUMI_BACKEND_URL} (bring one up with scripts/lab up --stack ${stackName})`);
            }
            throw error;
        });
        const outputs = await stack.outputs();
        return Object.fromEntries(Object.entries(outputs).map(([key, output]) => [key, output.value as unknown]));
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`reading stack ${stackName}'s outputs took longer than ${OUTPUTS_TIMEOUT_MS / 1000} s`)), OUTPUTS_TIMEOUT_MS);
    });
    try {
        return await Promise.race([reading, timeout]);
    } finally {
        clearTimeout(timer);
    }
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

async function askDirector(topology: LabTopology, address: string): Promise<DirectorLive> {
    try {
        const output = await runChecked("ssh", [...sshArgs(topology, address), DIRECTOR_PROBE], SSH_TIMEOUT_MS);
        return directorFromProbe(output, topology.vip);
    } catch (error) {
        return { reachable: false, error: errorText(error), holdsVip: false, services: [] };
    }
}

async function networkFacts(topology: LabTopology, network: string): Promise<NetworkFacts> {
    try {
        return parseNetworkXml(await runChecked("virsh", virshArgs(topology, "net-dumpxml", network), VIRSH_TIMEOUT_MS));
    } catch {
        return {};
    }
}

/** The tap on the lab host's side of one NIC of a machine (virsh domiflist, matched by MAC). */
export async function tapOfNic(topology: LabTopology, machine: LabMachine, nic: MachineNic): Promise<string> {
    const interfaces = parseDomainInterfaces(await runChecked("virsh", virshArgs(topology, "domiflist", machine.domain), VIRSH_TIMEOUT_MS));
    return tapOf(machine, nic, interfaces);
}

/** libvirt's state by machine name: "missing" when libvirt has no such domain, "unknown" for all when libvirt did not answer. */
export async function domainStatesOf(topology: LabTopology): Promise<Record<string, string>> {
    let listed: Map<string, string> | undefined;
    try {
        listed = parseDomainStates(await runChecked("virsh", virshArgs(topology, "list", "--all"), VIRSH_TIMEOUT_MS));
    } catch {
        listed = undefined;
    }
    return Object.fromEntries(topology.machines.map((machine) => [machine.name, listed === undefined ? "unknown" : (listed.get(machine.domain) ?? "missing")]));
}

/** Everything live at once (the directors asked in parallel). */
export async function gatherLive(topology: LabTopology): Promise<LiveFacts> {
    const domainStates = await domainStatesOf(topology);
    const directors = topology.machines.filter((m) => m.role === "director");
    const [[publicFacts, storageFacts], answers] = await Promise.all([
        Promise.all([networkFacts(topology, topology.networks.public), networkFacts(topology, topology.networks.storage)]),
        Promise.all(directors.map((d) => askDirector(topology, d.sshAddress))),
    ]);
    return {
        gatheredAt: new Date().toISOString(),
        domainStates,
        networks: { public: publicFacts, storage: storageFacts },
        directors: Object.fromEntries(directors.map((d, index) => [d.name, answers[index]])),
    };
}
