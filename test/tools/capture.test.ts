import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseFrame, renderSummary, summarizeFrames, tapOf, tcpdumpArgs } from "../../scripts/tools/capture";
import { machineNamed, macOwners, nicOf, topologyFromOutputs } from "../../scripts/tools/topology";
import { seedOutputs } from "./fixtures";

const topology = topologyFromOutputs(seedOutputs(), "dev");
const web1 = machineNamed(topology, "web1");

// `tcpdump -r FILE -nn -e -q` on web1's public tap while a client fetched the VIP.
const ON_WEB1 = `20:31:02.100001 52:54:00:01:10:ad > 52:54:00:01:10:b1, ethertype IPv4 (0x0800), length 74: 172.16.16.1.41920 > 172.16.16.172.80: tcp 0
20:31:02.100301 52:54:00:01:10:b1 > 52:54:00:9a:3c:01, ethertype IPv4 (0x0800), length 74: 172.16.16.172.80 > 172.16.16.1.41920: tcp 0
20:31:02.100502 52:54:00:01:10:ad > 52:54:00:01:10:b1, ethertype IPv4 (0x0800), length 66: 172.16.16.1.41920 > 172.16.16.172.80: tcp 0
20:31:02.101001 52:54:00:01:10:b1 > 52:54:00:9a:3c:01, ethertype IPv4 (0x0800), length 66: 172.16.16.172.80 > 172.16.16.1.41920: tcp 0
20:31:03.000000 52:54:00:9a:3c:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 172.16.16.177 tell 172.16.16.1, length 28
`;

describe("capture on a machine's link", () => {
    it("finds the tap by the NIC's MAC", () => {
        const rows = [
            { device: "vnet7", type: "network", source: "lvslab-k3x9-storage", model: "virtio", mac: "52:54:00:02:07:b1" },
            { device: "vnet6", type: "network", source: "lvslab-k3x9-public", model: "virtio", mac: "52:54:00:01:10:b1" },
        ];
        assert.equal(tapOf(web1, nicOf(web1, "public"), rows), "vnet6");
        assert.equal(tapOf(web1, nicOf(web1, "storage"), rows), "vnet7");
    });

    it("refuses a machine that is off: no tap, and says how to start it", () => {
        const rows = [{ device: "-", type: "network", source: "lvslab-k3x9-public", model: "virtio", mac: "52:54:00:01:10:b1" }];
        assert.throws(() => tapOf(web1, nicOf(web1, "public"), rows), /web1 is not running.*scripts\/lab node start web1/);
    });

    it("runs tcpdump numeric, packet-buffered, as root, with the filter words last", () => {
        assert.deepEqual(tcpdumpArgs({ device: "vnet6", file: "/tmp/c.pcap", seconds: 5, filter: ["tcp", "port", "80"] }), ["-i", "vnet6", "-n", "-U", "-Z", "root", "-w", "/tmp/c.pcap", "tcp", "port", "80"]);
    });

    it("reads tcpdump's lines: MACs, addresses and ports, ARP", () => {
        const frame = parseFrame(ON_WEB1.split("\n")[0]);
        assert.deepEqual(frame, { sourceMac: "52:54:00:01:10:ad", destinationMac: "52:54:00:01:10:b1", etherType: "IPv4", sourceIp: "172.16.16.1", sourcePort: 41920, destinationIp: "172.16.16.172", destinationPort: 80, what: "tcp" });
        assert.equal(parseFrame(ON_WEB1.split("\n")[4])?.what, "ARP Request who-has 172.16.16.177 tell 172.16.16.1");
        assert.equal(parseFrame("reading from file x.pcap, link-type EN10MB (Ethernet)"), undefined);
    });

    it("shows direct routing on a real server's link: the VIP's frames arrive from the director with web1's MAC, replies leave from the VIP", () => {
        const owners = new Map([...macOwners(topology), ["52:54:00:9a:3c:01", "lab host (public bridge lvk3x9-p)"]]);
        const frames = ON_WEB1.split("\n").map(parseFrame).filter((f) => f !== undefined);
        const summary = summarizeFrames(frames, owners, "172.16.16.172");
        assert.equal(summary.frames, 5);
        assert.deepEqual(summary.toVip, [{ text: "director public > web1 public", frames: 2 }]);
        assert.deepEqual(summary.fromVip, [{ text: "web1 public > lab host (public bridge lvk3x9-p)", frames: 2 }]);
        const text = renderSummary(summary, "172.16.16.172");
        assert.match(text, /^5 frames\n/);
        assert.match(text, /2 {2}director public > web1 public: 172\.16\.16\.1 > 172\.16\.16\.172:80 tcp/);
        assert.match(text, /2 {2}web1 public > lab host \(public bridge lvk3x9-p\): 172\.16\.16\.172:80 > 172\.16\.16\.1 tcp/);
        assert.match(text, /1 {2}lab host \(public bridge lvk3x9-p\) > broadcast: ARP Request who-has 172\.16\.16\.177/);
    });

    it("says so when nothing went to or from the VIP", () => {
        assert.match(renderSummary(summarizeFrames([], new Map(), "172.16.16.172"), "172.16.16.172"), /to the VIP 172\.16\.16\.172: 0 frames \(none\)/);
    });
});
