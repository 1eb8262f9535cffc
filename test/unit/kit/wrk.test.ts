// wrk's output read into figures, and what makes a run's figures worthless.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration, parseWrk, wrkProblems } from "../../../proofs/kit";

const WRK_OUTPUT = `Running 15s test @ http://172.16.16.172/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    14.52ms    6.03ms 180.12ms   81.00%
    Req/Sec   550.12     60.00   700.00     70.00%
  Latency Distribution
     50%   13.10ms
     75%   16.00ms
     90%  720.00us
     99%    1.20s
  16500 requests in 15.02s, 4.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   1098.54
Transfer/sec:    279.50KB
`;

describe("wrk output", () => {
    it("gives requests per second, the request count and the duration", () => {
        const r = parseWrk(WRK_OUTPUT);
        assert.equal(r.requestsPerSecond, 1098.54);
        assert.equal(r.requests, 16500);
        assert.equal(r.seconds, 15.02);
    });

    it("gives the latency percentiles in milliseconds whatever unit wrk printed", () => {
        const r = parseWrk(WRK_OUTPUT);
        assert.equal(r.latencyMs.p50, 13.1);
        assert.equal(r.latencyMs.p75, 16);
        assert.equal(r.latencyMs.p90, 0.72);
        assert.equal(r.latencyMs.p99, 1200);
        assert.equal(r.latencyMs.mean, 14.52);
        assert.equal(r.latencyMs.max, 180.12);
    });

    it("reads socket errors by kind and non-2xx answers, and counts them as errors", () => {
        const r = parseWrk(WRK_OUTPUT);
        assert.deepEqual(r.socketErrors, { connect: 0, read: 2, write: 0, timeout: 3 });
        assert.equal(r.non2xx, 4);
        assert.equal(r.errors, 9);
        const clean = parseWrk(WRK_OUTPUT.replace(/^\s*Socket errors.*\n/m, "").replace(/^\s*Non-2xx.*\n/m, ""));
        assert.deepEqual([clean.errors, clean.non2xx, clean.socketErrors], [0, 0, { connect: 0, read: 0, write: 0, timeout: 0 }]);
    });

    it("makes socket errors and non-2xx answers problems of the run, and a clean run none", () => {
        assert.deepEqual(wrkProblems(parseWrk(WRK_OUTPUT)), ["4 of 16500 answers were not 2xx or 3xx", "socket errors: connect 0, read 2, write 0, timeout 3"]);
        const clean = WRK_OUTPUT.replace(/^\s*Socket errors.*\n/m, "").replace(/^\s*Non-2xx.*\n/m, "");
        assert.deepEqual(wrkProblems(parseWrk(clean)), []);
        const refused = clean
            .replace("16500 requests in", "0 requests in")
            .replace("Requests/sec:", "  Socket errors: connect 16, read 0, write 0, timeout 0\nRequests/sec:");
        assert.deepEqual(wrkProblems(parseWrk(refused)), ["no request completed", "socket errors: connect 16, read 0, write 0, timeout 0"]);
    });

    it("refuses output without the percentiles (wrk run without --latency)", () => {
        const withoutLatency = WRK_OUTPUT.replace(/ {2}Latency Distribution[\s\S]*?(?= {2}16500)/, "");
        assert.throws(() => parseWrk(withoutLatency), /50% percentile/);
    });

    it("refuses a duration it does not know", () => {
        assert.equal(parseDuration("2.00m"), 120_000);
        assert.throws(() => parseDuration("3h"), /not a wrk duration/);
    });
});
