// The resource graph of one lab spread over two libvirt hosts, with Pulumi's
// mocks: each machine's disk and domain on its host's URI, each host's own
// networks (the NAT side and the .1 addresses only on the gateway host),
// one VXLAN port per network and host joining them, the MTU lowered on both
// hosts, and the image in every pool that runs machines.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { labMocks, Recorded } from "../helpers/labMocks";

let recorded: Recorded[] = [];

pulumi.runtime.setMocks(
    labMocks(
        (resource) => recorded.push(resource),
        (inputs) => `/pool/${String(inputs.connectionUri).includes("ssh") ? "b" : "a"}/${String(inputs.name)}`,
    ),
    "lvs-dr-lab",
    "spread",
    false,
);

// The program is imported only after the mocks are in place.
import type * as ProgramModule from "../../components/program";

const URI_A = "qemu:///system";
const URI_B = "qemu+ssh://root@10.255.0.2/system?keyfile=/keys/b";
const HOSTS = JSON.stringify([
    { name: "a", uri: URI_A, vxlanAddress: "10.255.0.1" },
    { name: "b", uri: URI_B, vxlanAddress: "10.255.0.2" },
]);

let program: typeof ProgramModule;
let dir: string;
let resources: Recorded[];
let outputs: Record<string, unknown>;

const ofKind = (kind: string): Recorded[] => resources.filter((r) => r.type.endsWith(`:${kind}`));
const named = (name: string): Recorded => {
    const found = resources.find((r) => r.name === name);
    assert.ok(found, `a resource named ${name}`);
    return found;
};

before(async () => {
    program = await import("../../components/program");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-spread-"));
    const keyPath = path.join(dir, "id_ed25519");
    fs.writeFileSync(keyPath, "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n");
    fs.writeFileSync(`${keyPath}.pub`, "ssh-ed25519 AAAAC3Nza fake@test");
    // The image's kernel and initramfs beside it: the kernel boot.
    const image = path.join(dir, "lab.qcow2");
    for (const file of [image, path.join(dir, "lab.vmlinuz"), path.join(dir, "lab.initrd")]) {
        fs.writeFileSync(file, "");
    }
    const config = program.loadLabConfig({
        baseImage: image,
        sshKeyPath: keyPath,
        domainType: "qemu",
        storagePool: "lvslab",
        directors: "2",
        hosts: HOSTS,
        placement: JSON.stringify({ director2: "b", web3: "b", web4: "b" }),
    });
    recorded = [];
    const declared = program.lab(config);
    outputs = {};
    for (const [key, value] of Object.entries(declared)) {
        outputs[key] = await new Promise((resolve) => pulumi.output(value).apply(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    resources = recorded;
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("a lab spread over two hosts (director2, web3, web4 on b)", () => {
    it("makes each machine's disk and domain on its own host's URI", () => {
        const onB = ["director2", "web3", "web4"];
        for (const machine of ["director", "director2", "nfs", "web1", "web2", "web3", "web4"]) {
            const uri = onB.includes(machine) ? URI_B : URI_A;
            assert.equal(named(`${machine}-vm`).inputs.connectionUri, uri, `${machine}'s domain`);
            assert.equal(named(`${machine}-disk`).inputs.connectionUri, uri, `${machine}'s disk`);
            // The overlay's backing file is the base image in the same host's pool.
            assert.match(String(named(`${machine}-disk`).inputs.backingVolumePath), new RegExp(`^/pool/${uri === URI_B ? "b" : "a"}/`));
        }
    });

    it("puts the image, its kernel and initramfs in each host's pool, the gateway's under the one-host names", () => {
        const volumes = ofKind("Volume").filter((r) => r.inputs.source !== undefined);
        assert.deepEqual(volumes.map((r) => `${r.name} ${String(r.inputs.connectionUri)}`).sort(), [
            `lab-b-base-image ${URI_B}`,
            `lab-b-initrd ${URI_B}`,
            `lab-b-kernel ${URI_B}`,
            `lab-base-image ${URI_A}`,
            `lab-initrd ${URI_A}`,
            `lab-kernel ${URI_A}`,
        ]);
        const kernelOf = (machine: string): string => String(named(`${machine}-vm`).inputs.kernelPath);
        assert.match(kernelOf("web3"), /^\/pool\/b\//);
        assert.match(kernelOf("web1"), /^\/pool\/a\//);
    });

    it("gives each host both networks; only the gateway host has the NAT side and the .1 addresses; the MTU is 1450 everywhere", () => {
        const networks = ofKind("Network");
        assert.deepEqual(networks.map((r) => r.name).sort(), ["lab-b-public", "lab-b-storage", "lab-public", "lab-storage"]);
        const gatewayPublic = named("lab-public").inputs;
        assert.equal(gatewayPublic.mode, "nat");
        assert.equal(gatewayPublic.hostAddress, "172.16.16.1");
        assert.equal(named("lab-storage").inputs.hostAddress, "192.168.7.1");
        for (const name of ["lab-b-public", "lab-b-storage"]) {
            const inputs = named(name).inputs;
            assert.equal(inputs.connectionUri, URI_B);
            assert.equal(inputs.mode, "isolated", `${name} is no second NAT`);
            assert.equal(inputs.hostAddress, undefined, `${name}: the .1 is the gateway host's alone`);
        }
        for (const network of networks) {
            assert.equal(network.inputs.mtu, 1450, `${network.name}: 1500 less VXLAN's 50 bytes`);
        }
        // The same libvirt and bridge names on both hosts: the guests' NICs name the network, whichever host they run on.
        assert.equal(named("lab-b-public").inputs.name, named("lab-public").inputs.name);
        assert.equal(named("lab-b-public").inputs.bridgeName, "lvab12cd-p");
    });

    it("joins each network's bridges with one VXLAN port per host, one VNI per network, flooding to the other host", () => {
        const tunnels = ofKind("VxlanTunnel").map((r) => r.inputs);
        assert.equal(tunnels.length, 4);
        const tunnel = (name: string): Record<string, unknown> => named(name).inputs;
        assert.deepEqual(
            {
                uri: tunnel("lab-public-vxlan").connectionUri,
                device: tunnel("lab-public-vxlan").deviceName,
                bridge: tunnel("lab-public-vxlan").bridgeName,
                vni: tunnel("lab-public-vxlan").vni,
                local: tunnel("lab-public-vxlan").localAddress,
                remotes: tunnel("lab-public-vxlan").remoteAddresses,
                port: tunnel("lab-public-vxlan").port,
                mtu: tunnel("lab-public-vxlan").mtu,
                network: tunnel("lab-public-vxlan").networkUuid,
            },
            {
                uri: URI_A,
                device: "lvab12cd-vp",
                bridge: "lvab12cd-p",
                vni: 1616,
                local: "10.255.0.1",
                remotes: ["10.255.0.2"],
                port: 4789,
                mtu: 1450,
                network: "uuid-of-lab-public",
            },
        );
        assert.equal(tunnel("lab-b-storage-vxlan").connectionUri, URI_B);
        assert.equal(tunnel("lab-b-storage-vxlan").vni, 1687);
        assert.equal(tunnel("lab-b-storage-vxlan").bridgeName, "lvab12cd-s");
        assert.equal(tunnel("lab-b-storage-vxlan").localAddress, "10.255.0.2");
        assert.deepEqual(tunnel("lab-b-storage-vxlan").remoteAddresses, ["10.255.0.1"]);
        assert.equal(tunnel("lab-b-storage-vxlan").networkUuid, "uuid-of-lab-b-storage");
    });

    it("plugs a machine on b into b's networks, under the same names as on a", () => {
        const nics = named("web3-vm").inputs.nics as { network: string }[];
        assert.deepEqual(
            nics.map((nic) => nic.network),
            [named("lab-b-public").inputs.name, named("lab-b-storage").inputs.name],
        );
    });

    it("gives every guest NIC on either host the lowered MTU itself: libvirt tells the guest only the NIC's", () => {
        for (const domain of ofKind("Domain")) {
            const nics = domain.inputs.nics as { mtu?: number }[];
            assert.ok(nics.length > 0 && nics.every((nic) => nic.mtu === 1450), `${domain.name}'s NICs have MTU 1450`);
        }
    });

    it("says in its outputs which host runs which machine", () => {
        const libvirt = outputs.libvirt as { uri: string; hosts: { name: string; uri: string; machines: string[] }[] };
        assert.equal(libvirt.uri, URI_A);
        assert.deepEqual(libvirt.hosts, [
            { name: "a", uri: URI_A, machines: ["director", "nfs", "web1", "web2"] },
            { name: "b", uri: URI_B, machines: ["director2", "web3", "web4"] },
        ]);
    });
});
