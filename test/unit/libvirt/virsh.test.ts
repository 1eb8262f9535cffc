// Running commands: output, time limits, and how virsh's failures read.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isLocalUri, isNotFound, parseInfo, runCommand, virshError, RunResult } from "../../../components/libvirt";

function result(stderr: string, code = 1): RunResult {
    return { code, stdout: "", stderr, timedOut: false };
}

describe("running a command", () => {
    it("collects stdout, stderr, exit code and stdin", async () => {
        const r = await runCommand("sh", ["-c", "cat; echo err >&2; exit 3"], { input: "hello" });
        assert.deepEqual(r, { code: 3, stdout: "hello", stderr: "err\n", timedOut: false });
    });

    it("kills a command that runs past its limit and says so", async () => {
        const t0 = Date.now();
        const r = await runCommand("sleep", ["10"], { timeoutMs: 200 });
        assert.equal(r.timedOut, true);
        assert.equal(r.code, null);
        assert.ok(Date.now() - t0 < 5000);
        assert.match(virshError("Domain", "d", ["start"], r, 200).message, /virsh start failed: timed out after 0.2 s and was killed/);
    });

    it("rejects, naming the program, when it is not installed", async () => {
        await assert.rejects(runCommand("no-such-program-lvslab", []), /cannot run no-such-program-lvslab: .*installed and on PATH/);
    });

    it("runs in the given directory", async () => {
        const r = await runCommand("pwd", [], { cwd: "/tmp" });
        assert.equal(r.stdout.trim(), "/tmp");
    });
});

describe("virsh's failures", () => {
    it("name the object, the sub-command and carry virsh's own message on one line", () => {
        const e = virshError(
            "Domain",
            "lab-web1",
            ["start", "lab-web1"],
            result("error: Failed to start domain 'lab-web1'\nerror: Cannot access storage file '/x'\n"),
        );
        assert.equal(
            e.message,
            `libvirt Domain "lab-web1": virsh start failed: error: Failed to start domain 'lab-web1' error: Cannot access storage file '/x'`,
        );
    });

    it("fall back to stdout, then to the exit code", () => {
        assert.match(virshError("Network", "n", ["net-start"], { code: 2, stdout: "out", stderr: "", timedOut: false }).message, /failed: out$/);
        assert.match(virshError("Network", "n", ["net-start"], result("", 5)).message, /failed: exit code 5$/);
    });

    it("tell a missing object from other errors", () => {
        assert.ok(isNotFound(result("error: failed to get domain 'x'\nerror: Domain not found: no domain with matching name 'x'")));
        assert.ok(isNotFound(result("error: failed to get network 'x'\nerror: Network not found: no network with matching name 'x'")));
        assert.ok(isNotFound(result("error: failed to get vol '/p/x'\nerror: Storage volume not found: no storage vol with matching path")));
        assert.ok(isNotFound(result("error: failed to get pool 'p'\nerror: Storage pool not found: no storage pool with matching name 'p'")));
        assert.ok(!isNotFound(result("error: failed to connect to the hypervisor")));
        assert.ok(!isNotFound(result("error: Requested operation is not valid: domain is not running")));
        assert.ok(!isNotFound(result("error: Domain not found", 0)));
    });
});

describe("connection URIs", () => {
    it("are local without a host part", () => {
        assert.ok(isLocalUri("qemu:///system"));
        assert.ok(isLocalUri("qemu+unix:///system"));
        assert.ok(!isLocalUri("qemu+ssh://root@host/system"));
        assert.ok(!isLocalUri("qemu+ssh:///system"));
        assert.ok(!isLocalUri("qemu://host/system"));
    });
});

describe("virsh info listings", () => {
    it("parse into key/value pairs", () => {
        const info = parseInfo("Name:           lab\nUUID:           1234\nActive:         yes\nBridge:         lvsbr0\n");
        assert.deepEqual(info, { Name: "lab", UUID: "1234", Active: "yes", Bridge: "lvsbr0" });
    });
});
