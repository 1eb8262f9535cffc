// The benchmark's own arithmetic: ratios, /proc parsing, resource counts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { descendants, groupPeaks, guestCpuSummary, parseProcStatus, ratio, resourceCounts, timeline } from "../../proofs/bench";

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

describe("timeline", () => {
    it("lists the steps of a second or more by start, named by the last part of their URN", () => {
        const steps = [
            {
                urn: "urn:pulumi:dev::lvs-dr-lab::lvslab:index:RealServer$command:remote:Command::web1-web",
                type: "command:remote:Command",
                op: "create",
                startSecond: 13.04,
                seconds: 40.96,
            },
            {
                urn: "urn:pulumi:dev::lvs-dr-lab::lvslab:libvirt:Volume::web1-disk",
                type: "lvslab:libvirt:Volume",
                op: "create",
                startSecond: 5.2,
                seconds: 0.5,
            },
            { urn: "urn:pulumi:dev::lvs-dr-lab::lvslab:libvirt:Domain::web1-vm", type: "lvslab:libvirt:Domain", op: "create", startSecond: 6.1, seconds: 3.0 },
        ];
        assert.deepEqual(timeline({ steps }), [
            { name: "web1-vm", op: "create", startSecond: 6.1, seconds: 3 },
            { name: "web1-web", op: "create", startSecond: 13, seconds: 41 },
        ]);
    });
});

describe("resource counts", () => {
    it("counts resource steps per type, most frequent first", () => {
        const steps = [
            { urn: "a", type: "Domain", op: "create", startSecond: 0, seconds: 1 },
            { urn: "b", type: "Command", op: "create", startSecond: 0, seconds: 1 },
            { urn: "c", type: "Command", op: "create", startSecond: 0, seconds: 1 },
        ];
        const counts = resourceCounts({ steps });
        assert.equal(counts.total, 3);
        assert.deepEqual(Object.entries(counts.byType), [
            ["Command", 2],
            ["Domain", 1],
        ]);
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

describe("guest CPU", () => {
    it("sums up and smoke over the cores, beside each floor's mean per guest", () => {
        const summary = guestCpuSummary({ cpuSecondsAtSsh: { web1: 10, nfs: 12 } }, { cpuSecondsAtSsh: { web1: 20, nfs: 23 } }, { a: 30.5, b: 29.5, c: 40 }, 2);
        assert.deepEqual(summary, {
            minimalFloorPerGuest: 11,
            imageFloorPerGuest: 21.5,
            upAndSmoke: { a: 30.5, b: 29.5, c: 40 },
            upAndSmokeTotal: 100,
            upAndSmokeOverCores: 50,
        });
    });
});
