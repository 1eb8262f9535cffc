// The pieces of the libvirt layer a lab on several hosts adds: reaching a
// host's shell the way libvirt's qemu+ssh does, the VXLAN tunnel's checks,
// diff and readers of `ip`/`bridge` JSON, and a network with an MTU and no
// host address.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { shellQuote, sshRouteOf } from "../../../components/libvirt";
import { checkNetwork } from "../../../components/libvirt";
import { UNKNOWN } from "../../../components/libvirt";
import { checkVxlanTunnel, diffVxlanTunnel, parseFloodTargets, parseIpLink, VxlanTunnelInputs } from "../../../components/libvirt";
import { checkDomain } from "../../../components/libvirt";
import { renderDomainXml, renderNetworkXml, xmlAttr } from "../../../components/libvirt";

describe("reaching a libvirt host's shell", () => {
    it("runs nothing through ssh for a local URI", () => {
        assert.equal(sshRouteOf("qemu:///system"), undefined);
        assert.equal(sshRouteOf("qemu:///system?socket=/run/x/libvirt-sock"), undefined);
        assert.equal(sshRouteOf("qemu+tcp://host/system"), undefined);
    });

    it("takes user, host, port, key file, ssh command and no_verify from a qemu+ssh URI, as libvirt does", () => {
        assert.deepEqual(sshRouteOf("qemu+ssh://root@10.255.0.2:2222/system?keyfile=/k/id&no_verify=1&command=/usr/local/bin/labssh"), {
            file: "/usr/local/bin/labssh",
            args: [
                "-T",
                "-e",
                "none",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=15",
                "-p",
                "2222",
                "-l",
                "root",
                "-i",
                "/k/id",
                "-o",
                "StrictHostKeyChecking=no",
                "--",
                "10.255.0.2",
            ],
        });
        assert.deepEqual(sshRouteOf("qemu+ssh://host-b/system")?.args.slice(-2), ["--", "host-b"]);
        assert.equal(sshRouteOf("qemu+ssh://host-b/system")?.file, "ssh");
    });

    it("quotes words for the remote shell only where they need it", () => {
        assert.equal(shellQuote("00:00:00:00:00:00"), "00:00:00:00:00:00");
        assert.equal(shellQuote("/var/log/libvirt/qemu/a b.log"), "'/var/log/libvirt/qemu/a b.log'");
        assert.equal(shellQuote("it's"), `'it'\\''s'`);
    });
});

const tunnel: VxlanTunnelInputs = {
    connectionUri: "qemu:///system",
    deviceName: "lvab12cd-vp",
    bridgeName: "lvab12cd-p",
    vni: 1616,
    localAddress: "10.255.0.1",
    remoteAddresses: ["10.255.0.2"],
    port: 4789,
    mtu: 1450,
    networkUuid: "u1",
};

describe("the VXLAN tunnel", () => {
    const props = (failures: { property: string }[]): string[] => failures.map((f) => f.property).sort();

    it("accepts a tunnel and fills in the IANA port", () => {
        const r = checkVxlanTunnel({ ...tunnel, port: undefined as unknown as number });
        assert.deepEqual(r.failures, []);
        assert.equal(r.inputs.port, 4789);
    });

    it("refuses a long device name, a VNI beyond 24 bits, a bad endpoint, an empty or self-including remote list", () => {
        assert.deepEqual(props(checkVxlanTunnel({ ...tunnel, deviceName: "much-too-long-name" }).failures), ["deviceName"]);
        assert.deepEqual(props(checkVxlanTunnel({ ...tunnel, vni: 16777216 }).failures), ["vni"]);
        assert.deepEqual(props(checkVxlanTunnel({ ...tunnel, localAddress: "host-a" }).failures), ["localAddress"]);
        assert.deepEqual(props(checkVxlanTunnel({ ...tunnel, remoteAddresses: [] }).failures), ["remoteAddresses"]);
        assert.match(checkVxlanTunnel({ ...tunnel, remoteAddresses: ["10.255.0.1"] }).failures[0].reason, /own endpoint/);
    });

    it("passes unknown values in a preview", () => {
        assert.deepEqual(checkVxlanTunnel({ ...tunnel, bridgeName: UNKNOWN, deviceName: UNKNOWN }).failures, []);
    });

    it("is made anew only for another device or host; remotes, MTU, bridge and a new network are put right in place", () => {
        const olds = { ...tunnel, attached: true };
        assert.deepEqual(diffVxlanTunnel(olds, { ...tunnel }), { changes: false, replaces: [], deleteBeforeReplace: false });
        assert.deepEqual(diffVxlanTunnel(olds, { ...tunnel, deviceName: "lvzz-vp" }), { changes: true, replaces: ["deviceName"], deleteBeforeReplace: true });
        for (const change of [{ remoteAddresses: ["10.255.0.2", "10.255.0.3"] }, { mtu: 8950 }, { networkUuid: "u2" }, { vni: 7 }]) {
            const d = diffVxlanTunnel(olds, { ...tunnel, ...change });
            assert.deepEqual(d, { changes: true, replaces: [], deleteBeforeReplace: false }, JSON.stringify(change));
        }
    });

    it("is attached again when a refresh found it off its bridge", () => {
        assert.equal(diffVxlanTunnel({ ...tunnel, attached: false }, { ...tunnel }).changes, true);
    });

    it("reads the device from `ip -details -json link show`", () => {
        const json = JSON.stringify([
            {
                ifname: "lvab12cd-vp",
                flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
                mtu: 1450,
                master: "lvab12cd-p",
                linkinfo: { info_kind: "vxlan", info_data: { id: 1616, local: "10.255.0.1", port: 4789 } },
            },
        ]);
        assert.deepEqual(parseIpLink(json), { kind: "vxlan", vni: 1616, localAddress: "10.255.0.1", port: 4789, mtu: 1450, master: "lvab12cd-p", up: true });
        assert.equal(parseIpLink("[]"), undefined);
        assert.equal(parseIpLink("not json"), undefined);
    });

    it("reads the flood list (the all-zero entries) from `bridge -json fdb show`", () => {
        const json = JSON.stringify([
            { mac: "00:00:00:00:00:00", dst: "10.255.0.2", flags: ["self", "permanent"] },
            { mac: "52:54:00:10:b1:b1", dst: "10.255.0.2", flags: ["self"] },
            { mac: "00:00:00:00:00:00", dst: "10.255.0.3", flags: ["self", "permanent"] },
            { mac: "62:43:2e:6f:b8:2e", master: "lvab12cd-p", state: "permanent" },
        ]);
        assert.deepEqual(parseFloodTargets(json), ["10.255.0.2", "10.255.0.3"]);
    });
});

describe("a network on a host other than the gateway", () => {
    it("is a bridge with the lowered MTU and no address of the host on it", () => {
        const xml = renderNetworkXml({ name: "lab-public", bridgeName: "lvab12cd-p", mode: "isolated", mtu: 1450 });
        assert.equal(xmlAttr(xml, "mtu", "size"), "1450");
        assert.doesNotMatch(xml, /<ip\b/);
        assert.doesNotMatch(xml, /<forward\b/);
    });

    it("has no <mtu> unless one is given, as before", () => {
        assert.doesNotMatch(renderNetworkXml({ name: "n", bridgeName: "b", mode: "nat", hostAddress: "10.0.0.1", prefixLength: 24 }), /<mtu/);
    });

    it("may leave out the host address only when isolated: NAT needs its gateway", () => {
        const base = { connectionUri: "qemu:///system", name: "n", bridgeName: "b" };
        assert.deepEqual(checkNetwork({ ...base, mode: "isolated", mtu: 1450 }).failures, []);
        assert.deepEqual(
            checkNetwork({ ...base, mode: "nat" }).failures.map((f) => f.property),
            ["hostAddress"],
        );
        assert.deepEqual(
            checkNetwork({ ...base, mode: "isolated", mtu: 20 }).failures.map((f) => f.property),
            ["mtu"],
        );
    });
});

describe("a guest NIC with an MTU", () => {
    const domain = {
        name: "lab-web3",
        domainType: "qemu" as const,
        vcpus: 1,
        memoryMiB: 512,
        diskPath: "/pool/lab-web3.qcow2",
        diskFormat: "qcow2",
        consoleLogPath: "/var/log/lab-web3-console.log",
        cpuModel: "qemu64",
    };

    it("says so in the interface, which qemu passes to the virtio guest; none without one, as before", () => {
        const withMtu = renderDomainXml({ ...domain, nics: [{ network: "lab-public", mac: "52:54:00:01:10:b1", mtu: 1450 }] });
        assert.match(withMtu, /<model type='virtio'\/>\n {6}<mtu size='1450'\/>\n {4}<\/interface>/);
        assert.doesNotMatch(renderDomainXml({ ...domain, nics: [{ network: "lab-public", mac: "52:54:00:01:10:b1" }] }), /<mtu/);
    });

    it("keeps the MTU through the domain's check, and refuses a nonsense one", () => {
        const ok = checkDomain({ ...domain, connectionUri: "qemu:///system", nics: [{ network: "n", mac: "52:54:00:01:10:B1", mtu: 1450 }] });
        assert.deepEqual(ok.failures, []);
        assert.deepEqual(ok.inputs.nics, [{ network: "n", mac: "52:54:00:01:10:b1", mtu: 1450 }]);
        const bad = checkDomain({ ...domain, connectionUri: "qemu:///system", nics: [{ network: "n", mac: "52:54:00:01:10:b1", mtu: 9 }] });
        assert.deepEqual(
            bad.failures.map((f) => f.property),
            ["nics[0].mtu"],
        );
    });
});
