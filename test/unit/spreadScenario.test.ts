// The spread scenario's own judgement (proofs/spread.ts): where each machine
// runs, the VIP's neighbour entry, the lab's VXLAN devices. (Its shell passes
// shellcheck with every other shell file: test/unit/shell.test.ts.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { labVxlanDevices, placementProblems } from "../../proofs/spread";
import { neighbourMac } from "../../scripts/tools/parse";

describe("the spread scenario's verdicts", () => {
    it("passes when every machine runs on its own host and nowhere else", () => {
        const expected = { a: ["lab-director", "lab-web1"], b: ["lab-web3"] };
        assert.deepEqual(placementProblems(expected, { a: ["lab-web1", "lab-director"], b: ["lab-web3"] }), []);
    });

    it("names a machine missing from its host and one running where it was not placed", () => {
        const problems = placementProblems({ a: ["lab-director"], b: ["lab-web3"] }, { a: ["lab-director", "lab-web3"], b: [] });
        assert.deepEqual(problems, ["lab-web3 runs on host a, where it was not placed", "lab-web3 is not running on host b"]);
    });

    it("reads the VIP's MAC from ip neigh, and nothing from an entry without one", () => {
        const text = "172.16.16.172 dev lv1-p lladdr 52:54:00:10:AD:10 REACHABLE\n172.16.16.17 dev lv1-p FAILED\n";
        assert.equal(neighbourMac(text, "172.16.16.172"), "52:54:00:10:ad:10");
        assert.equal(neighbourMac(text, "172.16.16.17"), undefined);
        assert.equal(neighbourMac(text, "172.16.16.1"), undefined);
    });

    it("counts only the lab's VXLAN devices", () => {
        const json = JSON.stringify([{ ifname: "lvab12cd-vp" }, { ifname: "lvab12cd-vs" }, { ifname: "vx100" }]);
        assert.deepEqual(labVxlanDevices(json, "lvab12cd"), ["lvab12cd-vp", "lvab12cd-vs"]);
        assert.deepEqual(labVxlanDevices("", "lvab12cd"), []);
    });

    it("fails, never reads as no VXLAN devices, when ip's answer cannot be read", () => {
        assert.throws(
            () => labVxlanDevices('Error: argument "vxlan" is wrong: unknown type', "lvab12cd"),
            /^Error: cannot tell which VXLAN devices there are: ip's answer is not JSON/,
        );
        assert.throws(() => labVxlanDevices('[{"ifname": "lvab12cd-vp"}', "lvab12cd"), /cannot tell which VXLAN devices there are: ip's answer is not JSON/);
        assert.throws(
            () => labVxlanDevices('{"ifname": "lvab12cd-vp"}', "lvab12cd"),
            /cannot tell which VXLAN devices there are: ip's answer is not a list of links/,
        );
    });
});
