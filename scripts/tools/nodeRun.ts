// Runs `scripts/lab node` (cli.ts reads its command line): libvirt's
// controls for one machine, asked of the machine's own host (virsh -c its
// libvirt URI), so a machine of a spread lab that runs on another host is
// listed, stopped, started and reached on its console there. `node list`
// asks every host at once; a host that does not answer makes its machines
// "unknown" and is named.
import { ToolIo, REAL_IO } from "./hostRun";
import { DomainListing, listDomains, runChecked, sshArgs, virshArgs } from "./live";
import { LabMachine, LabTopology } from "./topology";

function roleWords(machine: LabMachine): string {
    return machine.role === "director" ? `director (${machine.directorRole})` : machine.role === "realServer" ? "real server" : "NFS store";
}

/** `node list`'s lines: each machine's state, role and addresses, its domain and, in a spread lab, its host; then the hosts that did not answer. */
export function nodeListLines(topology: LabTopology, listing: DomainListing): string[] {
    const lines = topology.machines.map((machine) => {
        const where = topology.spread ? ` on host ${machine.host}` : "";
        return `${machine.name.padEnd(10)} ${(listing.states[machine.name] ?? "missing").padEnd(10)} ${roleWords(machine).padEnd(20)} ${machine.nics.map((n) => `${n.network} ${n.address}`).join(", ")}  (domain ${machine.domain}${where})`;
    });
    for (const trouble of listing.unanswered) {
        lines.push(`host ${trouble.host} did not answer, so its machines are unknown: ${trouble.error}`);
    }
    return lines;
}

/** Prints `node list`; 1 when a host did not answer. */
export async function listMachines(topology: LabTopology, io: ToolIo = REAL_IO): Promise<number> {
    const listing = await listDomains(topology, io.command);
    io.out(`${nodeListLines(topology, listing).join("\n")}\n`);
    return listing.unanswered.length > 0 ? 1 : 0;
}

/** virsh's arguments for the machine's serial console, on its own host. */
export function consoleArgs(machine: LabMachine): string[] {
    return ["-c", machine.libvirtUri, "console", "--force", machine.domain];
}

async function virshOnHost(machine: LabMachine, io: ToolIo, timeoutMs: number, ...args: string[]): Promise<string> {
    return runChecked("virsh", virshArgs(machine.libvirtUri, ...args), timeoutMs, undefined, io.command);
}

async function domainState(machine: LabMachine, io: ToolIo): Promise<string> {
    return (await virshOnHost(machine, io, 20_000, "domstate", machine.domain)).trim();
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** ACPI shutdown, then a power-off if still up after timeoutS (at once with `force`). */
export async function stopMachine(machine: LabMachine, force: boolean, timeoutS: number, io: ToolIo = REAL_IO): Promise<void> {
    if ((await domainState(machine, io)) === "shut off") {
        io.out(`${machine.name} is already shut off\n`);
        return;
    }
    if (!force) {
        await virshOnHost(machine, io, 20_000, "shutdown", machine.domain);
        const deadline = Date.now() + timeoutS * 1000;
        while (Date.now() < deadline) {
            if ((await domainState(machine, io)) === "shut off") {
                io.out(`${machine.name} shut down (ACPI) in ${Math.round((timeoutS * 1000 - (deadline - Date.now())) / 1000)} s\n`);
                return;
            }
            await sleep(2000);
        }
        io.out(`${machine.name} was still up after ${timeoutS} s: powering it off\n`);
    }
    await virshOnHost(machine, io, 30_000, "destroy", machine.domain);
    io.out(`${machine.name} powered off\n`);
}

/** Powers on; with `wait`, until SSH answers (from here, through the gateway's bridges, wherever the machine runs). */
export async function startMachine(topology: LabTopology, machine: LabMachine, wait: boolean, timeoutS: number, io: ToolIo = REAL_IO): Promise<void> {
    if ((await domainState(machine, io)) === "running") {
        io.out(`${machine.name} is already running\n`);
    } else {
        await virshOnHost(machine, io, 60_000, "start", machine.domain);
        io.out(`${machine.name} started\n`);
    }
    if (!wait) {
        return;
    }
    const started = Date.now();
    const deadline = started + timeoutS * 1000;
    while (Date.now() < deadline) {
        const result = await io.command("ssh", [...sshArgs(topology, machine.sshAddress), "true"], { timeoutMs: 15_000 });
        if (result.code === 0) {
            io.out(`${machine.name} answers SSH after ${Math.round((Date.now() - started) / 1000)} s\n`);
            return;
        }
        await sleep(3000);
    }
    throw new Error(`${machine.name} did not answer SSH within ${timeoutS} s (scripts/lab node console ${machine.name} shows its console)`);
}
