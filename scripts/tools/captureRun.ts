// Runs a capture (capture.ts has the pure parts): tcpdump on the tap for a
// bounded time, then reads the file back and prints the summary. A machine of
// a spread lab that runs on another host has its tap there, so every
// host-side step runs on that host through its libvirt URI (over ssh, as
// libvirt reaches it): tcpdump into a file under that host's /tmp, tcpdump -r
// of it there, the file copied here (base64 over the same ssh) to FILE.pcap
// like any capture, then removed there. A machine of this host is captured
// here, as always.
import * as fs from "fs";
import { errorText } from "../../proofs/kit/main";
import { copyBackArgv, Frame, parseFrame, readArgv, recordArgv, remoteCaptureFile, removeArgv, renderSummary, summarizeFrames } from "./capture";
import { failureWords, hostOfMachine, isRemote, OnHost, onWords, REAL_IO, runCheckedThere, runThere, ToolIo } from "./hostRun";
import { runChecked, virshArgs } from "./live";
import { parseNetworkXml } from "./parse";
import { gatewayHost, LabHost, LabMachine, LabTopology, macOwners, NicName } from "./topology";

const COPY_TIMEOUT_MS = 300_000;

/** The MAC of each lab bridge on these hosts, so the summary can name it: the gateway's is "lab host", another's "host b". */
async function bridgeOwners(topology: LabTopology, hosts: LabHost[], io: ToolIo): Promise<Map<string, string>> {
    const gateway = gatewayHost(topology).name;
    const named = await Promise.all(
        hosts.flatMap((host) =>
            Object.entries(topology.networks).map(async ([label, network]): Promise<[string, string] | undefined> => {
                const on: OnHost = { name: host.name, uri: host.uri, run: io.host };
                try {
                    const bridge = parseNetworkXml(
                        await runChecked("virsh", virshArgs(host.uri, "net-dumpxml", network), 10_000, undefined, io.command),
                    ).bridge;
                    if (!bridge) {
                        return undefined;
                    }
                    const file = `/sys/class/net/${bridge}/address`;
                    const mac = (isRemote(on) ? await runCheckedThere(on, ["cat", file], 20_000) : fs.readFileSync(file, "utf8")).trim().toLowerCase();
                    return [mac, host.name === gateway ? `lab host (${label} bridge ${bridge})` : `host ${host.name} (${label} bridge ${bridge})`];
                } catch {
                    // An unnamed MAC is still shown, as itself.
                    return undefined;
                }
            }),
        ),
    );
    return new Map(named.filter((entry) => entry !== undefined));
}

/**
 * tcpdump on a tap for a bounded time, into `file`; returns tcpdump's own
 * counts. `on`: the host the tap is on (undefined: this machine).
 */
export async function record(device: string, request: { seconds: number; file: string; filter: string[] }, on?: OnHost): Promise<string[]> {
    // timeout(1) ends tcpdump with SIGINT so it closes the file cleanly; the
    // outer limit is only for a tcpdump that ignores it (and ssh's connection, for another host).
    const result = await runThere(on, recordArgv({ device, ...request }), { timeoutMs: (request.seconds + (isRemote(on) ? 45 : 20)) * 1000 });
    // 124: timeout(1) ended it, which is the normal end here.
    if (result.code !== 0 && result.code !== 124) {
        const words = isRemote(on) && result.code === 255 ? failureWords(result, on) : result.stderr.trim();
        throw new Error(`tcpdump on ${device}${onWords(on)} failed (exit ${result.code}): ${words}`);
    }
    return result.stderr.split("\n").filter((line) => /packets (captured|received by filter|dropped by kernel)/.test(line));
}

/** The frames of a pcap file, parsed (read on `on`, the host the file is on; undefined: this machine). */
export async function readFrames(file: string, on?: OnHost): Promise<Frame[]> {
    const read = await runCheckedThere(on, readArgv(file), isRemote(on) ? 90_000 : 60_000);
    return read
        .split("\n")
        .map(parseFrame)
        .filter((frame) => frame !== undefined);
}

/** The hosts whose bridges a capture on the machine's link can see: the gateway's (the clients' side) and its own. */
function bridgeHosts(topology: LabTopology, machine: LabMachine): LabHost[] {
    return topology.hosts.filter((host) => host.name === gatewayHost(topology).name || host.name === machine.host);
}

function filterWords(filter: string[]): string {
    return filter.length > 0 ? `, filter "${filter.join(" ")}"` : "";
}

function countWords(counts: string[]): string {
    return counts.length > 0 ? ` (tcpdump: ${counts.join(", ")})` : "";
}

/** Captures on a machine's tap, wherever its host is, then prints the summary; 0, or 1 when a remote capture could not be copied here. */
export async function capture(
    topology: LabTopology,
    machine: LabMachine,
    nic: NicName,
    device: string,
    request: { seconds: number; file: string; filter: string[] },
    io: ToolIo = REAL_IO,
): Promise<number> {
    const on = hostOfMachine(machine, io);
    io.err(`capturing on ${machine.name} ${nic} (tap ${device}${onWords(on)}) for ${request.seconds} s${filterWords(request.filter)}...\n`);
    if (!isRemote(on)) {
        const counts = await record(device, request);
        io.out(`${request.file}: ${machine.name} ${nic} NIC (tap ${device}), ${request.seconds} s${countWords(counts)}\n`);
        printSummary(topology, await readFrames(request.file), await bridgeOwners(topology, bridgeHosts(topology, machine), io), io);
        return 0;
    }
    const remoteFile = remoteCaptureFile(machine.name, nic, `${Date.now()}-${process.pid}`);
    let copyError: string | undefined;
    try {
        const counts = await record(device, { ...request, file: remoteFile }, on);
        const frames = await readFrames(remoteFile, on);
        try {
            fs.writeFileSync(request.file, Buffer.from(await runCheckedThere(on, copyBackArgv(remoteFile), COPY_TIMEOUT_MS), "base64"));
        } catch (error) {
            copyError = errorText(error);
        }
        const saved = copyError === undefined ? request.file : `host ${on.name}:${remoteFile}`;
        io.out(`${saved}: ${machine.name} ${nic} NIC (tap ${device}${onWords(on)}), ${request.seconds} s${countWords(counts)}\n`);
        printSummary(topology, frames, await bridgeOwners(topology, bridgeHosts(topology, machine), io), io);
    } finally {
        if (copyError === undefined) {
            const removed = await runThere(on, removeArgv(remoteFile), { timeoutMs: 30_000 }).catch((error: unknown) => errorText(error));
            if (typeof removed === "string" || removed.code !== 0) {
                io.err(`warning: ${remoteFile} is left on host ${on.name}: ${typeof removed === "string" ? removed : failureWords(removed, on)}\n`);
            }
        }
    }
    if (copyError !== undefined) {
        io.err(`error: copying the capture here failed (${copyError}); it is still on host ${on.name} at ${remoteFile}\n`);
        return 1;
    }
    return 0;
}

function printSummary(topology: LabTopology, frames: Frame[], bridges: Map<string, string>, io: ToolIo): void {
    const owners = new Map([...macOwners(topology), ...bridges]);
    io.out(renderSummary(summarizeFrames(frames, owners, topology.vip), topology.vip));
}

/** Prints the summary of a pcap file here (a capture just made, or one saved earlier: capture --read), naming every host's bridges. */
export async function summarizePcap(topology: LabTopology, file: string, io: ToolIo = REAL_IO): Promise<void> {
    const frames = await readFrames(file);
    printSummary(topology, frames, await bridgeOwners(topology, topology.hosts, io), io);
}
