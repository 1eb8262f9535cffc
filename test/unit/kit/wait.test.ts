// Bounded waits, and requests repeated in the background until stopped.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BackgroundRequests, waitFor } from "../../../proofs/kit";

describe("bounded waits and background requests", () => {
    it("gives up after its bound when the test never holds, and a throwing test counts as not yet", async () => {
        const started = Date.now();
        assert.equal(await waitFor(() => Promise.reject(new Error("refused")), 150, 20), undefined);
        assert.ok(Date.now() - started >= 150);
        let calls = 0;
        const at = await waitFor(async () => ++calls === 3, 5000, 10);
        assert.equal(calls, 3);
        assert.equal(typeof at, "number");
    });

    it("keeps requesting until stopped, and never past its bound", async () => {
        let made = 0;
        const stopped = new BackgroundRequests(async () => ++made, 5, 60_000);
        stopped.start();
        await new Promise((resolve) => setTimeout(resolve, 60));
        const samples = await stopped.stop();
        assert.ok(samples.length >= 2, `only ${samples.length} samples`);
        assert.deepEqual(
            samples,
            samples.map((_, index) => index + 1),
        );
        const bounded = new BackgroundRequests(async () => 1, 5, 30);
        bounded.start();
        await new Promise((resolve) => setTimeout(resolve, 120));
        const count = bounded.samples.length;
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(bounded.samples.length, count, "it went on past its bound");
        await bounded.stop();
    });
});
