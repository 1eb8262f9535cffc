// The VXLAN tunnel provider against the real kernel: in a scratch network
// namespace of the test's own (a bridge standing for a libvirt network's, a
// veth holding the underlay address), create, read, put right in
// place (remotes, MTU, re-attach after the port left its bridge), delete.
// No libvirtd and no guest: the provider drives only `ip` and `bridge`.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";

const NS = `lvsvx${randomBytes(3).toString("hex")}`;
const BRIDGE = "lvtestbr-p";
const DEVICE = "lvtestbr-vp";
const VXLAN_MODULE = resolve(__dirname, "../../components/libvirt/vxlan.js");

function inNs(...args: string[]): string {
    return execFileSync("ip", ["netns", "exec", NS, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs the provider's steps inside the namespace (a local URI runs `ip` right there); returns what each step saw. */
function providerSteps(): Record<string, unknown> {
    const script = `
const vx = require(${JSON.stringify(VXLAN_MODULE)});
const { execFileSync } = require("child_process");
const inputs = { connectionUri: "qemu:///system", deviceName: ${JSON.stringify(DEVICE)}, bridgeName: ${JSON.stringify(BRIDGE)},
    vni: 1616, localAddress: "10.255.9.1", remoteAddresses: ["10.255.9.2"], port: 4789, mtu: 1450, networkUuid: "u1" };
(async () => {
    const out = {};
    const made = await vx.createVxlanTunnel(inputs);
    out.created = (await vx.readVxlanTunnel(made.id, made.outs)).props;
    const wider = { ...inputs, remoteAddresses: ["10.255.9.2", "10.255.9.3"], mtu: 1400 };
    out.diffWider = vx.diffVxlanTunnel(out.created, wider);
    await vx.ensureTunnel(wider);
    out.widened = (await vx.readVxlanTunnel(made.id, made.outs)).props;
    execFileSync("ip", ["link", "set", "dev", inputs.deviceName, "nomaster"]);
    out.detached = (await vx.readVxlanTunnel(made.id, made.outs)).props;
    out.diffDetached = vx.diffVxlanTunnel(out.detached, wider);
    await vx.ensureTunnel(wider);
    out.reattached = (await vx.readVxlanTunnel(made.id, made.outs)).props;
    await vx.deleteVxlanTunnel(out.reattached);
    out.afterDelete = await vx.readVxlanTunnel(made.id, made.outs);
    await vx.deleteVxlanTunnel(out.reattached);
    out.deletedTwice = true;
    process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;
    const r = spawnSync("ip", ["netns", "exec", NS, process.execPath, "-e", script], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `the provider's steps failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("the VXLAN tunnel provider against the kernel, in a scratch namespace", () => {
    let steps: Record<string, unknown>;
    before(() => {
        execFileSync("ip", ["netns", "add", NS]);
        inNs("ip", "link", "add", BRIDGE, "type", "bridge");
        // No dummy driver in a minimal kernel: a veth pair holds the address.
        inNs("ip", "link", "add", "underlay0", "type", "veth", "peer", "name", "underlay1");
        inNs("ip", "addr", "add", "10.255.9.1/24", "dev", "underlay0");
        inNs("ip", "link", "set", "underlay0", "up");
        inNs("ip", "link", "set", BRIDGE, "up");
        steps = providerSteps();
    });
    after(() => {
        spawnSync("ip", ["netns", "del", NS]);
    });

    it("makes a VXLAN port of the bridge with the VNI, endpoint, port, MTU and one flood entry per remote", () => {
        assert.deepEqual(steps.created, {
            connectionUri: "qemu:///system",
            deviceName: DEVICE,
            bridgeName: BRIDGE,
            vni: 1616,
            localAddress: "10.255.9.1",
            remoteAddresses: ["10.255.9.2"],
            port: 4789,
            mtu: 1450,
            networkUuid: "u1",
            attached: true,
        });
    });

    it("puts a new remote and MTU right in place, the same device", () => {
        assert.deepEqual(steps.diffWider, { changes: true, replaces: [], deleteBeforeReplace: false });
        const widened = steps.widened as { remoteAddresses: string[]; mtu: number; attached: boolean };
        assert.deepEqual([...widened.remoteAddresses].sort(), ["10.255.9.2", "10.255.9.3"]);
        assert.equal(widened.mtu, 1400);
        assert.equal(widened.attached, true);
    });

    it("sees a port that left its bridge and puts it back", () => {
        assert.equal((steps.detached as { attached: boolean }).attached, false);
        assert.equal((steps.diffDetached as { changes: boolean }).changes, true);
        assert.equal((steps.reattached as { attached: boolean }).attached, true);
    });

    it("deletes the device, and a second delete of a gone device is fine", () => {
        assert.deepEqual(steps.afterDelete, { id: "" });
        assert.equal(steps.deletedTwice, true);
        assert.doesNotMatch(inNs("ip", "-br", "link"), new RegExp(DEVICE));
    });
});
