// The benchmark's own arithmetic: wrk's output, ratios, /proc parsing, tables.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { descendants, formatTable, groupPeaks, parseDuration, parseProcStatus, parseWrk, ratio, resourceCounts } from "../scripts/bench";

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

    it("counts socket errors and non-2xx answers as errors", () => {
        assert.equal(parseWrk(WRK_OUTPUT).errors, 9);
        const clean = WRK_OUTPUT.replace(/^\s*Socket errors.*\n/m, "").replace(/^\s*Non-2xx.*\n/m, "");
        assert.equal(parseWrk(clean).errors, 0);
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

describe("ratios", () => {
    it("divides and rounds to two decimals", () => {
        assert.equal(ratio(907, 300), 3.02);
        assert.equal(ratio(1, 3), 0.33);
    });

    it("has no value when a side is missing or the floor is zero", () => {
        assert.equal(ratio(undefined, 3), undefined);
        assert.equal(ratio(3, 0), undefined);
        assert.equal(ratio(Number.NaN, 3), undefined);
    });
});

describe("memory sampling", () => {
    it("reads the name, parent and peak and current resident size from /proc/PID/status", () => {
        const status = "Name:\tpulumi\nUmask:\t0022\nState:\tS (sleeping)\nPPid:\t4242\nVmPeak:\t 2000000 kB\nVmHWM:\t  183500 kB\nVmRSS:\t  150000 kB\n";
        assert.deepEqual(parseProcStatus(status), { name: "pulumi", ppid: 4242, vmHwmKiB: 183500, vmRssKiB: 150000 });
    });

    it("treats kernel threads (no VmHWM) as using nothing", () => {
        assert.equal(parseProcStatus("Name:\tkworker/0:1\nPPid:\t2\n").vmHwmKiB, 0);
    });

    it("finds grandchildren but not siblings or the parent", () => {
        const parents = new Map([
            [10, 1],
            [11, 10],
            [12, 11],
            [13, 1],
            [14, 12],
        ]);
        assert.deepEqual(descendants(parents, 10).sort(), [11, 12, 14]);
        assert.deepEqual(descendants(parents, 13), []);
    });
});

describe("result tables", () => {
    it("counts resource steps per type, most frequent first", () => {
        const steps = [
            { urn: "a", type: "Domain", op: "create" },
            { urn: "b", type: "Command", op: "create" },
            { urn: "c", type: "Command", op: "create" },
        ];
        const counts = resourceCounts({ steps });
        assert.equal(counts.total, 3);
        assert.deepEqual(Object.entries(counts.byType), [
            ["Command", 2],
            ["Domain", 1],
        ]);
    });

    it("pads every column but the last to its widest cell", () => {
        const table = formatTable(["phase", "seconds"], [["up", "907.0"], ["no-op up", "9.0"]]);
        assert.equal(table, ["phase     seconds", "--------  -------", "up        907.0", "no-op up  9.0"].join("\n"));
    });
});

describe("memory by process name", () => {
    it("groups processes by name with their count and the largest peak, largest first", () => {
        const groups = groupPeaks([
            { name: "ssh", hwmKiB: 7800 },
            { name: "pulumi", hwmKiB: 148_480 },
            { name: "ssh", hwmKiB: 8300 },
            { name: "pulumi", hwmKiB: 102_400 },
        ]);
        assert.deepEqual(groups, [
            { name: "pulumi", processes: 2, largestPeakMiB: 145 },
            { name: "ssh", processes: 2, largestPeakMiB: 8.1 },
        ]);
    });
});
