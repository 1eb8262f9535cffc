// The one harness the live checks share: wrk's output and its verdict,
// tables, phases, what an in-place change may touch, where a stack's
// libvirt objects are and what is left of them, HTTP, background requests,
// bounded waits, the NFS export's path.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    BackgroundRequests,
    exportPathOf,
    failureKind,
    formatTable,
    get,
    leftovers,
    parseDuration,
    parseWrk,
    Phase,
    PhaseLog,
    prefixFromDeployment,
    scalingProblems,
    sshHold,
    tally,
    waitFor,
    wrkProblems,
} from "../../proofs/harness";
import { revealSecrets, SECRET_SIG, SECRET_SIG_KEY, stackOutputsOf } from "../../scripts/automation";
import { COMMAND, operationResult } from "../helpers/operations";
import { makeTempDir } from "../helpers/tools";

const result = operationResult;
const DIRECTORS = ["director", "director2"];

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
        const refused = clean.replace("16500 requests in", "0 requests in").replace("Requests/sec:", "  Socket errors: connect 16, read 0, write 0, timeout 0\nRequests/sec:");
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


describe("result tables", () => {
    it("pads every column but the last to its widest cell", () => {
        const table = formatTable(["phase", "seconds"], [["up", "907.0"], ["no-op up", "9.0"]]);
        assert.equal(table, ["phase     seconds", "--------  -------", "up        907.0", "no-op up  9.0"].join("\n"));
    });
});


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


describe("a run that goes on after a failure", () => {
    it("records a body that throws as a failed phase with the error, and a check's problems as a failed phase with the value", async () => {
        const log = new PhaseLog("test");
        const thrown = await log.run("boom", () => Promise.reject(new Error("no libvirt")));
        assert.equal(thrown.ok, false);
        assert.equal(thrown.value, undefined);
        assert.match(String(thrown.error), /no libvirt/);
        const judged = await log.run("judged", () => Promise.resolve(3), (value) => (value === 3 ? ["three is wrong"] : []));
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

describe("the NFS export's path", () => {
    it("takes the export's path from the nfsExport output", () => {
        assert.equal(exportPathOf("192.168.7.250:/opt/wwwroot"), "/opt/wwwroot");
        assert.throws(() => exportPathOf("/opt/wwwroot-without-address"), /not address:\/path/);
    });
});

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
        assert.deepEqual(samples, samples.map((_, index) => index + 1));
        const bounded = new BackgroundRequests(async () => 1, 5, 30);
        bounded.start();
        await new Promise((resolve) => setTimeout(resolve, 120));
        const count = bounded.samples.length;
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(bounded.samples.length, count, "it went on past its bound");
        await bounded.stop();
    });
});

describe("one GET", () => {
    it("gives the status, body and identity header, and names a timeout and a refused connection", async () => {
        const server = http.createServer((request, response) => {
            if (request.url === "/slow") {
                return;
            }
            response.setHeader("X-Real-Server", "web3");
            response.end("welcome");
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as AddressInfo).port;
        try {
            assert.deepEqual(await get(`http://127.0.0.1:${port}/`, "X-Real-Server", 2000), { status: 200, body: "welcome", server: "web3" });
            const slow = await get(`http://127.0.0.1:${port}/slow`, "X-Real-Server", 100).then(() => "answered", failureKind);
            assert.equal(slow, "timeout");
        } finally {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
        }
        const refused = await get(`http://127.0.0.1:${port}/`, "X-Real-Server", 2000).then(() => "answered", failureKind);
        assert.equal(refused, "ECONNREFUSED");
    });
});

describe("the stack's outputs from an exported state", () => {
    const secret = (value: unknown): Record<string, string> => ({ [SECRET_SIG_KEY]: SECRET_SIG, plaintext: JSON.stringify(value) });

    it("are the stack resource's outputs, with every secret (nested ones too) given as its value", () => {
        const deployment = {
            version: 3,
            deployment: {
                resources: [
                    { type: "pulumi:providers:command", outputs: { vip: "not this one" } },
                    {
                        type: "pulumi:pulumi:Stack",
                        outputs: { vip: "172.16.16.172", consolePassword: secret("s3cret"), ssh: { user: "lab", keys: [secret({ path: "/k" })] } },
                    },
                ],
            },
        };
        assert.deepEqual(stackOutputsOf(deployment), { vip: "172.16.16.172", consolePassword: "s3cret", ssh: { user: "lab", keys: [{ path: "/k" }] } });
    });

    it("are none before the first up", () => {
        assert.deepEqual(stackOutputsOf({ version: 3, deployment: {} }), {});
    });

    it("refuse a secret exported without its plaintext", () => {
        assert.throws(() => revealSecrets({ password: { [SECRET_SIG_KEY]: SECRET_SIG, ciphertext: "v1:abc" } }), /without its plaintext/);
    });
});

describe("sshHold", () => {
    // A fake ssh that runs the remote command here, and a sudo that just runs it.
    const temp = makeTempDir("hold");
    const bin = path.join(temp.dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "ssh"), '#!/bin/bash\nexec bash -c "${@: -1}"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "sudo"), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
    const access = { user: "lab", privateKeyPath: "/nonexistent" };
    const savedPath = process.env.PATH;
    before(() => (process.env.PATH = `${bin}:${savedPath ?? ""}`));
    after(() => {
        process.env.PATH = savedPath;
        temp.cleanup();
    });

    it("runs the setup, holds the login until released, then runs the teardown in it", async () => {
        const file = path.join(temp.dir, "token");
        const held = await sshHold(access, "store", `echo t > ${file}`, `rm -f ${file}`);
        assert.ok(fs.existsSync(file), "the setup is done when the hold is given");
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.ok(fs.existsSync(file), "and stays until released");
        await held.release();
        assert.ok(!fs.existsSync(file), "the teardown ran before release resolved");
    });

    it("rejects with the setup's error, and still runs the teardown", async () => {
        const marker = path.join(temp.dir, "torn-down");
        await assert.rejects(sshHold(access, "store", "echo 'no space left' >&2; false", `touch ${marker}`), /store: no space left/);
        assert.ok(fs.existsSync(marker));
    });

    it("rejects a release whose teardown failed", async () => {
        const held = await sshHold(access, "store", "true", "echo 'read-only file system' >&2; exit 3");
        await assert.rejects(held.release(), /store: the teardown failed \(exit 3\): read-only file system/);
    });

    it("runs the teardown on the guest's own time limit when never released", async () => {
        const marker = path.join(temp.dir, "timed-out");
        await sshHold(access, "store", "true", `touch ${marker}`, 1);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        assert.ok(fs.existsSync(marker));
    });
});
