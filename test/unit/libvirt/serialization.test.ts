// Pulumi stores each dynamic provider as code made by closure serialization
// and runs that code in another process. These tests serialize the providers
// the way pulumi.dynamic.Resource does and load the result on its own.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { cloudInitDiskProvider } from "../../../components/libvirt";
import { DomainInputs, DomainOutputs, domainProvider } from "../../../components/libvirt";
import { NetworkInputs, networkProvider } from "../../../components/libvirt";
import { volumeProvider } from "../../../components/libvirt";
import { vxlanTunnelProvider } from "../../../components/libvirt";

const dir = mkdtempSync(join(tmpdir(), "lvslab-ser-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const providers: Record<string, pulumi.dynamic.ResourceProvider> = {
    network: networkProvider,
    volume: volumeProvider,
    cloudInitDisk: cloudInitDiskProvider,
    domain: domainProvider,
    vxlanTunnel: vxlanTunnelProvider,
};

/** Serializes like pulumi.dynamic.Resource and loads the text as a fresh module. */
async function roundTrip(key: string, provider: pulumi.dynamic.ResourceProvider): Promise<{ text: string; loaded: pulumi.dynamic.ResourceProvider }> {
    const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    const file = join(dir, `${key}.js`);
    writeFileSync(file, sf.text);
    // The dynamic-provider host loads the text as a module and calls handler().
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(file) as { handler: () => pulumi.dynamic.ResourceProvider };
    return { text: sf.text, loaded: mod.handler() };
}

describe("the serialized providers", () => {
    for (const [key, provider] of Object.entries(providers)) {
        it(`${key}: serializes without capturing Pulumi itself, requiring only Node built-ins, and loads`, async () => {
            const { text, loaded } = await roundTrip(key, provider);
            const required = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
            const allowed = new Set(["child_process", "fs", "os", "path", "path/posix", "crypto", "net"]);
            assert.deepEqual(
                required.filter((r) => !allowed.has(r)),
                [],
                `unexpected requires: ${required.join(", ")}`,
            );
            assert.ok(!/@pulumi|grpc/.test(text), "the provider's code drags in @pulumi/pulumi");
            // A size guard: the whole libvirt layer is ~30 kB; much more means something heavy got captured.
            assert.ok(text.length < 100_000, `serialized ${key} provider is ${text.length} bytes`);
            for (const method of ["check", "diff", "create", "read", "delete"] as const) {
                assert.equal(typeof loaded[method], "function", `${key}.${method}`);
            }
        });
    }

    it("keep working after the round trip: check and diff give the same answers", async () => {
        const { loaded: net } = await roundTrip("network2", networkProvider);
        const inputs: NetworkInputs = {
            connectionUri: "qemu:///system",
            name: "n",
            bridgeName: "a-very-long-bridge",
            mode: "nat",
            hostAddress: "10.0.0.1",
            prefixLength: 24,
        };
        const checked = await net.check!({}, inputs);
        assert.deepEqual(
            checked.failures?.map((f) => f.property),
            ["bridgeName"],
        );

        const { loaded: dom } = await roundTrip("domain2", domainProvider);
        const d: DomainInputs = {
            connectionUri: "qemu:///system",
            name: "d",
            domainType: "qemu",
            vcpus: 1,
            memoryMiB: 64,
            diskPath: "/p/d.qcow2",
            diskFormat: "qcow2",
            cloudInitPath: "/p/d.iso",
            nics: [{ network: "n", mac: "52:54:00:00:00:01" }],
            consoleLogPath: "/var/log/libvirt/qemu/d-console.log",
            cpuModel: "qemu64",
        };
        const olds: DomainOutputs = { ...d, uuid: "u", state: "running", running: true };
        assert.deepEqual(await dom.diff!("u", olds, { ...d, memoryMiB: 128 }), {
            changes: true,
            replaces: ["memoryMiB"],
            deleteBeforeReplace: true,
        });
    });
});
