// The end-to-end harness's own judgement: what scaling may change.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OperationResult } from "../scripts/automation";
import { scalingProblems } from "../scripts/e2e";

function result(...steps: [op: string, type: string, name: string][]): OperationResult {
    return {
        operation: "up",
        seconds: 1,
        changes: {},
        steps: steps.map(([op, type, name]) => ({ op, type, urn: `urn:pulumi:e2e::lvs-dr-lab::${type}::${name}` })),
    };
}

const IPVS_UPDATE: [string, string, string] = ["update", "command:remote:Command", "director-ipvs"];

describe("scaling judgement", () => {
    it("accepts the added server's own resources, the director's table update and a provider update", () => {
        const scaled = result(
            ["create", "lvslab:index:RealServer", "web5"],
            ["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web5-vm"],
            ["create", "command:remote:Command", "web5-web"],
            ["update", "pulumi:providers:pulumi-nodejs", "default"],
            ["same", "pulumi-nodejs:dynamic/libvirt:Domain", "web1-vm"],
            IPVS_UPDATE,
        );
        assert.deepEqual(scalingProblems(scaled, "web5", "director"), []);
    });

    it("refuses a replaced or updated machine of another name, and a missing table update", () => {
        const scaled = result(
            ["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web5-vm"],
            ["replace", "pulumi-nodejs:dynamic/libvirt:Domain", "web1-vm"],
            ["update", "command:remote:Command", "web2-web"],
        );
        assert.deepEqual(scalingProblems(scaled, "web5", "director"), [
            "unexpected replace of pulumi-nodejs:dynamic/libvirt:Domain web1-vm",
            "unexpected update of command:remote:Command web2-web",
            "the director's IPVS table was not updated",
        ]);
    });

    it("does not take web50's resources for web5's", () => {
        const scaled = result(["create", "pulumi-nodejs:dynamic/libvirt:Domain", "web50-vm"], IPVS_UPDATE);
        assert.deepEqual(scalingProblems(scaled, "web5", "director"), ["unexpected create of pulumi-nodejs:dynamic/libvirt:Domain web50-vm"]);
    });
});
