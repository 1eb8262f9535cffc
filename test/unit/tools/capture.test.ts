import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseFrame, renderSummary, summarizeFrames, tapOf, tcpdumpArgs } from "../../../scripts/tools/capture";
import { machineNamed, macOwners, nicOf, topologyFromOutputs } from "../../../scripts/tools/topology";
import { seedOutputs } from "./fixtures";

const topology = topologyFromOutputs(seedOutputs(), "dev");
const web1 = machineNamed(topology, "web1");

// `tcpdump -r FILE -nn -e -q` on web1's public tap while the lab host fetched
// the VIP (a real lab, 2026-11-29; 52:54:00:dc:ef:bf is the public bridge).
const ON_WEB1 = `21:28:28.087458 fe:54:00:01:10:b1 > 01:80:c2:00:00:00, 802.3, length 38: LLC, dsap STP (0x42) Individual, ssap STP (0x42) Command, ctrl 0x03: STP 802.1d, Config, Flags [none], bridge-id 8000.52:54:00:dc:ef:bf.8001, length 35
21:28:31.685272 52:54:00:01:10:ad > 52:54:00:01:10:b1, IPv4, length 74: 172.16.16.1.45084 > 172.16.16.172.80: tcp 0
21:28:31.686434 52:54:00:01:10:b1 > 52:54:00:dc:ef:bf, IPv4, length 74: 172.16.16.172.80 > 172.16.16.1.45084: tcp 0
21:28:31.687002 52:54:00:01:10:ad > 52:54:00:01:10:b1, IPv4, length 66: 172.16.16.1.45084 > 172.16.16.172.80: tcp 0
21:28:31.687911 52:54:00:01:10:b1 > 52:54:00:dc:ef:bf, IPv4, length 66: 172.16.16.172.80 > 172.16.16.1.45084: tcp 0
21:28:36.693621 52:54:00:01:10:ad > 52:54:00:01:10:b1, ARP, length 42: Request who-has 172.16.16.177 tell 172.16.16.173, length 28`;

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
        assert.deepEqual(tcpdumpArgs({ device: "vnet6", file: "/tmp/c.pcap", seconds: 5, filter: ["tcp", "port", "80"] }), [
            "-i",
            "vnet6",
            "-n",
            "-U",
            "-Z",
            "root",
            "-w",
            "/tmp/c.pcap",
            "tcp",
            "port",
            "80",
        ]);
    });

    it("reads tcpdump's lines: MACs, addresses and ports, ARP", () => {
        const frame = parseFrame(ON_WEB1.split("\n")[1]);
        assert.deepEqual(frame, {
            sourceMac: "52:54:00:01:10:ad",
            destinationMac: "52:54:00:01:10:b1",
            etherType: "IPv4",
            sourceIp: "172.16.16.1",
            sourcePort: 45084,
            destinationIp: "172.16.16.172",
            destinationPort: 80,
            what: "tcp",
        });
        assert.equal(parseFrame(ON_WEB1.split("\n")[5])?.what, "ARP Request who-has 172.16.16.177 tell 172.16.16.173");
        assert.equal(parseFrame(ON_WEB1.split("\n")[0])?.etherType, "802.3");
        const long = parseFrame(
            "21:28:31.685272 52:54:00:01:10:ad > 52:54:00:01:10:b1, ethertype IPv4 (0x0800), length 74: 172.16.16.1.45084 > 172.16.16.172.80: Flags [S], seq 1, length 0",
        );
        assert.equal(long?.destinationPort, 80);
        assert.equal(parseFrame("reading from file x.pcap, link-type EN10MB (Ethernet)"), undefined);
    });

    it("shows direct routing on a real server's link: the VIP's frames arrive from the director with web1's MAC, replies leave from the VIP", () => {
        const owners = new Map([...macOwners(topology), ["52:54:00:dc:ef:bf", "lab host (public bridge lvk3x9-p)"]]);
        const frames = ON_WEB1.split("\n")
            .map(parseFrame)
            .filter((f) => f !== undefined);
        const summary = summarizeFrames(frames, owners, "172.16.16.172");
        assert.equal(summary.frames, 6);
        assert.deepEqual(summary.toVip, [{ text: "director public > web1 public", frames: 2 }]);
        assert.deepEqual(summary.fromVip, [{ text: "web1 public > lab host (public bridge lvk3x9-p)", frames: 2 }]);
        const text = renderSummary(summary, "172.16.16.172");
        assert.match(text, /^6 frames\n/);
        assert.match(text, /2 {2}director public > web1 public: 172\.16\.16\.1 > 172\.16\.16\.172:80 tcp/);
        assert.match(text, /2 {2}web1 public > lab host \(public bridge lvk3x9-p\): 172\.16\.16\.172:80 > 172\.16\.16\.1 tcp/);
        assert.match(text, /1 {2}director public > web1 public: ARP Request who-has 172\.16\.16\.177 tell 172\.16\.16\.173/);
    });

    it("says so when nothing went to or from the VIP", () => {
        assert.match(renderSummary(summarizeFrames([], new Map(), "172.16.16.172"), "172.16.16.172"), /to the VIP 172\.16\.16\.172: 0 frames \(none\)/);
    });
});
