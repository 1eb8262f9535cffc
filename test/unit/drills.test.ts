// The drills' verdicts: what counts as recreating only the lost server, a
// persisted guest, an orphan, a refused configuration, and proof that each
// fault (the NFS store down, an interrupted up, an unreachable guest) took
// effect before the recovery is judged.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { validateConfig } from "../../components/config";
import {
    BAD_CONFIGS,
    drillsTable,
    fullLabResourceCount,
    interruptedUpProblems,
    messageFor,
    parseProbe,
    probeProblems,
    recreateProblems,
    stateVersusLibvirt,
    storeLookupProbe,
    storeOutageProblems,
    summariseAnswers,
    unreachableProblems,
    verdict,
} from "../../proofs/drills";
import { SEED_RAW } from "../helpers/seed";
import { findExecutable, makeTempDir } from "../helpers/tools";

function steps(...list: [op: string, type: string, name: string][]) {
    return { steps: list.map(([op, type, name]) => ({ op, type, urn: `urn:pulumi:drills::lvs-dr-lab::${type}::${name}`, startSecond: 0, seconds: 0 })) };
}

describe("a lost real server's VM", () => {
    it("passes when only that server's resources are created or replaced", () => {
        const result = steps(
            ["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web3-vm"],
            ["replace", "command:remote:Command", "web3-web"],
            ["update", "pulumi:providers:pulumi-nodejs", "default"],
            ["same", "pulumi-nodejs:dynamic/libvirt:Domain", "web1-vm"],
        );
        assert.deepEqual(recreateProblems(result, "web3"), []);
    });

    it("fails when another machine is touched", () => {
        const result = steps(["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web3-vm"], ["replace", "pulumi-nodejs:dynamic/libvirt:Domain", "web1-vm"]);
        assert.deepEqual(recreateProblems(result, "web3"), ["unexpected replace of pulumi-nodejs:dynamic/libvirt:Domain web1-vm"]);
    });

    it("fails when the VM is not created again, and does not take web30 for web3", () => {
        const result = steps(["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web30-vm"]);
        assert.deepEqual(recreateProblems(result, "web3"), [
            "unexpected create of pulumi-nodejs:dynamic/libvirt:Domain web30-vm",
            "web3-vm was not created again",
        ]);
    });
});

describe("a rebooted guest", () => {
    it("reads key=value lines and ignores anything else", () => {
        assert.deepEqual(parseProbe("boot=abc\nnoise\n arp_ignore=1 \npage=welcome to beijing!!!\n"), {
            boot: "abc",
            arp_ignore: "1",
            page: "welcome to beijing!!!",
        });
    });

    it("names each setting that did not persist, and a missing one", () => {
        const problems = probeProblems("web1", { arp_ignore: "0", vip_on_lo: "1" }, { arp_ignore: "1", vip_on_lo: "1", webroot: "nfs" });
        assert.deepEqual(problems, ['web1: arp_ignore is "0", expected "1"', 'web1: webroot is "(missing)", expected "nfs"']);
    });
});

describe("state against libvirt", () => {
    const state = { networks: ["p-public"], domains: ["p-web1"], volumes: ["p-web1.qcow2"] };

    it("finds an orphan libvirt object the state does not name", () => {
        const found = stateVersusLibvirt(["network p-public", "domain p-web1", "domain p-web5", "volume p-web1.qcow2"], state);
        assert.deepEqual(found, { orphans: ["domain p-web5"], missing: [] });
    });

    it("finds an object the state names that libvirt lacks", () => {
        assert.deepEqual(stateVersusLibvirt(["network p-public", "domain p-web1"], state), { orphans: [], missing: ["volume p-web1.qcow2"] });
    });
});

describe("verdicts and the table", () => {
    it("passes only without problems, and shows the problems as observed", () => {
        assert.equal(verdict("d", "e", ["fact"], [], 1).pass, true);
        const failed = verdict("d", "e", ["fact"], ["broken"], 1);
        assert.equal(failed.pass, false);
        assert.equal(failed.observed, "fact; PROBLEM: broken");
    });

    it("prints drill, expected, observed and PASS/FAIL", () => {
        const table = drillsTable([verdict("reboot", "serves", [], [], 1), verdict("nfs", "recovers", [], ["not recovered"], 1)]);
        const lines = table.split("\n");
        assert.match(lines[0], /^drill\s+expected\s+observed\s+verdict$/);
        assert.match(lines[2], /^reboot\s+serves\s+as expected\s+PASS$/);
        assert.match(lines[3], /FAIL$/);
    });

    it("counts answers by kind", () => {
        assert.equal(summariseAnswers(["200", "timeout", "200"]), "2x 200, 1x timeout");
        assert.equal(summariseAnswers([]), "no requests");
    });
});

describe("the bad configurations", () => {
    const host = { fileExists: (file: string) => !file.startsWith("/nonexistent"), homeDir: "/root" };

    for (const bad of BAD_CONFIGS) {
        it(`refuses ${bad.name} with a message naming ${bad.names}`, () => {
            const result = validateConfig({ ...SEED_RAW, ...bad.set }, host);
            assert.equal(result.ok, false);
            const problems = result.ok ? [] : result.problems;
            assert.ok(messageFor(problems.join("\n"), bad.names), `no message names ${bad.names}: ${problems.join(" | ")}`);
        });
    }

    it("finds the setting as a word, not inside another key", () => {
        assert.equal(messageFor("error:\n  - vipUrl: broken", "vip"), undefined);
        assert.equal(messageFor("error:\n  - vip: outside", "vip"), "vip: outside");
    });
});

describe("the NFS store stopped: the fault took effect", () => {
    const killed = { rc: "137", said: "" };

    it("holds when no real server's fresh look-up on the export was answered (killed, or an I/O error)", () => {
        assert.deepEqual(storeOutageProblems({ web1: killed, web2: { rc: "1", said: "stat: cannot statx '/var/www/html/x': Input/output error" } }), []);
    });

    it("fails when a real server still got an answer from the store (the name not found, or found)", () => {
        const answered = { rc: "1", said: "stat: cannot statx '/var/www/html/.x': No such file or directory" };
        assert.deepEqual(storeOutageProblems({ web1: killed, web2: answered, web3: { rc: "0", said: "/var/www/html/.x" } }), [
            `web2 still got an answer from the store while it was stopped (exit 1: ${answered.said}): the fault did not take effect`,
            "web3 still got an answer from the store while it was stopped (exit 0: /var/www/html/.x): the fault did not take effect",
        ]);
    });

    it("fails when a server could not be asked, printed nothing, or none was asked", () => {
        assert.deepEqual(storeOutageProblems({ web1: { error: "ssh: connect timed out" }, web2: {} }), [
            "web1 could not be asked (ssh: connect timed out): the store's outage is not shown",
            "web2's look-up printed no exit status: the store's outage is not shown",
        ]);
        assert.deepEqual(storeOutageProblems({}), ["no real server was asked: the store's outage is not shown"]);
    });

    it("reads as an answer from the store what the probe prints where the web root answers (run here with sh)", () => {
        const sh = findExecutable("sh");
        assert.ok(sh, "sh is not on PATH");
        const temp = makeTempDir("nfs-drill");
        try {
            fs.writeFileSync(path.join(temp.dir, ".there"), "");
            const run = (name: string) => parseProbe(spawnSync(sh, ["-c", storeLookupProbe(temp.dir, name, 5)], { encoding: "utf8" }).stdout);
            const missing = run(".lvslab-nfs-drill-abc");
            assert.equal(missing.rc, "1");
            assert.match(missing.said, /No such file or directory/);
            assert.equal(run(".there").rc, "0");
            assert.equal(storeOutageProblems({ web1: missing }).length, 1);
            assert.equal(storeOutageProblems({ web1: run(".there") }).length, 1);
        } finally {
            temp.cleanup();
        }
    });
});

describe("up interrupted: the first run ended early and unfinished", () => {
    const unfinished = { endedBeforeInterrupt: false, pending: [], resources: 40, fullLabResources: 48 };

    it("holds for a run killed or failed part-way, with pending operations or resources missing", () => {
        assert.deepEqual(interruptedUpProblems({ ...unfinished, end: { code: null, signal: "SIGKILL" } }), []);
        assert.deepEqual(interruptedUpProblems({ ...unfinished, end: { code: 255, signal: null }, pending: ["creating web5-vm"], resources: 48 }), []);
    });

    it("fails when the first up completed: exit 0 and every resource of the full lab, no pending operation", () => {
        assert.deepEqual(interruptedUpProblems({ ...unfinished, end: { code: 0, signal: null }, resources: 48 }), [
            "the interrupted up exited 0: it completed",
            "the interrupted up left no pending operation and 48 of 48 resources: it finished",
        ]);
    });

    it("fails when the run had ended before the interrupt, or its end was never seen", () => {
        assert.deepEqual(interruptedUpProblems({ ...unfinished, endedBeforeInterrupt: true, end: { code: 1, signal: null } }), [
            "the first up had already ended (exit 1) before the interrupt",
        ]);
        assert.deepEqual(interruptedUpProblems({ ...unfinished, end: undefined }), ["the interrupted up was not seen to end"]);
    });

    it("counts the full lab as today's resources plus one server's own", () => {
        const names = ["lvs-dr-lab-drills", "default", "director", "director-vm", "web1", "web1-vm", "web1-web", "web10-vm", "web2", "web2-vm", "web2-web"];
        assert.equal(fullLabResourceCount(names, "web1"), names.length + 3);
    });
});

describe("destroy with guests unreachable: they were", () => {
    it("holds with links cut, SSH unanswered and the store paused", () => {
        assert.deepEqual(unreachableProblems({ server: "web2", linksCut: 2, sshAnswered: false, store: "p-nfs", storeState: "paused" }), []);
    });

    it("fails when no link was cut, SSH still answered, or the store runs", () => {
        assert.deepEqual(unreachableProblems({ server: "web2", linksCut: 0, sshAnswered: true, store: "p-nfs", storeState: "running" }), [
            "no NIC link of web2 was cut (virsh domiflist gave no MAC): it was never unreachable",
            "web2 still answered SSH with its links down",
            'p-nfs is "running", not paused',
        ]);
    });
});
