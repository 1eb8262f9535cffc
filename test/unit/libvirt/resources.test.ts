// The resource classes under Pulumi's mocks: their type tokens, the inputs
// they register (with the serialized provider) and the outputs they expose.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}

const registered: Registered[] = [];

pulumi.runtime.setMocks(
    {
        newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
            registered.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
            return { id: `${args.name}-id`, state: { ...args.inputs, uuid: "0000-uuid", path: `/pool/${String(args.inputs.name)}`, sha256: "abc" } };
        },
        call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
            return args.inputs;
        },
    },
    "lvs-dr-lab",
    "test",
    false,
);

// Imported after setMocks, as the Pulumi docs ask.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lib = require("../../../components/libvirt") as typeof import("../../../components/libvirt");

function output<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => resolve(v)));
}

function find(type: string, name: string): Registered {
    const r = registered.find((x) => x.type === type && x.name === name);
    assert.ok(r, `no ${type} named ${name} registered; got ${registered.map((x) => `${x.type}/${x.name}`).join(", ")}`);
    return r;
}

describe("the libvirt resource classes", () => {
    it("register a Network as pulumi-nodejs:dynamic/libvirt:Network with its inputs and the serialized provider", async () => {
        const n = new lib.Network("public", {
            connectionUri: "qemu:///system",
            name: "lab-public",
            bridgeName: "lvsbr0",
            mode: "nat",
            hostAddress: "172.16.16.1",
            prefixLength: 24,
        });
        assert.equal(await output(n.uuid), "0000-uuid");
        assert.equal(await output(n.name), "lab-public");
        const r = find(lib.NETWORK_TYPE, "public");
        assert.equal(lib.NETWORK_TYPE, "pulumi-nodejs:dynamic/libvirt:Network");
        assert.equal(r.inputs.bridgeName, "lvsbr0");
        assert.equal(r.inputs.mode, "nat");
        assert.match(String(r.inputs.__provider), /exports\.handler/);
    });

    it("register a Volume, a CloudInitDisk and a Domain under their own types, wiring outputs into inputs", async () => {
        const base = new lib.Volume("base", { connectionUri: "qemu:///system", pool: "lab", name: "base.qcow2", source: "/img/debian.qcow2" });
        const disk = new lib.Volume("web1-disk", {
            connectionUri: "qemu:///system",
            pool: "lab",
            name: "web1.qcow2",
            backingVolumePath: base.path,
            capacityGiB: 4,
        });
        const seed = new lib.CloudInitDisk("web1-seed", {
            connectionUri: "qemu:///system",
            pool: "lab",
            name: "web1-seed.iso",
            userData: "#cloud-config\n",
            metaData: "instance-id: web1\n",
            networkConfig: "version: 2\n",
        });
        const vm = new lib.Domain("web1", {
            connectionUri: "qemu:///system",
            name: "lab-web1",
            domainType: "qemu",
            vcpus: 1,
            memoryMiB: 512,
            diskPath: disk.path,
            cloudInitPath: seed.path,
            nics: [
                { network: "lab-public", mac: "52:54:00:00:00:01" },
                { network: "lab-storage", mac: "52:54:00:00:00:02" },
            ],
        });
        assert.equal(await output(vm.uuid), "0000-uuid");
        assert.equal(await output(seed.sha256), "abc");
        assert.equal(await output(disk.path), "/pool/web1.qcow2");

        assert.equal(find(lib.VOLUME_TYPE, "web1-disk").inputs.backingVolumePath, "/pool/base.qcow2");
        assert.equal(find(lib.CLOUD_INIT_DISK_TYPE, "web1-seed").inputs.userData, "#cloud-config\n");
        const d = find(lib.DOMAIN_TYPE, "web1");
        assert.equal(lib.DOMAIN_TYPE, "pulumi-nodejs:dynamic/libvirt:Domain");
        assert.equal(d.inputs.diskPath, "/pool/web1.qcow2");
        assert.equal(d.inputs.cloudInitPath, "/pool/web1-seed.iso");
        assert.deepEqual(d.inputs.nics, [
            { network: "lab-public", mac: "52:54:00:00:00:01" },
            { network: "lab-storage", mac: "52:54:00:00:00:02" },
        ]);
        assert.equal(d.inputs.domainType, "qemu");
    });
});
