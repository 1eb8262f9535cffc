// One lab on several libvirt hosts, as configuration: the hosts list, where
// each machine runs, and how the networks are joined (components/config.ts).
// The default stays one host with every machine on it; what cannot work is
// refused naming the key and the fix.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { accepted, assertProblem, refused, SEED_RAW } from "../helpers/seed";

const TWO_HOSTS = JSON.stringify([
    { name: "a", uri: "qemu:///system", vxlanAddress: "10.255.0.1" },
    { name: "b", uri: "qemu+ssh://root@10.255.0.2/system", vxlanAddress: "10.255.0.2" },
]);
const SPLIT = { ...SEED_RAW, hosts: TWO_HOSTS, placement: JSON.stringify({ web3: "b", web4: "b" }) };

describe("hosts and placement: the default", () => {
    it("runs every machine on one host at libvirtUri and joins nothing", () => {
        const config = accepted({ ...SEED_RAW, libvirtUri: "qemu+ssh://root@lab/system" });
        assert.deepEqual(config.hosts, [{ name: "local", uri: "qemu+ssh://root@lab/system" }]);
        assert.equal(config.libvirtUri, "qemu+ssh://root@lab/system");
        assert.ok(Object.values(config.placement).every((host) => host === "local"));
        assert.equal(config.spread, undefined);
    });

    it("uses only the first host when placement sends nothing elsewhere: the lab is exactly a one-host lab there", () => {
        const config = accepted({ ...SEED_RAW, hosts: TWO_HOSTS });
        assert.deepEqual(
            config.hosts.map((host) => host.name),
            ["a"],
        );
        assert.equal(config.libvirtUri, "qemu:///system");
        assert.equal(config.spread, undefined);
    });
});

describe("hosts and placement: a lab spread over two hosts", () => {
    it("places each listed machine on its host, the rest on the first (the gateway host)", () => {
        const config = accepted(SPLIT);
        assert.deepEqual(config.placement, { director: "a", nfs: "a", web1: "a", web2: "a", web3: "b", web4: "b" });
        assert.deepEqual(
            config.hosts.map((host) => host.name),
            ["a", "b"],
        );
    });

    it("joins each network with its own VNI on UDP 4789 and lowers the MTU by VXLAN's 50 bytes", () => {
        assert.deepEqual(accepted(SPLIT).spread, { vnis: { public: 1616, storage: 1687 }, port: 4789, mtu: 1450 });
        assert.deepEqual(accepted({ ...SPLIT, underlayMtu: "9000", vxlanPort: "8472", vxlanPublicVni: "7", vxlanStorageVni: "8" }).spread, {
            vnis: { public: 7, storage: 8 },
            port: 8472,
            mtu: 8950,
        });
    });

    it("keeps the gateway host when it runs no machine, and drops hosts that run none", () => {
        const hosts = JSON.stringify([...JSON.parse(TWO_HOSTS), { name: "c", uri: "qemu+ssh://root@c/system" }]);
        const config = accepted({ ...SEED_RAW, hosts, placement: JSON.stringify({ director: "b", nfs: "b", web1: "b", web2: "b", web3: "b", web4: "b" }) });
        assert.deepEqual(
            config.hosts.map((host) => host.name),
            ["a", "b"],
        );
    });

    it("puts the second director on another host like any machine", () => {
        const config = accepted({ ...SPLIT, directors: "2", placement: JSON.stringify({ director2: "b" }) });
        assert.equal(config.placement.director2, "b");
        assert.equal(config.placement.director, "a");
    });
});

describe("hosts and placement: what cannot work is refused, naming the key and the fix", () => {
    it("refuses a machine placed on a host that is not listed", () => {
        assertProblem(
            refused({ ...SPLIT, placement: JSON.stringify({ web3: "c" }) }),
            "placement.web3",
            '"c" is not one of the hosts (a, b)',
            "add the host to hosts",
        );
    });

    it("refuses placement of a machine that does not exist", () => {
        assertProblem(
            refused({ ...SPLIT, placement: JSON.stringify({ web9: "b" }) }),
            "placement.web9",
            'no machine "web9"',
            "director, nfs, web1, web2, web3, web4",
        );
    });

    it("refuses a host without a VXLAN address once machines are split, and the gateway host without one", () => {
        const hosts = JSON.stringify([
            { name: "a", uri: "qemu:///system" },
            { name: "b", uri: "qemu+ssh://root@b/system" },
        ]);
        const problems = refused({ ...SPLIT, hosts });
        assertProblem(problems, "hosts[1].vxlanAddress", 'host "b" runs web3, web4', "set vxlanAddress");
        assertProblem(problems, "hosts[0].vxlanAddress", 'host "a" runs director, nfs, web1, web2', "set vxlanAddress");
    });

    it("refuses one VNI for both networks", () => {
        assertProblem(refused({ ...SPLIT, vxlanStorageVni: "1616" }), "vxlanStorageVni", "also vxlanPublicVni", "its own VNI");
    });

    it("refuses a VNI out of VXLAN's 24 bits and an underlay too small for the lab's MTU", () => {
        assertProblem(refused({ ...SPLIT, vxlanPublicVni: "16777216" }), "vxlanPublicVni", "from 1 to 16777215");
        assertProblem(refused({ ...SPLIT, underlayMtu: "1300" }), "underlayMtu", "from 1330");
    });

    it("refuses two hosts with one name, one URI or one VXLAN address", () => {
        const hosts = JSON.stringify([
            { name: "a", uri: "qemu:///system", vxlanAddress: "10.255.0.1" },
            { name: "a", uri: "qemu:///system", vxlanAddress: "10.255.0.1" },
        ]);
        const problems = refused({ ...SEED_RAW, hosts });
        assertProblem(problems, "hosts[1].name", "used twice");
        assertProblem(problems, "hosts[1].uri", "list it once");
        assertProblem(problems, "hosts[1].vxlanAddress", "every VXLAN endpoint needs its own address");
    });

    it("refuses a VXLAN address inside a lab network, a bad URI and a bad host name", () => {
        const hosts = JSON.stringify([{ name: "A b", uri: "host-b", vxlanAddress: "172.16.16.9" }]);
        const problems = refused({ ...SEED_RAW, hosts });
        assertProblem(problems, "hosts[0].vxlanAddress", "inside a lab network", "underlay");
        assertProblem(problems, "hosts[0].uri", "not a libvirt URI", "qemu+ssh://");
        assertProblem(problems, "hosts[0].name", "lowercase");
    });

    it("refuses hosts and a libvirtUri of its own together", () => {
        assertProblem(refused({ ...SPLIT, libvirtUri: "qemu+ssh://root@x/system" }), "libvirtUri", "either libvirtUri", "first host's uri");
    });

    it("accepts hosts while libvirtUri carries Pulumi.yaml's default, as Pulumi passes it", () => {
        accepted({ ...SPLIT, libvirtUri: "qemu:///system" });
    });

    it("refuses hosts and placement that are not a list and a map", () => {
        assertProblem(refused({ ...SEED_RAW, hosts: "{}" }), "hosts", "list of one or more");
        assertProblem(refused({ ...SEED_RAW, placement: "[1]" }), "placement", "map of machine to host");
    });
});
