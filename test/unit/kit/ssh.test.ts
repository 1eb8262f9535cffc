// A login held open between a setup and its teardown, through a fake ssh
// that runs the remote command here.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { AnswerLog, sshHold, watchOnGuest } from "../../../proofs/kit";
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

    it("watches a test on the guest over one login: each change, dated, until stopped", async () => {
        const flag = path.join(temp.dir, "flag");
        const watch = watchOnGuest(access, "director", `[ -e ${flag} ]`, 30, 50);
        const started = Date.now();
        const first = await watch.until(false, started, 5000);
        assert.ok(first !== undefined && first >= started, "no flag yet: the first answer is no");
        const raisedAt = Date.now();
        fs.writeFileSync(flag, "");
        const seen = await watch.until(true, raisedAt, 5000);
        assert.ok(seen !== undefined && seen >= raisedAt, "the change is seen after it was made");
        assert.equal(watch.current, true);
        watch.stop();
        fs.rmSync(flag);
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

describe("a watch's answers (AnswerLog)", () => {
    it("dates each change on arrival, across chunks, and ignores other lines", () => {
        let clock = 1000;
        const log = new AnswerLog(() => clock);
        assert.equal(log.current, undefined);
        log.feed("ye");
        clock = 1100;
        log.feed("s\nwarning: something\n");
        assert.equal(log.current, true);
        clock = 2000;
        log.feed("no\n");
        assert.equal(log.current, false);
    });

    it("answers `until` with the first moment at or after `since`, or `since` when the answer already held", async () => {
        let clock = 1000;
        const log = new AnswerLog(() => clock);
        log.feed("yes\n");
        clock = 3000;
        log.feed("no\n");
        assert.equal(await log.until(true, 2000, 0), 2000, "yes held at 2000");
        assert.equal(await log.until(false, 2000, 0), 3000);
        assert.equal(await log.until(false, 500, 0), 3000);
    });

    it("waits for an answer still to come, and gives up at its limit or once the login closed", async () => {
        const log = new AnswerLog();
        log.feed("yes\n");
        const since = Date.now() + 1;
        const waiting = log.until(false, since, 5000);
        setTimeout(() => log.feed("no\n"), 20);
        assert.ok((await waiting) !== undefined);
        assert.equal(await log.until(true, Date.now() + 1, 30), undefined, "no yes within 30 ms");
        const closed = log.until(true, Date.now() + 1, 5000);
        log.close();
        assert.equal(await closed, undefined);
    });
});
