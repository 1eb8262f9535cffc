// A login held open between a setup and its teardown, through a fake ssh
// that runs the remote command here.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { sshHold } from "../../../proofs/kit";
import { makeTempDir } from "../../helpers/tools";

describe("sshHold", () => {
    // A fake ssh that runs the remote command here, and a sudo that just runs it.
    const temp = makeTempDir("hold");
    const bin = path.join(temp.dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "ssh"), '#!/bin/bash\nexec bash -c "${@: -1}"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "sudo"), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
    const access = { user: "lab", privateKeyPath: "/nonexistent" };
    const savedPath = process.env.PATH;
    before(() => (process.env.PATH = `${bin}:${savedPath ?? ""}`));
    after(() => {
        process.env.PATH = savedPath;
        temp.cleanup();
    });

    it("runs the setup, holds the login until released, then runs the teardown in it", async () => {
        const file = path.join(temp.dir, "token");
        const held = await sshHold(access, "store", `echo t > ${file}`, `rm -f ${file}`);
        assert.ok(fs.existsSync(file), "the setup is done when the hold is given");
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.ok(fs.existsSync(file), "and stays until released");
        await held.release();
        assert.ok(!fs.existsSync(file), "the teardown ran before release resolved");
    });

    it("rejects with the setup's error, and still runs the teardown", async () => {
        const marker = path.join(temp.dir, "torn-down");
        await assert.rejects(sshHold(access, "store", "echo 'no space left' >&2; false", `touch ${marker}`), /store: no space left/);
        assert.ok(fs.existsSync(marker));
    });

    it("rejects a release whose teardown failed", async () => {
        const held = await sshHold(access, "store", "true", "echo 'read-only file system' >&2; exit 3");
        await assert.rejects(held.release(), /store: the teardown failed \(exit 3\): read-only file system/);
    });

    it("runs the teardown on the guest's own time limit when never released", async () => {
        const marker = path.join(temp.dir, "timed-out");
        await sshHold(access, "store", "true", `touch ${marker}`, 1);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        assert.ok(fs.existsSync(marker));
    });
});
