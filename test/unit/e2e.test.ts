// The end-to-end test's own judgement: what a mode switch may change, how
// the drills read their continuous requests, and the modes it drains in.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, modeSwitchProblems } from "../../proofs/e2e";
import { failureTimes, ProbeSample, summarizeProbe } from "../../proofs/probe";
import { COMMAND, operationResult } from "../helpers/operations";

const result = operationResult;
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

    it("lists when the failed requests from the event on started", () => {
        assert.equal(failureTimes([at(9, false), at(10.2, false), at(11, true), at(12.5, false)], event), "0.2, 2.5");
        assert.equal(failureTimes([at(9, false), at(11, true)], event), "none");
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

describe("the modes", () => {
    it("checks draining in every mode, DR first", () => {
        assert.deepEqual([...MODES], ["dr", "nat", "tun"]);
    });
});
