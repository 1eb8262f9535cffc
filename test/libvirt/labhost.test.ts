// scripts/labhost.sh without starting anything: its interface, its answers
// when no lab host runs, and its lint. (Start and stop against a real
// libvirtd are exercised by real.test.ts.)
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const LABHOST = join(resolve(__dirname, "../../.."), "scripts/labhost.sh");
const runDir = mkdtempSync(join(tmpdir(), "lvslab-labhost-"));
after(() => rmSync(runDir, { recursive: true, force: true }));

// A state dir and names no lab host uses: nothing here may touch a running one.
const env = {
    ...process.env,
    LVSLAB_RUN_DIR: runDir,
    LVSLAB_NETNS: "lvslab-never",
    LVSLAB_POOL: "lvslab-never",
    LVSLAB_POOL_DIR: join(runDir, "pool"),
};

function labhost(...args: string[]) {
    const r = spawnSync(LABHOST, args, { encoding: "utf8", env, timeout: 60_000 });
    return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

describe("scripts/labhost.sh", () => {
    it("--help names every command and the environment settings", () => {
        const r = labhost("--help");
        assert.equal(r.code, 0);
        for (const word of ["start", "stop", "--purge", "status", "exec", "LVSLAB_NETNS", "LVSLAB_RUN_DIR", "LVSLAB_POOL", "LVSLAB_POOL_DIR"]) {
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
        assert.match(r.stdout, /^mode:\s+none$/m);
        assert.match(r.stdout, /^up:\s+no$/m);
        assert.match(r.stdout, /^pool:\s+lvslab-never /m);
    });

    it("exec refuses to run anything before start, naming the fix", () => {
        const r = labhost("exec", "true");
        assert.equal(r.code, 1);
        assert.match(r.stderr, /not started \(run: .*labhost\.sh start\)/);
        assert.match(r.stderr, new RegExp(`see ${runDir}/labhost\\.log`));
    });

    it("stop succeeds when nothing was started, and twice", () => {
        assert.equal(labhost("stop").code, 0);
        const r = labhost("stop", "--purge");
        assert.equal(r.code, 0, r.stderr);
        assert.equal(existsSync(join(runDir, "pool")), false);
    });

    it("passes shellcheck", () => {
        const r = spawnSync("shellcheck", [LABHOST], { encoding: "utf8", timeout: 60_000 });
        assert.ok(!r.error, `shellcheck could not run (apt-get install shellcheck): ${r.error}`);
        assert.equal(r.status, 0, r.stdout + r.stderr);
    });
});
