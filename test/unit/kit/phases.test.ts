// A proof's phases: a run that goes on after a failure, the tally, the tables.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatTable, Phase, PhaseLog, phaseTable, tally } from "../../../proofs/kit";

describe("result tables", () => {
    it("pads every column but the last to its widest cell", () => {
        const table = formatTable(
            ["phase", "seconds"],
            [
                ["up", "907.0"],
                ["no-op up", "9.0"],
            ],
        );
        assert.equal(table, ["phase     seconds", "--------  -------", "up        907.0", "no-op up  9.0"].join("\n"));
    });
});

describe("the phase table of the bench and spread summaries", () => {
    it("shows each phase's seconds, ok or FAIL and its detail cut to the width given", () => {
        const phases: Phase[] = [
            { name: "up", seconds: 907.04, ok: true, detail: "" },
            { name: "smoke", seconds: 1.25, ok: false, detail: "web2 never answered; web3 never answered" },
        ];
        assert.equal(
            phaseTable(phases, 18),
            ["phase  seconds  ok    detail", "-----  -------  ----  ------------------", "up     907.0    ok", "smoke  1.3      FAIL  web2 never answere"].join(
                "\n",
            ),
        );
    });
});

describe("a run that goes on after a failure", () => {
    it("records a body that throws as a failed phase with the error, and a check's problems as a failed phase with the value", async () => {
        const log = new PhaseLog("test");
        const thrown = await log.run("boom", () => Promise.reject(new Error("no libvirt")));
        assert.equal(thrown.ok, false);
        assert.equal(thrown.value, undefined);
        assert.match(String(thrown.error), /no libvirt/);
        const judged = await log.run(
            "judged",
            () => Promise.resolve(3),
            (value) => (value === 3 ? ["three is wrong"] : []),
        );
        assert.deepEqual(judged, { ok: false, value: 3 });
        const fine = await log.run("fine", () => Promise.resolve("x"));
        assert.equal(fine.ok, true);
        log.skip("after", "boom");
        assert.deepEqual(
            log.phases.map((p) => [p.name, p.ok, p.skipped ?? false, p.detail]),
            [
                ["boom", false, false, "no libvirt"],
                ["judged", false, false, "three is wrong"],
                ["fine", true, false, ""],
                ["after", false, true, 'skipped: "boom" failed'],
            ],
        );
    });

    it("counts passed, failed and skipped phases apart", () => {
        const list: Phase[] = [
            { name: "up", seconds: 1, ok: true, detail: "" },
            { name: "switch to nat in place", seconds: 1, ok: false, detail: "boom" },
            { name: "smoke (nat)", seconds: 0, ok: false, skipped: true, detail: 'skipped: "switch to nat in place" failed' },
            { name: "smoke (tun)", seconds: 1, ok: true, detail: "" },
        ];
        assert.deepEqual(tally(list), { passed: 2, failed: 1, skipped: 1 });
    });
});
