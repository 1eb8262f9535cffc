// Foundation built alone from hand-made Args, with Pulumi's mocks: the
// suffix and passwords, each host's two networks (the NAT side and the lab
// host's addresses only on the gateway host), the VXLAN ports joining hosts,
// the image only where machines run, and the sites it hands the roles.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DeclarationWatch, isSecret, mocksForComponents, named, Recorded } from "../../helpers/labMocks";

const buildAlone = mocksForComponents();

// The component is imported only after the mocks are in place.
import type * as FoundationModule from "../../../components/foundation";

let components: typeof FoundationModule;

const GATEWAY_ADDRESSES = { public: { address: "10.1.0.1", prefixLength: 24 }, storage: { address: "10.2.0.1", prefixLength: 25 } };
const URI_B = "qemu+ssh://root@10.255.0.2/system";

/** Builds one Foundation alone and waits until it and every child are registered. */
async function build(
    name: string,
    args: FoundationModule.FoundationArgs,
): Promise<{ foundation: FoundationModule.Foundation; watch: DeclarationWatch; resources: Recorded[] }> {
    components ??= await import("../../../components/foundation");
    const built = await buildAlone((opts) => new components.Foundation(name, args, opts));
    return { foundation: built.component, watch: built.watch, resources: built.resources };
}

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply(resolve));
}

describe("Foundation on one host, booting the image's kernel, for a director pair", () => {
    let built: Awaited<ReturnType<typeof build>>;
    before(async () => {
        built = await build("base", {
            namePrefix: "t",
            hosts: [{ name: "local", uri: "qemu:///system" }],
            machineHosts: ["local"],
            gatewayAddresses: GATEWAY_ADDRESSES,
            storagePool: "labpool",
            baseImage: "/images/lab.qcow2",
            firstBoot: { method: "kernel", kernel: "/images/lab.vmlinuz", initrd: "/images/lab.initrd" },
            needsVrrpPassword: true,
        });
    });

    it("declares the suffix, both passwords, both networks and the image's three volumes, named from the component's name, as its children", () => {
        assert.deepEqual(built.watch.childrenOf(built.foundation), [
            "pulumi-nodejs:dynamic/libvirt:Network base-public",
            "pulumi-nodejs:dynamic/libvirt:Network base-storage",
            "pulumi-nodejs:dynamic/libvirt:Volume base-base-image",
            "pulumi-nodejs:dynamic/libvirt:Volume base-initrd",
            "pulumi-nodejs:dynamic/libvirt:Volume base-kernel",
            "random:index/randomPassword:RandomPassword base-console-password",
            "random:index/randomPassword:RandomPassword base-vrrp-password",
            "random:index/randomString:RandomString base-suffix",
        ]);
        assert.equal(built.resources.length, 9, "the component and its eight children, nothing else");
        assert.deepEqual(named(built.resources, "base-suffix").inputs.keepers, { namePrefix: "t" });
        assert.equal(named(built.resources, "base-vrrp-password").inputs.length, 8, "keepalived's PASS reads 8 characters");
    });

    it("gives the gateway host the NAT public network and an isolated storage one, each with the lab host's address", () => {
        const publicNetwork = named(built.resources, "base-public");
        assert.deepEqual(
            [publicNetwork.inputs.connectionUri, publicNetwork.inputs.name, publicNetwork.inputs.bridgeName, publicNetwork.inputs.mode],
            ["qemu:///system", "t-ab12cd-public", "lvab12cd-p", "nat"],
        );
        assert.deepEqual([publicNetwork.inputs.hostAddress, publicNetwork.inputs.prefixLength, publicNetwork.inputs.mtu], ["10.1.0.1", 24, undefined]);
        const storageNetwork = named(built.resources, "base-storage");
        assert.deepEqual([storageNetwork.inputs.mode, storageNetwork.inputs.hostAddress, storageNetwork.inputs.prefixLength], ["isolated", "10.2.0.1", 25]);
    });

    it("imports the image, its kernel and its initramfs into the given pool", () => {
        for (const [name, volumeName, source] of [
            ["base-base-image", "t-ab12cd-base.qcow2", "/images/lab.qcow2"],
            ["base-kernel", "t-ab12cd-vmlinuz", "/images/lab.vmlinuz"],
            ["base-initrd", "t-ab12cd-initrd", "/images/lab.initrd"],
        ]) {
            const volume = named(built.resources, name);
            assert.deepEqual(
                [volume.inputs.connectionUri, volume.inputs.pool, volume.inputs.name, volume.inputs.source],
                ["qemu:///system", "labpool", volumeName, source],
            );
        }
    });

    it("hands the roles one site, with the pool, the prefix, the networks and the boot volumes", async () => {
        assert.deepEqual(Object.keys(built.foundation.sites), ["local"]);
        const site = built.foundation.sites.local;
        assert.deepEqual([site.uri, site.pool, site.nicMtu], ["qemu:///system", "labpool", undefined]);
        assert.equal(await valueOf(site.libvirtPrefix), "t-ab12cd");
        assert.deepEqual(await valueOf(pulumi.all([site.publicNetwork, site.storageNetwork, site.baseVolumePath])), [
            "t-ab12cd-public",
            "t-ab12cd-storage",
            "/pool/t-ab12cd-base.qcow2",
        ]);
        assert.ok(site.bootVolumes);
        assert.deepEqual(await valueOf(pulumi.all([site.bootVolumes.kernelPath, site.bootVolumes.initrdPath])), [
            "/pool/t-ab12cd-vmlinuz",
            "/pool/t-ab12cd-initrd",
        ]);
    });

    it("exposes the VRRP password as a secret, and the console password", async () => {
        assert.ok(built.foundation.vrrpPassword);
        assert.ok(await pulumi.isSecret(built.foundation.vrrpPassword));
        assert.equal(await valueOf(built.foundation.vrrpPassword), "Pw0xxxxx");
        // The random provider marks the result secret; the mocks do not.
        assert.equal((await valueOf(built.foundation.consolePassword)).length, 20);
    });
});

describe("Foundation spread over two hosts, machines only on the second, cloud-init, one director", () => {
    let built: Awaited<ReturnType<typeof build>>;
    before(async () => {
        built = await build("wide", {
            namePrefix: "t",
            hosts: [
                { name: "a", uri: "qemu:///system", vxlanAddress: "10.255.0.1" },
                { name: "b", uri: URI_B, vxlanAddress: "10.255.0.2" },
            ],
            machineHosts: ["b"],
            gatewayAddresses: GATEWAY_ADDRESSES,
            spread: { vnis: { public: 1616, storage: 1687 }, port: 4789, mtu: 1450 },
            storagePool: "labpool",
            baseImage: "https://images.example/cloud.qcow2",
            firstBoot: { method: "cloud-init" },
            needsVrrpPassword: false,
        });
    });

    it("declares each host's two networks and VXLAN ports, and the image only on the host that runs machines", () => {
        assert.deepEqual(built.watch.childrenOf(built.foundation), [
            "pulumi-nodejs:dynamic/libvirt:Network wide-b-public",
            "pulumi-nodejs:dynamic/libvirt:Network wide-b-storage",
            "pulumi-nodejs:dynamic/libvirt:Network wide-public",
            "pulumi-nodejs:dynamic/libvirt:Network wide-storage",
            "pulumi-nodejs:dynamic/libvirt:Volume wide-b-base-image",
            "pulumi-nodejs:dynamic/libvirt:VxlanTunnel wide-b-public-vxlan",
            "pulumi-nodejs:dynamic/libvirt:VxlanTunnel wide-b-storage-vxlan",
            "pulumi-nodejs:dynamic/libvirt:VxlanTunnel wide-public-vxlan",
            "pulumi-nodejs:dynamic/libvirt:VxlanTunnel wide-storage-vxlan",
            "random:index/randomPassword:RandomPassword wide-console-password",
            "random:index/randomString:RandomString wide-suffix",
        ]);
        assert.equal(built.resources.length, 12, "the component and its eleven children: no VRRP password");
        assert.equal(built.foundation.vrrpPassword, undefined);
    });

    it("keeps the NAT side and the lab host's addresses on the gateway host, and lowers every network's MTU", () => {
        const gatewayPublic = named(built.resources, "wide-public");
        assert.deepEqual([gatewayPublic.inputs.mode, gatewayPublic.inputs.hostAddress, gatewayPublic.inputs.mtu], ["nat", "10.1.0.1", 1450]);
        for (const name of ["wide-b-public", "wide-b-storage"]) {
            const network = named(built.resources, name);
            assert.deepEqual(
                [network.inputs.connectionUri, network.inputs.mode, network.inputs.hostAddress, network.inputs.mtu],
                [URI_B, "isolated", undefined, 1450],
            );
        }
    });

    it("floods each host's bridge to the other host's endpoint, one VNI per network", () => {
        const tunnel = named(built.resources, "wide-b-public-vxlan");
        assert.deepEqual(
            [
                tunnel.inputs.connectionUri,
                tunnel.inputs.deviceName,
                tunnel.inputs.bridgeName,
                tunnel.inputs.vni,
                tunnel.inputs.localAddress,
                tunnel.inputs.remoteAddresses,
            ],
            [URI_B, "lvab12cd-vp", "lvab12cd-p", 1616, "10.255.0.2", ["10.255.0.1"]],
        );
        assert.deepEqual([tunnel.inputs.port, tunnel.inputs.mtu, tunnel.inputs.networkUuid], [4789, 1450, "uuid-of-wide-b-public"]);
        assert.equal(named(built.resources, "wide-storage-vxlan").inputs.vni, 1687);
    });

    it("hands the roles a site only for the host that runs machines, with the lowered NIC MTU and no boot volumes", async () => {
        assert.deepEqual(Object.keys(built.foundation.sites), ["b"]);
        const site = built.foundation.sites.b;
        assert.deepEqual([site.uri, site.pool, site.nicMtu, site.bootVolumes], [URI_B, "labpool", 1450, undefined]);
        assert.deepEqual(await valueOf(pulumi.all([site.publicNetwork, site.baseVolumePath])), ["t-ab12cd-public", "/pool/t-ab12cd-base.qcow2"]);
        const image = named(built.resources, "wide-b-base-image");
        assert.deepEqual([image.inputs.connectionUri, image.inputs.source], [URI_B, "https://images.example/cloud.qcow2"]);
        assert.equal(isSecret(image.inputs.source), false);
    });
});
