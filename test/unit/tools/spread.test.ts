// The lab tools on a lab spread over two hosts (docs/multi-host.md): each
// machine is asked of its own host, every host at once, and capture and
// impair run their host-side commands on the machine's host. virsh, ssh and
// the hosts' shells are stood in for by a recording ToolIo: nothing here
// reaches libvirt, a host or a guest.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { copyBackArgv, readArgv, recordArgv, remoteCaptureFile, removeArgv } from "../../../scripts/tools/capture";
import { capture } from "../../../scripts/tools/captureRun";
import { graphModel, renderDot, renderMermaid } from "../../../scripts/tools/graph";
import { hostRunRefusal, realHostRunner } from "../../../scripts/tools/hostRun";
import { dropRuleset } from "../../../scripts/tools/impair";
import { applyImpairment, clearLink, Link, showLink } from "../../../scripts/tools/impairRun";
import { renderAnsibleInventory } from "../../../scripts/tools/inventory";
import { gatherLive, listDomains, tapOfNic } from "../../../scripts/tools/live";
import { consoleArgs, nodeListLines, stopMachine } from "../../../scripts/tools/nodeRun";
import { machineNamed, nicOf, topologyFromOutputs } from "../../../scripts/tools/topology";
import { serverTable } from "../../../scripts/tools/view";
import { makeTempDir } from "../../helpers/tools";
import { HOST_B_URI, recordingIo, seedLive, seedOutputs, spreadOutputs } from "./fixtures";

const topology = topologyFromOutputs(spreadOutputs(), "spread");
const web3 = machineNamed(topology, "web3");
const web1 = machineNamed(topology, "web1");
const scratch = makeTempDir("tools-spread");
after(() => scratch.cleanup());

const LIST_A = ` 1    lvslab-k3x9-director   running
 2    lvslab-k3x9-nfs        running
 3    lvslab-k3x9-web1       running
`;
const LIST_B = ` 1    lvslab-k3x9-director2  running
 2    lvslab-k3x9-web3       running
 -    lvslab-k3x9-web4       shut off
`;

describe("the tools on a lab spread over two hosts", () => {
    it("each machine knows its host and that host's libvirt URI, from the outputs' hosts", () => {
        assert.equal(topology.spread, true);
        assert.deepEqual(
            topology.machines.map((m) => [m.name, m.host, m.libvirtUri]),
            [
                ["director", "a", "qemu:///system"],
                ["director2", "b", HOST_B_URI],
                ["web1", "a", "qemu:///system"],
                ["web2", "a", "qemu:///system"],
                ["web3", "b", HOST_B_URI],
                ["web4", "b", HOST_B_URI],
                ["nfs", "a", "qemu:///system"],
            ],
        );
        assert.equal(topology.libvirtUri, "qemu:///system", "the lab's URI is the gateway host's");
        assert.deepEqual(
            topology.hosts.map((h) => h.name),
            ["a", "b"],
        );
    });

    it("a one-host lab has one host, named as the config names it, and every machine on it", () => {
        const one = topologyFromOutputs(seedOutputs(), "dev");
        assert.equal(one.spread, false);
        assert.deepEqual(one.hosts, [{ name: "local", uri: "qemu:///system", machines: ["director", "web1", "web2", "web3", "web4", "nfs"] }]);
        assert.ok(one.machines.every((m) => m.host === "local" && m.libvirtUri === "qemu:///system"));
    });

    it("a machine no host lists runs on the gateway host; hosts in another shape are refused", () => {
        const outputs = spreadOutputs();
        outputs.libvirt.hosts?.[1].machines.splice(outputs.libvirt.hosts[1].machines.indexOf("web4"), 1);
        assert.equal(machineNamed(topologyFromOutputs(outputs, "spread"), "web4").host, "a");
        const broken = { ...spreadOutputs(), libvirt: { ...spreadOutputs().libvirt, hosts: [{ name: "b", uri: 7 }] } };
        assert.throws(() => topologyFromOutputs(broken, "spread"), /outputs lack libvirt\.hosts/);
    });

    it("lists the domains of both hosts at once, one virsh list --all each, and merges them", async () => {
        let started = 0;
        let release = (): void => undefined;
        const both = new Promise<void>((resolve) => (release = resolve));
        const startedWhenAnswered: number[] = [];
        const { io, calls } = recordingIo(async (call) => {
            started += 1;
            if (started === 2) {
                release();
            }
            await Promise.race([both, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
            startedWhenAnswered.push(started);
            return { stdout: call.argv.includes(HOST_B_URI) ? LIST_B : LIST_A };
        });
        const listing = await listDomains(topology, io.command);
        assert.deepEqual(
            calls.map((c) => c.argv),
            [
                ["virsh", "-q", "-c", "qemu:///system", "list", "--all"],
                ["virsh", "-q", "-c", HOST_B_URI, "list", "--all"],
            ],
        );
        assert.deepEqual(startedWhenAnswered, [2, 2], "both hosts were asked before either answered");
        assert.deepEqual(listing.states, {
            director: "running",
            director2: "running",
            web1: "running",
            web2: "missing",
            web3: "running",
            web4: "shut off",
            nfs: "running",
        });
        assert.deepEqual(listing.unanswered, []);
    });

    it("a host that does not answer makes only its own machines unknown, and is named", async () => {
        const { io } = recordingIo((call) =>
            call.argv.includes(HOST_B_URI)
                ? { code: 1, stderr: "error: failed to connect to the hypervisor\nerror: Cannot recv data: Connection reset by peer" }
                : { stdout: LIST_A },
        );
        const listing = await listDomains(topology, io.command);
        assert.deepEqual(listing.states, {
            director: "running",
            director2: "unknown",
            web1: "running",
            web2: "missing",
            web3: "unknown",
            web4: "unknown",
            nfs: "running",
        });
        assert.equal(listing.unanswered.length, 1);
        assert.equal(listing.unanswered[0].host, "b");
        assert.match(listing.unanswered[0].error, /Cannot recv data: Connection reset by peer/);
        const lines = nodeListLines(topology, listing);
        assert.match(
            lines[1],
            /^director2 +unknown +director \(BACKUP\) +public 172\.16\.16\.174, storage 192\.168\.7\.174 {2}\(domain lvslab-k3x9-director2 on host b\)$/,
        );
        assert.match(lines[7], /^host b did not answer, so its machines are unknown: .*Connection reset by peer/);
    });

    it("node list of a one-host lab reads as before: no host named", () => {
        const one = topologyFromOutputs(seedOutputs(), "dev");
        const states = Object.fromEntries(one.machines.map((m) => [m.name, "running"]));
        assert.equal(
            nodeListLines(one, { states, unanswered: [] })[0],
            "director   running    director (single)    public 172.16.16.173, storage 192.168.7.173  (domain lvslab-k3x9-director)",
        );
    });

    it("gatherLive asks each host for its machines but the gateway alone for the networks", async () => {
        const { io, calls } = recordingIo((call) =>
            call.argv[0] === "ssh" ? { code: 255, stderr: "ssh: connect to host 172.16.16.173 port 22: No route to host" } : { stdout: "" },
        );
        const live = await gatherLive(topology, io.command);
        const dumps = calls.filter((c) => c.argv.includes("net-dumpxml"));
        assert.equal(dumps.length, 2);
        assert.ok(dumps.every((c) => c.argv.includes("qemu:///system")));
        assert.equal(calls.filter((c) => c.argv.includes("list")).length, 2);
        assert.deepEqual(Object.keys(live.directors), ["director", "director2"]);
        assert.deepEqual(live.unansweredHosts, []);
    });

    it("finds a machine's tap, stops it and opens its console on its own host", async () => {
        const tap = recordingIo(() => ({ stdout: " vnet3   network   lvslab-k3x9-public   virtio   52:54:00:01:10:b3\n" }));
        assert.equal(await tapOfNic(web3, nicOf(web3, "public"), tap.io.command), "vnet3");
        assert.deepEqual(tap.calls[0].argv, ["virsh", "-q", "-c", HOST_B_URI, "domiflist", "lvslab-k3x9-web3"]);

        const stop = recordingIo((call) => (call.argv.includes("domstate") ? { stdout: "running\n" } : undefined));
        await stopMachine(web3, true, 10, stop.io);
        assert.deepEqual(
            stop.calls.map((c) => c.argv),
            [
                ["virsh", "-q", "-c", HOST_B_URI, "domstate", "lvslab-k3x9-web3"],
                ["virsh", "-q", "-c", HOST_B_URI, "destroy", "lvslab-k3x9-web3"],
            ],
        );
        assert.deepEqual(stop.out, ["web3 powered off\n"]);
        assert.deepEqual(consoleArgs(web3), ["-c", HOST_B_URI, "console", "--force", "lvslab-k3x9-web3"]);
        assert.deepEqual(consoleArgs(web1), ["-c", "qemu:///system", "console", "--force", "lvslab-k3x9-web1"]);
    });
});

describe("capture on a machine of another host", () => {
    it("the host-side command lines: record into the host's /tmp, read there, copy as base64, remove", () => {
        const file = remoteCaptureFile("web3", "public", "1764500000000-4242");
        assert.equal(file, "/tmp/lvslab-capture-web3-public-1764500000000-4242.pcap");
        assert.equal(remoteCaptureFile("we b'3", "public", "1"), "/tmp/lvslab-capture-we_b_3-public-1.pcap");
        assert.deepEqual(recordArgv({ device: "vnet3", file, seconds: 5, filter: ["tcp", "port", "80"] }), [
            "timeout",
            "--signal=INT",
            "--kill-after=5",
            "5",
            "tcpdump",
            "-i",
            "vnet3",
            "-n",
            "-U",
            "-Z",
            "root",
            "-w",
            file,
            "tcp",
            "port",
            "80",
        ]);
        assert.deepEqual(readArgv(file), ["tcpdump", "-r", file, "-nn", "-e", "-q"]);
        assert.deepEqual(copyBackArgv(file), ["base64", file]);
        assert.deepEqual(removeArgv(file), ["rm", "-f", file]);
    });

    // On web3's public tap on host b: STP from b's bridge, and a request for the VIP from the director.
    const ON_WEB3 = `21:28:28.087458 52:54:00:bb:00:01 > 01:80:c2:00:00:00, 802.3, length 38: LLC, dsap STP (0x42) Individual, ssap STP (0x42) Command, ctrl 0x03: STP 802.1d, Config, Flags [none], bridge-id 8000.52:54:00:bb:00:01.8001, length 35
21:28:31.685272 52:54:00:01:10:ad > 52:54:00:01:10:b3, IPv4, length 74: 172.16.16.1.45084 > 172.16.16.172.80: tcp 0`;
    const PCAP = Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0xff, 0x00]);

    function hostB(copyFails = false): ReturnType<typeof recordingIo> {
        return recordingIo((call) => {
            const [program] = call.argv;
            if (call.where === "here") {
                // virsh net-dumpxml: each network's bridge, the same name on every host.
                const bridge = call.argv.includes("lvslab-k3x9-public") ? "lvk3x9-p" : "lvk3x9-s";
                return { stdout: `<network><name>x</name><bridge name='${bridge}' stp='on' delay='0'/></network>` };
            }
            if (program === "timeout") {
                return { code: 124, stderr: "tcpdump: listening on vnet3\n2 packets captured\n2 packets received by filter\n0 packets dropped by kernel\n" };
            }
            if (program === "tcpdump") {
                return { stdout: `${ON_WEB3}\n` };
            }
            if (program === "base64") {
                return copyFails ? { code: 1, stderr: "base64: write error: No space left on device" } : { stdout: `${PCAP.toString("base64")}\n` };
            }
            if (program === "cat") {
                return { stdout: call.argv[1].includes("lvk3x9-p") ? "52:54:00:bb:00:01\n" : "52:54:00:bb:00:02\n" };
            }
            return undefined;
        });
    }

    it("runs tcpdump on the machine's host, reads it there, copies the file here and removes it there", async () => {
        const { io, calls, out, err } = hostB();
        const file = path.join(scratch.dir, "web3.pcap");
        const code = await capture(topology, web3, "public", "vnet3", { seconds: 5, file, filter: ["tcp", "port", "80"] }, io);
        assert.equal(code, 0);
        const onHost = calls.filter((c) => c.where !== "here");
        assert.ok(
            onHost.every((c) => c.where === HOST_B_URI),
            "every host-side command ran on host b",
        );
        const [recorded, read, copied] = onHost.filter((c) => ["timeout", "tcpdump", "base64"].includes(c.argv[0]));
        const remote = recorded.argv[recorded.argv.indexOf("-w") + 1];
        assert.match(remote, /^\/tmp\/lvslab-capture-web3-public-\d+-\d+\.pcap$/);
        assert.deepEqual(recorded.argv, recordArgv({ device: "vnet3", file: remote, seconds: 5, filter: ["tcp", "port", "80"] }));
        assert.deepEqual(read.argv, readArgv(remote));
        assert.deepEqual(copied.argv, copyBackArgv(remote));
        assert.deepEqual(onHost[onHost.length - 1].argv, removeArgv(remote), "removed last");
        assert.deepEqual(fs.readFileSync(file), PCAP);
        assert.match(err.join(""), /^capturing on web3 public \(tap vnet3 on host b\) for 5 s, filter "tcp port 80"\.\.\.\n$/);
        const text = out.join("");
        assert.match(
            text,
            new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: web3 public NIC \\(tap vnet3 on host b\\), 5 s \\(tcpdump: 2 packets captured`),
        );
        assert.match(text, /1 {2}host b \(public bridge lvk3x9-p\) > 01:80:c2:00:00:00: LLC/);
        assert.match(text, /to the VIP 172\.16\.16\.172: 1 frames\n +1 {2}director public > web3 public/);
    });

    it("when the copy fails, the summary is still shown and the file is left on the host, named", async () => {
        const { io, calls, err } = hostB(true);
        const code = await capture(topology, web3, "public", "vnet3", { seconds: 5, file: path.join(scratch.dir, "lost.pcap"), filter: [] }, io);
        assert.equal(code, 1);
        assert.equal(
            calls.some((c) => c.argv[0] === "rm"),
            false,
        );
        assert.match(
            err.join(""),
            /copying the capture here failed \(base64 .* on host b failed \(exit 1\): base64: write error.*\); it is still on host b at \/tmp\/lvslab-capture-web3-public-/,
        );
        assert.equal(fs.existsSync(path.join(scratch.dir, "lost.pcap")), false);
    });

    it("says so when host b cannot be reached over ssh", async () => {
        const { io } = recordingIo((call) =>
            call.argv[0] === "timeout" ? { code: 255, stderr: "ssh: connect to host 10.255.0.2 port 22: Connection refused" } : undefined,
        );
        await assert.rejects(
            capture(topology, web3, "public", "vnet3", { seconds: 5, file: path.join(scratch.dir, "x.pcap"), filter: [] }, io),
            /tcpdump on vnet3 on host b failed \(exit 255\): host b not reached over ssh \(qemu\+ssh:\/\/root@10\.255\.0\.2\/system.*\): ssh: connect to host 10\.255\.0\.2 port 22: Connection refused/,
        );
    });

    it("refuses a host whose libvirt URI is neither local nor qemu+ssh, before running anything", async () => {
        assert.equal(hostRunRefusal("qemu:///system"), undefined);
        assert.equal(hostRunRefusal(HOST_B_URI), undefined);
        assert.match(
            hostRunRefusal("qemu+tcp://b/system") ?? "",
            /qemu\+tcp:\/\/b\/system is neither local nor qemu\+ssh, so tcpdump, tc and nft cannot be run/,
        );
        await assert.rejects(realHostRunner("qemu+tls://b/system", ["tc", "qdisc", "show"], {}), /neither local nor qemu\+ssh/);
    });
});

describe("impair on a machine of another host", () => {
    it("runs tc and nft on the machine's host (the ruleset on ssh's standard input), netem in the guest from here", async () => {
        const { io, calls } = recordingIo((call) => {
            const words = call.argv.join(" ");
            if (call.where === "here") {
                return { stdout: "eth0\nqdisc fq_codel 0: root refcnt 2\n" };
            }
            if (words.startsWith("nft delete")) {
                return { code: 1, stderr: "Error: Could not process rule: No such file or directory" };
            }
            if (words.startsWith("tc qdisc del")) {
                return { code: 2, stderr: "Error: Cannot delete qdisc with handle of zero." };
            }
            if (words.includes(" netem ")) {
                return { code: 2, stderr: "Error: Specified qdisc kind is unknown." };
            }
            return undefined;
        });
        const link: Link = { topology, machine: web3, nic: nicOf(web3, "public"), device: "vnet3", io };
        await applyImpairment(link, { delayMs: 50, lossPercent: 10, rate: "1mbit" });
        const onHost = calls.filter((c) => c.where !== "here");
        assert.ok(onHost.every((c) => c.where === HOST_B_URI));
        assert.deepEqual(
            onHost.map((c) => c.argv),
            [
                ["nft", "delete", "table", "bridge", "lvslab_impair_vnet3"],
                ["tc", "qdisc", "del", "dev", "vnet3", "root"],
                ["tc", "qdisc", "replace", "dev", "vnet3", "root", "netem", "delay", "50ms", "loss", "10%", "rate", "1mbit"],
                ["tc", "qdisc", "replace", "dev", "vnet3", "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms"],
                ["nft", "-f", "-"],
            ],
        );
        assert.equal(onHost[4].input, dropRuleset("vnet3", 10));
        const guest = calls.filter((c) => c.where === "here");
        assert.ok(guest.every((c) => c.argv[0] === "ssh" && c.argv.includes("lab@172.16.16.179")));
        assert.match(guest[guest.length - 1].argv[guest[guest.length - 1].argv.length - 1], /tc qdisc replace dev "\$dev" root netem delay 50ms$/);
    });

    it("shows and clears on that host, naming it; a machine of the gateway host stays on this one", async () => {
        const { io, calls } = recordingIo((call) => {
            const words = call.argv.join(" ");
            if (call.where === "here") {
                return { stdout: "eth0\nqdisc fq_codel 0: root refcnt 2\n" };
            }
            if (words.startsWith("tc -s qdisc show")) {
                return { stdout: "qdisc tbf 8001: root refcnt 2 rate 1Mbit burst 4Kb lat 400ms\n" };
            }
            return undefined;
        });
        const shown = await showLink({ topology, machine: web3, nic: nicOf(web3, "public"), device: "vnet3", io });
        assert.match(shown, /^web3 public \(tap vnet3 on host b\) tap: qdisc tbf 8001/);
        const removed = await clearLink({ topology, machine: web1, nic: nicOf(web1, "public"), device: "vnet5", io }, { inGuest: false });
        assert.deepEqual(removed, ["the drop rule (nftables)", "the tap's qdisc"]);
        assert.deepEqual(
            calls.filter((c) => c.where !== "here").map((c) => [c.where, c.argv[0], c.argv.some((word) => word.endsWith("vnet5")) ? "web1" : "web3"]),
            [
                [HOST_B_URI, "tc", "web3"],
                [HOST_B_URI, "nft", "web3"],
                ["qemu:///system", "nft", "web1"],
                ["qemu:///system", "tc", "web1"],
            ],
        );
    });
});

describe("what the spread lab's drawing, page and inventory say", () => {
    const live = { ...seedLive(), domainStates: { ...seedLive().domainStates, director2: "running" } };
    const model = graphModel(topology, live, "spread");

    it("the drawing says which host runs each machine; a one-host lab's drawing says nothing of hosts", () => {
        assert.equal(model.directors.find((d) => d.name === "director2")?.host, "b");
        assert.equal(model.nfs.host, "a");
        assert.match(renderDot(model), /"machine:web3" \[label="web3\\nshut off on host b\\npublic 172\.16\.16\.179/);
        assert.match(renderMermaid(model), /machine_director2\["director2 \(BACKUP\)<br\/>running on host b<br\/>/);
        const one = graphModel(topologyFromOutputs(seedOutputs(), "dev"), seedLive(), "dev");
        assert.doesNotMatch(renderDot(one), /on host/);
        assert.equal(one.realServers[0].host, undefined);
    });

    it("the page's table has a host column", () => {
        const table = serverTable(model);
        assert.match(table, /<th>libvirt<\/th><th>host<\/th><th>director<\/th>/);
        assert.match(table, /<tr><td>web3<\/td><td>shut off<\/td><td>b<\/td><td>director<\/td>/);
    });

    it("the Ansible inventory gives each machine its host", () => {
        const inventory = renderAnsibleInventory(topology, "spread", "/tmp/ssh_config");
        assert.match(inventory, /^director2 ansible_host=172\.16\.16\.174 .* lab_host=b lvs_role=BACKUP$/m);
        assert.match(inventory, /^nfs ansible_host=192\.168\.7\.250 storage_ip=192\.168\.7\.250 lab_host=a$/m);
        assert.doesNotMatch(renderAnsibleInventory(topologyFromOutputs(seedOutputs(), "dev"), "dev", "/tmp/ssh_config"), /lab_host/);
    });
});
