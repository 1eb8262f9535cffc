// Runs a capture (capture.ts has the pure parts): tcpdump on the tap for a
// bounded time, then reads the file back and prints the summary.
import * as fs from "fs";
import { runCommand } from "../../components/libvirt";
import { Frame, parseFrame, renderSummary, summarizeFrames, tcpdumpArgs } from "./capture";
import { runChecked, virshArgs } from "./live";
import { parseNetworkXml } from "./parse";
import { LabMachine, LabTopology, macOwners, NicName } from "./topology";

/** The lab host's MAC on each lab bridge, so the summary can name it. */
async function bridgeOwners(topology: LabTopology): Promise<Map<string, string>> {
    const owners = new Map<string, string>();
    for (const [label, network] of Object.entries(topology.networks)) {
        try {
            const bridge = parseNetworkXml(await runChecked("virsh", virshArgs(topology, "net-dumpxml", network), 10_000)).bridge;
            if (bridge) {
                const mac = fs.readFileSync(`/sys/class/net/${bridge}/address`, "utf8").trim().toLowerCase();
                owners.set(mac, `lab host (${label} bridge ${bridge})`);
            }
        } catch {
            // An unnamed MAC is still shown, as itself.
        }
    }
    return owners;
}

/** tcpdump on a tap for a bounded time, into `file`; returns tcpdump's own counts. */
export async function record(device: string, request: { seconds: number; file: string; filter: string[] }): Promise<string[]> {
    // timeout(1) ends tcpdump with SIGINT so it closes the file cleanly; the
    // outer limit is only for a tcpdump that ignores it.
    const result = await runCommand("timeout", ["--signal=INT", "--kill-after=5", String(request.seconds), "tcpdump", ...tcpdumpArgs({ device, ...request })], {
        timeoutMs: (request.seconds + 20) * 1000,
    });
    // 124: timeout(1) ended it, which is the normal end here.
    if (result.code !== 0 && result.code !== 124) {
        throw new Error(`tcpdump on ${device} failed (exit ${result.code}): ${result.stderr.trim()}`);
    }
    return result.stderr.split("\n").filter((line) => /packets (captured|received by filter|dropped by kernel)/.test(line));
}

/** The frames of a pcap file, parsed. */
export async function readFrames(file: string): Promise<Frame[]> {
    const read = await runChecked("tcpdump", ["-r", file, "-nn", "-e", "-q"], 60_000);
    return read
        .split("\n")
        .map(parseFrame)
        .filter((frame) => frame !== undefined);
}

export async function capture(
    topology: LabTopology,
    machine: LabMachine,
    nic: NicName,
    device: string,
    request: { seconds: number; file: string; filter: string[] },
): Promise<number> {
    console.error(
        `capturing on ${machine.name} ${nic} (tap ${device}) for ${request.seconds} s${request.filter.length > 0 ? `, filter "${request.filter.join(" ")}"` : ""}...`,
    );
    const counts = await record(device, request);
    console.log(
        `${request.file}: ${machine.name} ${nic} NIC (tap ${device}), ${request.seconds} s${counts.length > 0 ? ` (tcpdump: ${counts.join(", ")})` : ""}`,
    );
    await summarizePcap(topology, request.file);
    return 0;
}

/** Prints the summary of a pcap file (a capture just made, or one saved earlier: capture --read). */
export async function summarizePcap(topology: LabTopology, file: string): Promise<void> {
    const frames = await readFrames(file);
    const owners = new Map([...macOwners(topology), ...(await bridgeOwners(topology))]);
    process.stdout.write(renderSummary(summarizeFrames(frames, owners, topology.vip), topology.vip));
}
