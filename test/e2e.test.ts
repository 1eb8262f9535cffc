// The end-to-end harness's own judgement: what scaling and a mode switch may
// change, how the drills read their continuous requests, how a run that
// goes on after a failed phase counts its phases, and where it finds the
// stack's libvirt prefix when up failed before there were outputs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OperationResult } from "../scripts/automation";
import { leftovers, MODES, modeSwitchProblems, Phase, prefixFromDeployment, scalingProblems, tally } from "../scripts/e2e";
import { ProbeSample, summarizeProbe } from "../scripts/probe";

function result(...steps: [op: string, type: string, name: string][]): OperationResult {
    return {
        operation: "up",
        seconds: 1,
        changes: {},
        steps: steps.map(([op, type, name]) => ({ op, type, urn: `urn:pulumi:e2e::lvs-dr-lab::${type}::${name}` })),
    };
}

const COMMAND = "command:remote:Command";
const DIRECTORS = ["director", "director2"];

describe("scaling judgement", () => {
    it("accepts the added server's own resources, both directors' table updates and a provider update", () => {
        const scaled = result(
            ["create", "lvslab:index:RealServer", "web5"],
            ["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web5-vm"],
            ["create", COMMAND, "web5-web"],
            ["update", "pulumi:providers:pulumi-nodejs", "default"],
            ["same", "pulumi-nodejs:dynamic/libvirt:Domain", "web1-vm"],
            ["update", COMMAND, "director-lb"],
            ["update", COMMAND, "director2-lb"],
        );
        assert.deepEqual(scalingProblems(scaled, "web5", DIRECTORS), []);
    });

    it("refuses a replaced or updated machine of another name, and a director whose table was not updated", () => {
        const scaled = result(
            ["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web5-vm"],
            ["replace", "pulumi-nodejs:dynamic/libvirt:Domain", "web1-vm"],
            ["update", COMMAND, "web2-web"],
            ["update", COMMAND, "director-lb"],
        );
        assert.deepEqual(scalingProblems(scaled, "web5", DIRECTORS), [
            "unexpected replace of pulumi-nodejs:dynamic/libvirt:Domain web1-vm",
            `unexpected update of ${COMMAND} web2-web`,
            "director2-lb was not updated",
        ]);
    });

    it("does not take web50's resources for web5's", () => {
        const scaled = result(["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web50-vm"], ["update", COMMAND, "director-lb"]);
        assert.deepEqual(scalingProblems(scaled, "web5", ["director"]), ["unexpected create of pulumi-nodejs:dynamic/libvirt:Domain web50-vm"]);
    });
});

describe("mode switch judgement", () => {
    it("accepts in-place updates of the directors' tables and every server's forwarding, nothing else", () => {
        const switched = result(["update", COMMAND, "director-lb"], ["update", COMMAND, "web1-forwarding"], ["update", COMMAND, "web2-forwarding"]);
        assert.deepEqual(modeSwitchProblems(switched, ["director"], ["web1", "web2"]), []);
    });

    it("refuses a replaced step, a touched web tier and a server left in the old mode", () => {
        const switched = result(["update", COMMAND, "director-lb"], ["replace", COMMAND, "web1-forwarding"], ["update", COMMAND, "web1-web"]);
        assert.deepEqual(modeSwitchProblems(switched, ["director"], ["web1"]), [
            `unexpected replace of ${COMMAND} web1-forwarding`,
            `unexpected update of ${COMMAND} web1-web`,
            "web1-forwarding was not updated",
        ]);
    });
});

describe("summarizeProbe", () => {
    const at = (second: number, ok: boolean): ProbeSample => ({ at: 1_000_000 + second * 1000, ok });
    const event = 1_000_000 + 10_000;

    it("counts failures after the event and the time until requests succeed again", () => {
        const samples = [at(9, true), at(10, false), at(11, false), at(12.5, false), at(13, true), at(14, true)];
        assert.deepEqual(summarizeProbe(samples, event), {
            requests: 6,
            failed: 3,
            failedAfterEvent: 3,
            recoveredAfterSeconds: 3,
            firstFailureAfterSeconds: 0,
            lastFailureAfterSeconds: 2.5,
            outageSeconds: 3,
        });
    });

    it("measures the outage from the first failure, not from the event", () => {
        const samples = [at(10, true), at(12, true), at(14, false), at(15, false), at(16, true)];
        const summary = summarizeProbe(samples, event);
        assert.equal(summary.recoveredAfterSeconds, 6);
        assert.equal(summary.outageSeconds, 2);
    });

    it("reports no recovery as infinite, and nothing failed as zero", () => {
        assert.equal(summarizeProbe([at(10, true), at(11, false)], event).recoveredAfterSeconds, Number.POSITIVE_INFINITY);
        const clean = summarizeProbe([at(9, false), at(10, true), at(11, true)], event);
        assert.equal(clean.recoveredAfterSeconds, 0);
        assert.equal(clean.outageSeconds, 0);
        assert.equal(clean.failedAfterEvent, 0);
        assert.equal(clean.failed, 1, "a failure before the event still counts in the total");
    });
});

describe("a run that goes on after a failure", () => {
    it("counts passed, failed and skipped phases apart", () => {
        const list: Phase[] = [
            { name: "up", seconds: 1, ok: true, detail: "" },
            { name: "switch to nat in place", seconds: 1, ok: false, detail: "boom" },
            { name: "smoke (nat)", seconds: 0, ok: false, skipped: true, detail: 'skipped: "switch to nat in place" failed' },
            { name: "smoke (tun)", seconds: 1, ok: true, detail: "" },
        ];
        assert.deepEqual(tally(list), { passed: 2, failed: 1, skipped: 1 });
    });

    it("checks draining in every mode, DR first", () => {
        assert.deepEqual([...MODES], ["dr", "nat", "tun"]);
    });
});

describe("prefixFromDeployment", () => {
    const stackUrn = "urn:pulumi:e2e::lvs-dr-lab::pulumi:pulumi:Stack::lvs-dr-lab-e2e";
    const suffix = {
        urn: "urn:pulumi:e2e::lvs-dr-lab::lvslab:index:Foundation$random:index/randomString:RandomString::lab-suffix",
        type: "random:index/randomString:RandomString",
        outputs: { result: "ab12cd" },
    };

    it("finds the foundation's libvirtPrefix output in an exported state", () => {
        const deployment = {
            resources: [
                { urn: stackUrn, type: "pulumi:pulumi:Stack", outputs: {} },
                suffix,
                { urn: "urn:pulumi:e2e::lvs-dr-lab::lvslab:index:Foundation::lab", type: "lvslab:index:Foundation", outputs: { libvirtPrefix: "mine-ab12cd" } },
            ],
        };
        assert.equal(prefixFromDeployment(deployment, "lvslab"), "mine-ab12cd");
    });

    it("falls back to namePrefix and the random suffix when the component recorded no outputs yet", () => {
        assert.equal(prefixFromDeployment({ resources: [{ urn: stackUrn, type: "pulumi:pulumi:Stack" }, suffix] }, "lvslab"), "lvslab-ab12cd");
    });

    it("gives nothing for an empty or foreign state", () => {
        assert.equal(prefixFromDeployment(undefined, "lvslab"), undefined);
        assert.equal(prefixFromDeployment({}, "lvslab"), undefined);
        assert.equal(prefixFromDeployment({ resources: [{ outputs: { libvirtPrefix: "" } }, {}, { ...suffix, urn: "urn:...::other" }] }, "lvslab"), undefined);
    });
});

describe("leftovers", () => {
    it("fails, never reports nothing left, when libvirt cannot be asked", () => {
        const uri = "qemu:///system?socket=/nonexistent/lvslab-test/libvirt-sock";
        assert.throws(() => leftovers(uri, "lvslab", "lvslab-"), /cannot tell what is left: virsh -c qemu:\/\/\/system\?socket=\/nonexistent\S* list --all --name failed: .*/);
    });
});
