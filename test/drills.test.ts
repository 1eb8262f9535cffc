// The drills' verdicts: what counts as recreating only the lost server, a
// persisted guest, an orphan, a refused configuration.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateConfig } from "../components/config";
import {
    BAD_CONFIGS,
    drillsTable,
    messageFor,
    parseProbe,
    probeProblems,
    recreateProblems,
    stateVersusLibvirt,
    summariseAnswers,
    verdict,
} from "../scripts/drills";
import { SEED_RAW } from "./helpers/seed";

function steps(...list: [op: string, type: string, name: string][]) {
    return { steps: list.map(([op, type, name]) => ({ op, type, urn: `urn:pulumi:drills::lvs-dr-lab::${type}::${name}` })) };
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
        const result = steps(
            ["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web3-vm"],
            ["replace", "pulumi-nodejs:dynamic/libvirt:Domain", "web1-vm"],
        );
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
