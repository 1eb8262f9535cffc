// A stack as the proofs read it: what an in-place change may touch, where
// its libvirt objects are when it has no outputs, the NFS export's path.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changedSteps, exportPathOf, prefixFromDeployment, scalingProblems } from "../../../proofs/kit";
import { COMMAND, operationResult } from "../../helpers/operations";

const result = operationResult;
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

describe("the NFS export's path", () => {
    it("takes the export's path from the nfsExport output", () => {
        assert.equal(exportPathOf("192.168.7.250:/opt/wwwroot"), "/opt/wwwroot");
        assert.throws(() => exportPathOf("/opt/wwwroot-without-address"), /not address:\/path/);
    });
});

describe("what an operation changed", () => {
    it("is every step but same and the refresh an up that refreshes first takes of each resource", () => {
        const result = operationResult(
            ["refresh", COMMAND, "web1-web"],
            ["same", COMMAND, "web1-web"],
            ["update", COMMAND, "director-lb"],
            ["refresh", COMMAND, "director-lb"],
        );
        assert.deepEqual(changedSteps(result), [{ op: "update", type: COMMAND, name: "director-lb" }]);
    });
});
