// labhost/labhost.sh without starting anything: its interface, its answers
// when no lab host runs, and its lint. (Start and stop against a real
// libvirtd are exercised by test/live/libvirt.test.ts.)
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const LABHOST = join(resolve(__dirname, "../../../.."), "labhost/labhost.sh");
const runDir = mkdtempSync(join(tmpdir(), "lvslab-labhost-"));
after(() => rmSync(runDir, { recursive: true, force: true }));

// A root and a name no lab host uses: nothing here may touch a running one.
const root = join(runDir, "labhost");
const env = {
    ...process.env,
    LVSLAB_LABHOST: "lvslab-never",
    LVSLAB_LABHOST_ROOT: root,
};

function labhost(...args: string[]) {
    const r = spawnSync(LABHOST, args, { encoding: "utf8", env, timeout: 60_000 });
    return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

describe("labhost/labhost.sh", () => {
    it("--help names every command and the environment settings", () => {
        const r = labhost("--help");
        assert.equal(r.code, 0);
        for (const word of [
            "start",
            "stop",
            "--purge",
            "--purge-if-empty",
            "status",
            "exec",
            "uri",
            "LVSLAB_LABHOST",
            "LVSLAB_HOME",
            "LVSLAB_LABHOST_ROOT",
            "LVSLAB_NETNS",
            "LVSLAB_POOL",
        ]) {
            assert.ok(r.stdout.includes(word), `--help does not mention ${word}`);
        }
    });

    it("refuses an unknown command with the usage and exit code 2", () => {
        const r = labhost("launch");
        assert.equal(r.code, 2);
        assert.match(r.stderr, /^Usage: /);
    });

    it("status says not up and exits 3 when nothing was started", () => {
        const r = labhost("status");
        assert.equal(r.code, 3);
        assert.match(r.stdout, /^labhost:\s+lvslab-never$/m);
        assert.match(r.stdout, /^up:\s+no$/m);
        assert.match(r.stdout, new RegExp(`^root:\\s+${root} \\(none\\)$`, "m"));
        // Asking changes nothing: no root appears.
        assert.equal(existsSync(root), false);
    });

    it("exec refuses to run anything before start, naming the fix", () => {
        const r = labhost("exec", "true");
        assert.equal(r.code, 1);
        assert.match(r.stderr, /lab host lvslab-never is not started \(run: scripts\/lab host start\)/);
    });

    it("stop succeeds when nothing was started, and twice", () => {
        assert.equal(labhost("stop").code, 0);
        const r = labhost("stop", "--purge");
        assert.equal(r.code, 0, r.stderr);
        assert.equal(existsSync(root), false);
    });

    it("uri names the socket inside the lab host's root", () => {
        const r = labhost("uri");
        assert.equal(r.code, 0);
        assert.equal(r.stdout.trim(), `qemu:///system?socket=${root}/run/libvirt/libvirt-sock`);
    });

    it("refuses a lab host name that cannot be a namespace's, naming the setting", () => {
        const r = spawnSync(LABHOST, ["status"], { encoding: "utf8", env: { ...env, LVSLAB_LABHOST: "a/b" }, timeout: 60_000 });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /LVSLAB_LABHOST="a\/b": a lab host's name is letters, digits, - and _ only/);
    });

    it("refuses a guest niceness that is not one, naming the setting", () => {
        for (const nice of ["-5", "20", "ten"]) {
            const r = spawnSync(LABHOST, ["status"], { encoding: "utf8", env: { ...env, LVSLAB_GUEST_NICE: nice }, timeout: 60_000 });
            assert.equal(r.status, 1, nice);
            assert.match(r.stderr, new RegExp(`LVSLAB_GUEST_NICE="${nice}": the guests' niceness is a whole number from 0 \\(as the tools\\) to 19`));
        }
    });
});
