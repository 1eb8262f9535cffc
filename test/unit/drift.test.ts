// Drift as a person reads it (scripts/drift.ts: check's table and exit
// status, the one-line summary of refresh and status) and as the drift proof
// judges it (proofs/drift.ts: what refresh must name, what up may touch).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GUEST_FACTS_TYPE, GuestFactsOutputs } from "../../components/facts";
import { refreshProblems, repairProblems } from "../../proofs/drift";
import { checkStatus, driftSummary, factsTable, recordedFacts } from "../../scripts/drift";

function factsResource(machine: string, observed: Record<string, string>, reachable = true): { type: string; outputs: Record<string, unknown> } {
    const outputs: GuestFactsOutputs = {
        machine,
        host: `10.0.0.${machine.length}`,
        user: "lab",
        privateKey: "key",
        reader: "true",
        wanted: { "arp_ignore all": "1", "web root": "192.168.7.250:/opt/wwwroot" },
        steps: [],
        stepsStdin: "",
        observed,
        reachable,
    };
    return { type: GUEST_FACTS_TYPE, outputs: outputs as unknown as Record<string, unknown> };
}

const AS_WANTED = { "arp_ignore all": "1", "web root": "192.168.7.250:/opt/wwwroot" };

describe("drift from the state", () => {
    const machines = recordedFacts([
        factsResource("web1", AS_WANTED),
        factsResource("web3", { ...AS_WANTED, "arp_ignore all": "0" }),
        factsResource("web4", { ...AS_WANTED, "arp_ignore all": "0" }, false),
        { type: "pulumi-nodejs:dynamic/libvirt:Domain", outputs: {} },
    ]);

    it("judges each machine's facts, an unreachable one not as drift", () => {
        assert.deepEqual(
            machines.map((machine) => [machine.machine, machine.reachable, machine.drifted]),
            [
                ["web1", true, 0],
                ["web3", true, 1],
                ["web4", false, 0],
            ],
        );
    });

    it("prints each drifted fact with both values, every fact with check, and an unreachable machine as such", () => {
        const table = factsTable(machines, true);
        assert.ok(table.includes("  DRIFTED  arp_ignore all: wanted 1, live 0"));
        assert.ok(table.includes("  ok       web root = 192.168.7.250:/opt/wwwroot"));
        assert.ok(table.some((line) => line.startsWith("web4 (") && line.includes("UNREACHABLE")));
        assert.ok(!factsTable(machines, false).some((line) => line.startsWith("  ok")), "without every fact, only what drifted");
    });

    it("sums it up in one line and an exit status: 1 drift, 3 unreachable only, 0 as wanted", () => {
        assert.equal(driftSummary(machines), "facts: drifted: web3 (1); scripts/lab check shows each fact, scripts/lab up puts them back; unreachable: web4");
        assert.equal(checkStatus(machines), 1);
        assert.equal(checkStatus(machines.filter((machine) => machine.machine !== "web3")), 3);
        assert.equal(checkStatus(machines.filter((machine) => machine.machine === "web1")), 0);
        assert.equal(driftSummary(machines.slice(0, 1)), "facts: every machine as wanted (1 machine)");
    });
});

describe("the drift proof's verdicts", () => {
    const changes = [{ machine: "web3", command: "sudo sysctl -qw net.ipv4.conf.all.arp_ignore=0", facts: ["arp_ignore all"] }];

    it("passes a refresh that names the changed fact and nothing else, fails one that missed it or blamed another machine", () => {
        const good = recordedFacts([factsResource("web1", AS_WANTED), factsResource("web3", { ...AS_WANTED, "arp_ignore all": "0" })]);
        assert.deepEqual(refreshProblems(good, changes), []);
        const missed = recordedFacts([factsResource("web1", { ...AS_WANTED, "web root": "not mounted" }), factsResource("web3", AS_WANTED)]);
        assert.deepEqual(refreshProblems(missed, changes), [
            "web1 was not touched but reads as drifted: web root",
            "web3: arp_ignore all was changed by hand but does not read as drifted",
        ]);
    });

    it("passes an up that updated only the drifted machine's facts, fails one that touched more or not that", () => {
        const step = (name: string, type: string, op = "update") => ({
            urn: `urn:pulumi:e2e::lvs-dr-lab::${type}::${name}`,
            type,
            op,
            startSecond: 0,
            seconds: 1,
        });
        assert.deepEqual(repairProblems({ steps: [step("web3-facts", GUEST_FACTS_TYPE), step("web1-facts", GUEST_FACTS_TYPE, "same")] }, changes), []);
        assert.deepEqual(repairProblems({ steps: [step("web1-web", "command:remote:Command")] }, changes), [
            "unexpected update of command:remote:Command web1-web",
            "web3-facts was not updated: its machine's steps did not run again",
        ]);
    });
});
