// What the providers accept, and what a change of input does (update, replace,
// delete-before-replace): pure logic, no libvirt.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { UNKNOWN, canonical, changedKeys, hostAddressProblem, normalizeMac } from "../../../components/libvirt";
import { CloudInitDiskOutputs, checkCloudInitDisk, diffCloudInitDisk, seedSha256 } from "../../../components/libvirt";
import { DomainInputs, DomainOutputs, checkDomain, diffDomain } from "../../../components/libvirt";
import { NetworkInputs, NetworkOutputs, checkNetwork, diffNetwork } from "../../../components/libvirt";
import { VolumeInputs, VolumeOutputs, checkVolume, diffVolume } from "../../../components/libvirt";

const net: NetworkInputs = {
    connectionUri: "qemu:///system",
    name: "lab-public",
    bridgeName: "lvsbr0",
    mode: "nat",
    hostAddress: "172.16.16.1",
    prefixLength: 24,
    dns: false,
};
const netOut: NetworkOutputs = { ...net, uuid: "u", active: true, autostart: true };

const dom: DomainInputs = {
    connectionUri: "qemu:///system",
    name: "lab-web1",
    domainType: "qemu",
    vcpus: 1,
    memoryMiB: 512,
    diskPath: "/pool/web1.qcow2",
    diskFormat: "qcow2",
    cloudInitPath: "/pool/web1-seed.iso",
    nics: [
        { network: "lab-public", mac: "52:54:00:00:00:01" },
        { network: "lab-storage", mac: "52:54:00:00:00:02" },
    ],
    consoleLogPath: "/var/log/libvirt/qemu/lab-web1-console.log",
    cpuModel: "qemu64",
};
const domOut: DomainOutputs = { ...dom, uuid: "u", state: "running", running: true };

const vol: VolumeInputs = { connectionUri: "qemu:///system", pool: "lab", name: "web1.qcow2", backingVolumePath: "/pool/base.qcow2" };
const volOut: VolumeOutputs = { ...vol, path: "/pool/web1.qcow2", capacityBytes: 1, format: "qcow2" };

const seedIn = {
    connectionUri: "qemu:///system",
    pool: "lab",
    name: "web1-seed.iso",
    userData: "#cloud-config\n",
    metaData: "instance-id: web1\n",
    networkConfig: "version: 2\n",
};
const seedOut: CloudInitDiskOutputs = { ...seedIn, path: "/pool/web1-seed.iso", capacityBytes: 1, format: "iso", sha256: "x" };

function props(failures: { property: string }[]): string[] {
    return failures.map((f) => f.property).sort();
}

describe("network inputs", () => {
    it("accepts the lab's networks and fills dns=false", () => {
        const r = checkNetwork({ ...net, dns: undefined });
        assert.deepEqual(r.failures, []);
        assert.equal(r.inputs.dns, false);
    });

    it("refuses a bridge name longer than 15 characters, naming the setting", () => {
        const r = checkNetwork({ ...net, bridgeName: "a-very-long-bridge" });
        assert.deepEqual(props(r.failures), ["bridgeName"]);
        assert.match(r.failures[0].reason, /1 to 15 characters/);
    });

    it("refuses an unknown mode, a bad address and the subnet's own network address", () => {
        assert.deepEqual(props(checkNetwork({ ...net, mode: "bridge" as "nat" }).failures), ["mode"]);
        assert.deepEqual(props(checkNetwork({ ...net, hostAddress: "172.16.16.300" }).failures), ["hostAddress"]);
        assert.deepEqual(props(checkNetwork({ ...net, hostAddress: "172.16.16.0" }).failures), ["hostAddress"]);
        assert.deepEqual(props(checkNetwork({ ...net, prefixLength: 33 }).failures), ["prefixLength"]);
        assert.deepEqual(props(checkNetwork({ ...net, name: "-x" }).failures), ["name"]);
    });

    it("lets unknown values (preview) through", () => {
        const r = checkNetwork({ ...net, name: UNKNOWN, bridgeName: UNKNOWN, hostAddress: UNKNOWN });
        assert.deepEqual(r.failures, []);
    });

    it("host addresses: the broadcast address is refused, a host is not", () => {
        assert.match(hostAddressProblem("10.0.0.255", 24) ?? "", /broadcast/);
        assert.equal(hostAddressProblem("10.0.0.254", 24), undefined);
        assert.equal(hostAddressProblem("10.0.1.0", 23), undefined);
    });
});

describe("network diff", () => {
    it("sees no change when nothing changed", () => {
        assert.deepEqual(diffNetwork(netOut, net), { changes: false, replaces: [], deleteBeforeReplace: false });
    });

    it("replaces on any input change, always deleting first (bridge and subnet cannot be shared)", () => {
        for (const [k, v] of [
            ["bridgeName", "lvsbr9"],
            ["hostAddress", "172.16.16.2"],
            ["prefixLength", 25],
            ["mode", "isolated"],
            ["name", "other"],
            ["dns", true],
        ] as const) {
            const d = diffNetwork(netOut, { ...net, [k]: v });
            assert.deepEqual(d, { changes: true, replaces: [k], deleteBeforeReplace: true }, k);
        }
    });

    it("updates in place (restart, no replace) a network found stopped or not autostarted", () => {
        assert.deepEqual(diffNetwork({ ...netOut, active: false }, net), { changes: true, replaces: [], deleteBeforeReplace: false });
        assert.deepEqual(diffNetwork({ ...netOut, autostart: false }, net), { changes: true, replaces: [], deleteBeforeReplace: false });
    });

    it("treats an unknown new value as a replacement", () => {
        assert.deepEqual(diffNetwork(netOut, { ...net, hostAddress: UNKNOWN }).replaces, ["hostAddress"]);
    });
});

describe("domain inputs", () => {
    it("fills the defaults: qcow2 disk, qemu64 CPU under TCG, host-passthrough under KVM, console log path", () => {
        const r = checkDomain({ ...dom, diskFormat: undefined, cpuModel: undefined, consoleLogPath: undefined });
        assert.deepEqual(r.failures, []);
        assert.equal(r.inputs.diskFormat, "qcow2");
        assert.equal(r.inputs.cpuModel, "qemu64");
        assert.equal(r.inputs.consoleLogPath, "/var/log/libvirt/qemu/lab-web1-console.log");
        assert.equal(checkDomain({ ...dom, domainType: "kvm", cpuModel: undefined }).inputs.cpuModel, "host-passthrough");
    });

    it("leaves out, rather than sets to undefined, defaults whose source is unknown in a preview", () => {
        // The engine's protobuf Struct refuses undefined values ("Unexpected struct type").
        const r = checkDomain({ ...dom, name: UNKNOWN, domainType: UNKNOWN as "qemu", cpuModel: undefined, consoleLogPath: undefined });
        assert.deepEqual(r.failures, []);
        for (const [key, value] of Object.entries(r.inputs)) {
            assert.notEqual(value, undefined, `${key} is present with an undefined value`);
        }
    });

    it("lower-cases MACs so that the state matches what libvirt reports", () => {
        const r = checkDomain({ ...dom, nics: [{ network: "n", mac: "52:54:00:AB:CD:EF" }] });
        assert.equal(r.inputs.nics[0].mac, "52:54:00:ab:cd:ef");
    });

    it("refuses a bad or multicast or repeated MAC, naming the NIC", () => {
        assert.deepEqual(props(checkDomain({ ...dom, nics: [{ network: "n", mac: "52:54:00:00:01" }] }).failures), ["nics[0].mac"]);
        assert.deepEqual(props(checkDomain({ ...dom, nics: [{ network: "n", mac: "01:00:5e:00:00:01" }] }).failures), ["nics[0].mac"]);
        const twice = checkDomain({
            ...dom,
            nics: [
                { network: "a", mac: "52:54:00:00:00:01" },
                { network: "b", mac: "52:54:00:00:00:01" },
            ],
        });
        assert.deepEqual(props(twice.failures), ["nics[1].mac"]);
    });

    it("refuses an unknown domain type, zero vcpus, too little memory and relative paths", () => {
        const r = checkDomain({ ...dom, domainType: "xen" as "kvm", vcpus: 0, memoryMiB: 8, diskPath: "web1.qcow2" });
        assert.deepEqual(props(r.failures), ["diskPath", "domainType", "memoryMiB", "vcpus"]);
    });

    it("takes a kernel to boot directly only with its command line, and an initrd only with a kernel", () => {
        const direct = { ...dom, cloudInitPath: undefined, kernelPath: "/pool/k", initrdPath: "/pool/i", kernelCmdline: "root=/dev/vda1 ro" };
        assert.deepEqual(checkDomain(direct).failures, []);
        assert.deepEqual(
            checkDomain({ ...direct, kernelCmdline: undefined }).failures.map((f) => f.property),
            ["kernelCmdline"],
        );
        assert.deepEqual(
            checkDomain({ ...dom, initrdPath: "/pool/i" }).failures.map((f) => f.property),
            ["initrdPath"],
        );
        assert.deepEqual(
            checkDomain({ ...direct, kernelPath: "pool/k" }).failures.map((f) => f.property),
            ["kernelPath"],
        );
    });

    it("takes fw_cfg entries as an object of opt/ names to text", () => {
        assert.deepEqual(checkDomain({ ...dom, firmwareConfig: { "opt/lvslab/x": "text" } }).failures, []);
        assert.deepEqual(props(checkDomain({ ...dom, firmwareConfig: { "etc/x": "text" } }).failures), ["firmwareConfig"]);
        assert.deepEqual(props(checkDomain({ ...dom, firmwareConfig: ["x"] as unknown as Record<string, string> }).failures), ["firmwareConfig"]);
        assert.deepEqual(props(checkDomain({ ...dom, firmwareConfig: { "opt/x": 1 as unknown as string } }).failures), ['firmwareConfig["opt/x"]']);
    });

    it("lets unknown values through, including unknown NICs", () => {
        assert.deepEqual(checkDomain({ ...dom, nics: UNKNOWN as unknown as DomainInputs["nics"] }).failures, []);
        assert.deepEqual(checkDomain({ ...dom, nics: [{ network: UNKNOWN, mac: UNKNOWN }] }).failures, []);
    });
});

describe("domain diff", () => {
    it("sees no change when nothing changed", () => {
        assert.equal(diffDomain(domOut, dom).changes, false);
    });

    it("replaces on a change of disk, NICs, type or memory; same name means delete first", () => {
        const cases: Partial<DomainInputs>[] = [
            { diskPath: "/pool/other.qcow2" },
            { cloudInitPath: "/pool/other.iso" },
            { kernelCmdline: "root=/dev/vda1 ro lvslab.hostname=other" },
            { kernelPath: "/pool/other-vmlinuz" },
            { firmwareConfig: { "opt/lvslab/console-password-hash": "$6$other" } },
            { nics: [dom.nics[1], dom.nics[0]] },
            { nics: [dom.nics[0]] },
            { domainType: "kvm" },
            { memoryMiB: 1024 },
            { vcpus: 2 },
        ];
        for (const c of cases) {
            const d = diffDomain(domOut, { ...dom, ...c });
            assert.deepEqual(d, { changes: true, replaces: Object.keys(c), deleteBeforeReplace: true }, JSON.stringify(c));
        }
    });

    it("creates the replacement first when the name changes too", () => {
        const d = diffDomain(domOut, { ...dom, name: "lab-web1b", consoleLogPath: "/x.log" });
        assert.deepEqual(d, { changes: true, replaces: ["name", "consoleLogPath"], deleteBeforeReplace: false });
    });

    it("starts in place a domain found shut off", () => {
        assert.deepEqual(diffDomain({ ...domOut, running: false, state: "shut off" }, dom), {
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
    });
});

describe("volume inputs and diff", () => {
    it("wants exactly one of source and backingVolumePath", () => {
        assert.deepEqual(checkVolume(vol).failures, []);
        assert.deepEqual(checkVolume({ ...vol, backingVolumePath: undefined, source: "/img/base.qcow2" }).failures, []);
        assert.deepEqual(checkVolume({ ...vol, backingVolumePath: undefined, source: "https://example.invalid/x.qcow2" }).failures, []);
        assert.equal(checkVolume({ ...vol, source: "/img/base.qcow2" }).failures.length, 1);
        assert.equal(checkVolume({ ...vol, backingVolumePath: undefined }).failures.length, 1);
        assert.deepEqual(props(checkVolume({ ...vol, backingVolumePath: undefined, source: "base.qcow2" }).failures), ["source"]);
    });

    it("takes capacityGiB for overlays only, and positive", () => {
        assert.deepEqual(checkVolume({ ...vol, capacityGiB: 10 }).failures, []);
        assert.deepEqual(props(checkVolume({ ...vol, capacityGiB: 0 }).failures), ["capacityGiB"]);
        assert.deepEqual(props(checkVolume({ ...vol, backingVolumePath: undefined, source: "/a.img", capacityGiB: 1 }).failures), ["capacityGiB"]);
    });

    it("replaces on any change; deletes first only when pool and name stay", () => {
        assert.equal(diffVolume(volOut, vol).changes, false);
        assert.deepEqual(diffVolume(volOut, { ...vol, capacityGiB: 20 }), { changes: true, replaces: ["capacityGiB"], deleteBeforeReplace: true });
        assert.deepEqual(diffVolume(volOut, { ...vol, name: "web1b.qcow2" }), { changes: true, replaces: ["name"], deleteBeforeReplace: false });
    });
});

describe("cloud-init disk", () => {
    it("replaces on any content change, deleting first under the same name", () => {
        assert.equal(diffCloudInitDisk(seedOut, seedIn).changes, false);
        for (const k of ["userData", "metaData", "networkConfig"] as const) {
            assert.deepEqual(diffCloudInitDisk(seedOut, { ...seedIn, [k]: seedIn[k] + "#\n" }), {
                changes: true,
                replaces: [k],
                deleteBeforeReplace: true,
            });
        }
        assert.equal(diffCloudInitDisk(seedOut, { ...seedIn, name: "v2.iso", userData: "x" }).deleteBeforeReplace, false);
    });

    it("hashes the content so that moving bytes between files changes the hash", () => {
        assert.notEqual(seedSha256("ab", "c", ""), seedSha256("a", "bc", ""));
        assert.equal(seedSha256("a", "b", "c"), seedSha256("a", "b", "c"));
        assert.match(seedSha256("", "", ""), /^[0-9a-f]{64}$/);
    });

    it("refuses a name virsh would take for an option", () => {
        assert.deepEqual(props(checkCloudInitDisk({ ...seedIn, name: "--pool" }).failures), ["name"]);
    });
});

describe("diff helpers", () => {
    it("compares objects whatever their key order, and arrays in order", () => {
        assert.equal(canonical({ a: 1, b: [1, 2] }), canonical({ b: [1, 2], a: 1 }));
        assert.notEqual(canonical([1, 2]), canonical([2, 1]));
        assert.deepEqual(changedKeys({ a: { x: 1, y: 2 } }, { a: { y: 2, x: 1 } }, ["a"]), []);
        assert.deepEqual(changedKeys({ a: 1 }, { a: undefined }, ["a"]), ["a"]);
        assert.deepEqual(changedKeys({}, { a: undefined }, ["a"]), []);
    });

    it("normalizes MACs", () => {
        assert.equal(normalizeMac(" 52:54:00:AA:bb:CC "), "52:54:00:aa:bb:cc");
        assert.equal(normalizeMac("ff:ff:ff:ff:ff:ff"), undefined);
        assert.equal(normalizeMac("52-54-00-aa-bb-cc"), undefined);
    });
});
