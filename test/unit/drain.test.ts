// The drain proof's own judgement (pure), its runner's command line, and the
// check's sockets against a local HTTP server on the loopback: explicit
// source ports, taking the same ports again at once (the server closes
// first, so the client keeps no TIME_WAIT), a port that cannot be bound
// reported as such, and a download held, trickled and read to the end with
// its hash.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import {
    DrainCheck,
    DrainOutputs,
    judgeReuse,
    judgeTransfer,
    LONG_FILE_NAME,
    longFileCommand,
    LongFile,
    LongTransfer,
    pickReusePorts,
    portsLandingOn,
    reuseLandings,
    TransferResult,
    weightsJson,
} from "../../proofs/drain";
import { parseRunnerArgs, sameConfig } from "../../proofs/drain/runner";
import { Landing, requestFrom, SOURCE_PORT_COUNT, SOURCE_PORT_FIRST, SourcePorts } from "../../proofs/kit";
import { findExecutable, makeTempDir } from "../helpers/tools";

const landing = (localPort: number, at: number, server: string | undefined, extra: Partial<Landing> = {}): Landing => ({
    localPort,
    at,
    status: server === undefined ? undefined : 200,
    server,
    localAddress: "172.16.16.1",
    ...extra,
});

describe("pickReusePorts", () => {
    it("takes the freshest ports whose last connection landed on the server, newest first", () => {
        const landings = [
            landing(20001, 1000, "web1"),
            landing(20002, 2000, "web2"),
            landing(20003, 3000, "web1"),
            landing(20004, 4000, "web1", { error: "timeout" }),
            landing(20005, 5000, "web1"),
            landing(20001, 6000, "web3"), // the same port again, elsewhere: no longer web1's
            landing(20006, 7000, undefined, { bindError: "EADDRINUSE on bind" }),
        ];
        assert.deepEqual(
            pickReusePorts(landings, "web1", 10).map((l) => l.localPort),
            [20005, 20003],
        );
        assert.deepEqual(
            pickReusePorts(landings, "web1", 1).map((l) => l.localPort),
            [20005],
        );
    });
});

describe("judgeReuse", () => {
    const base = { server: "web1", director: "director", requireLiveEntry: true };

    it("passes when every reused port connected and landed elsewhere, some meeting a live entry", () => {
        const reused = [landing(20001, 1, "web2"), landing(20002, 2, "web3"), landing(20003, 3, "web2")];
        const judged = judgeReuse({ ...base, reused, live: [20001, 20003], ages: [40, 95.4] });
        assert.deepEqual(judged.problems, []);
        assert.match(
            judged.summary,
            /^3 source ports that had landed on web1 40-95 s before reused, 2 of them meeting a live entry to web1 on director: landed on web2 2, web3 1; 0 on web1$/,
        );
    });

    it("fails a port that landed on the drained server again, one whose connection failed, and a harness that could not bind", () => {
        const reused = [
            landing(20001, 1, "web1"),
            landing(20002, 2, undefined, { error: "no complete answer within 8000 ms" }),
            landing(20003, 3, undefined, { bindError: "EADDRINUSE on bind" }),
            landing(20004, 4, "web2", { status: 503 }),
        ];
        assert.deepEqual(judgeReuse({ ...base, reused, live: [20001] }).problems, [
            "source port 20001: the new connection landed on web1 again, which takes no new connections",
            "source port 20002: the new connection failed: no complete answer within 8000 ms",
            "harness: source port 20003 could not be taken again (EADDRINUSE on bind), so nothing was tested on it",
            "source port 20004: HTTP 503",
        ]);
    });

    it("calls a drain check that forced no reuse inconclusive, and one without ports a failure", () => {
        assert.deepEqual(judgeReuse({ ...base, reused: [landing(20001, 1, "web2")], live: [] }).problems, [
            "inconclusive: none of the 1 ports still had an IPVS entry to web1 on director when reused, so no reuse was forced",
        ]);
        assert.match(
            judgeReuse({ ...base, reused: [landing(20001, 1, "web2")], live: undefined }).problems[0],
            /^inconclusive: the active director's connection entries could not be read/,
        );
        assert.deepEqual(judgeReuse({ ...base, reused: [], live: [] }).problems, ["no source port to reuse: none had landed on web1"]);
    });

    it("does not ask a removed server's entries to live (expire_nodest_conn flushes them); every connection must still succeed", () => {
        const removed = { ...base, server: "web5", requireLiveEntry: false };
        assert.deepEqual(judgeReuse({ ...removed, reused: [landing(20001, 1, "web2")], live: [] }).problems, []);
        assert.deepEqual(
            judgeReuse({ ...removed, reused: [landing(20001, 1, undefined, { error: "no complete answer within 8000 ms" })], live: undefined }).problems,
            ["source port 20001: the new connection failed: no complete answer within 8000 ms"],
        );
    });
});

describe("judgeTransfer", () => {
    const file: LongFile = { urlPath: `/${LONG_FILE_NAME}`, size: 100, sha256: "a".repeat(64) };
    const whole: TransferResult = {
        server: "web1",
        status: 200,
        contentLength: 100,
        bytes: 100,
        sha256: "a".repeat(64),
        error: undefined,
        ended: true,
        heldSeconds: 95,
        finishSeconds: 3,
        attempts: 2,
    };

    it("passes a whole download from the server it started on", () => {
        assert.deepEqual(judgeTransfer(whole, file, "web1"), []);
    });

    it("fails a broken, short or different download", () => {
        assert.deepEqual(judgeTransfer({ ...whole, bytes: 60, error: "read ECONNRESET", ended: false }, file, "web1"), [
            "the transfer on web1 broke after 60 of 100 bytes: read ECONNRESET",
            "received 60 bytes of 100",
        ]);
        assert.deepEqual(judgeTransfer({ ...whole, sha256: "b".repeat(64) }, file, "web1"), [
            `the content differs from the file (sha256 ${"b".repeat(64)}, expected ${"a".repeat(64)})`,
        ]);
        assert.deepEqual(judgeTransfer({ ...whole, ended: false }, file, "web1"), ["the transfer on web1 did not end"]);
    });
});

describe("the long download's file on the NFS export", () => {
    it("writes the file once with the wanted size and prints its sha256 (run here with bash, in a temporary directory)", () => {
        const bash = findExecutable("bash");
        assert.ok(bash, "bash is not on PATH");
        const temp = makeTempDir("drain-file");
        try {
            const dir = path.join(temp.dir, "it's a web root");
            fs.mkdirSync(dir);
            const command = longFileCommand(`${dir}/`, 70_000);
            const first = spawnSync(bash, ["-c", command], { encoding: "utf8" });
            assert.equal(first.status, 0, first.stderr);
            const file = path.join(dir, LONG_FILE_NAME);
            const content = fs.readFileSync(file);
            assert.equal(content.length, 70_000);
            assert.equal((fs.statSync(file).mode & 0o777).toString(8), "644");
            assert.equal(first.stdout.split(/\s/)[0], crypto.createHash("sha256").update(content).digest("hex"));
            const second = spawnSync(bash, ["-c", command], { encoding: "utf8" });
            assert.equal(second.stdout, first.stdout, "a second run keeps the file");
        } finally {
            temp.cleanup();
        }
    });
});

describe("runner arguments and weights", () => {
    it("defaults to 10 rounds on dev and checks the numbers", () => {
        assert.deepEqual(parseRunnerArgs([]), { stack: "dev", times: 10, server: undefined, ports: 10, sizeMib: 32, verbose: false });
        assert.deepEqual(parseRunnerArgs(["--stack", "lab2", "--times", "3", "--server", "web2", "--ports", "5", "--size-mib", "8", "--verbose"]), {
            stack: "lab2",
            times: 3,
            server: "web2",
            ports: 5,
            sizeMib: 8,
            verbose: true,
        });
        assert.equal(parseRunnerArgs(["--times", "0"]), "--times must be a whole number from 1 to 1000");
        assert.equal(parseRunnerArgs(["--times"]), "--times must be a whole number from 1 to 1000");
        assert.equal(parseRunnerArgs(["--bogus"]), 'unknown argument "--bogus"');
    });

    it("tells a stack config put back as it was from one changed meanwhile", () => {
        const before = { "lvs-dr-lab:vip": { value: "172.16.16.172", secret: false }, "lvs-dr-lab:port": { value: "80", secret: false } };
        assert.ok(sameConfig(before, { "lvs-dr-lab:port": { value: "80" }, "lvs-dr-lab:vip": { value: "172.16.16.172" } }));
        assert.ok(!sameConfig(before, { ...before, "lvs-dr-lab:realServerWeights": { value: "[1,1,1,1]" } }));
        assert.ok(!sameConfig(before, { ...before, "lvs-dr-lab:port": { value: "8080" } }));
    });

    it("writes realServerWeights with every server at 1, or the drained one at 0", () => {
        assert.equal(weightsJson(4), "[1,1,1,1]");
        assert.equal(weightsJson(4, 0), "[0,1,1,1]");
    });
});

describe("the harness's sockets, against a local HTTP server", () => {
    const BIG = crypto.randomBytes(6 * 1024 * 1024);
    let server: http.Server;
    let served = 0;
    let out: DrainOutputs;
    /** A "server" that takes no new connections (as if drained). */
    let drained: string | undefined;

    before(async () => {
        // Names itself like a real server, round-robin over three "servers" per connection.
        server = http.createServer((request, response) => {
            let name = `web${(served++ % 3) + 1}`;
            if (name === drained) {
                name = `web${(served++ % 3) + 1}`;
            }
            if (request.url === "/big") {
                response.writeHead(200, { "X-Real-Server": name, "Content-Length": String(BIG.length) });
                response.end(BIG);
            } else {
                response.writeHead(200, { "X-Real-Server": name, "Content-Type": "text/html" });
                response.end("welcome to beijing!!!\n");
            }
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as net.AddressInfo).port;
        out = {
            vip: "127.0.0.1",
            vipUrl: `http://127.0.0.1:${port}/`,
            port,
            mode: "dr",
            identityHeader: "X-Real-Server",
            expectedPage: "welcome to beijing!!!",
            nfsExport: "192.168.7.250:/opt/wwwroot",
            nfs: { name: "nfs", storageIp: "192.168.7.250", sshHint: "ssh nobody@192.168.7.250" },
            directors: [],
            realServers: ["web1", "web2", "web3"].map((name, index) => ({
                name,
                publicIp: `10.0.0.${index + 1}`,
                storageIp: `10.0.1.${index + 1}`,
                weight: 1,
                forwardingAddress: `10.0.0.${index + 1}`,
                sshHint: `ssh nobody@10.0.0.${index + 1}`,
            })),
            ssh: { user: "nobody", privateKeyPath: "/nonexistent" },
        };
    });
    after(async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it("lands connections from explicit source ports, then takes exactly those ports again at once", async () => {
        const landed = await portsLandingOn(out, "web2", 4, { ports: new SourcePorts() });
        assert.equal(landed.length, 4);
        for (const l of landed) {
            assert.equal(l.server, "web2");
            assert.equal(l.status, 200);
            assert.ok(l.localPort >= SOURCE_PORT_FIRST && l.localPort < SOURCE_PORT_FIRST + SOURCE_PORT_COUNT, String(l.localPort));
            assert.equal(l.localAddress, "127.0.0.1");
        }
        const ports = landed.map((l) => l.localPort);
        const again = await reuseLandings(out, ports, 5000);
        assert.deepEqual(
            again.map((l) => [l.localPort, l.bindError, l.error, l.status]),
            ports.map((port) => [port, undefined, undefined, 200]),
            "no TIME_WAIT on the client side: every port could be taken again",
        );
    });

    it("reports a source port it cannot take as the harness's bind error, not as a landing", async () => {
        const holder = net.createServer();
        await new Promise<void>((resolve) => holder.listen(0, "0.0.0.0", resolve));
        try {
            const held = (holder.address() as net.AddressInfo).port;
            const result = await requestFrom(out, held, 3000);
            assert.match(result.bindError ?? "", /^EADDR(INUSE|NOTAVAIL) on /);
            assert.equal(result.server, undefined);
            const judged = judgeReuse({ server: "web1", reused: [result], live: [held], director: "director", requireLiveEntry: true });
            assert.match(judged.problems[0], /^harness: source port \d+ could not be taken again/);
        } finally {
            holder.close();
        }
    });

    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    const bigFile = (): LongFile => ({ urlPath: "/big", size: BIG.length, sha256: crypto.createHash("sha256").update(BIG).digest("hex") });

    it("holds a download on the chosen server: nothing is read while paused, then it is read whole", async () => {
        const file = bigFile();
        const transfer = await LongTransfer.start(out, "web3", file, { trickleMs: 3_600_000 });
        assert.equal(transfer.server, "web3");
        const atStart = transfer.received;
        await sleep(300);
        assert.equal(transfer.received, atStart, "held: no byte read");
        assert.ok(atStart < 256 * 1024, String(atStart));
        const result = await transfer.finish(5000, 30_000);
        assert.deepEqual(judgeTransfer(result, file, "web3"), []);
        assert.ok(result.heldSeconds >= 0.25, String(result.heldSeconds));
    });

    it("reads a little now and then while held (so apache's Timeout never runs out), and still gets it whole", async () => {
        const file = bigFile();
        const transfer = await LongTransfer.start(out, "web1", file, { trickleMs: 50, trickleBytes: 64 * 1024 });
        const atStart = transfer.received;
        await sleep(400);
        const held = transfer.received;
        assert.ok(held > atStart, `trickled: ${atStart} -> ${held}`);
        assert.ok(held < BIG.length / 2, `but only a little: ${held} of ${BIG.length}`);
        const result = await transfer.finish(5000, 30_000);
        assert.deepEqual(judgeTransfer(result, file, "web1"), []);
    });

    it("DrainCheck: ports and a held download before, connections landing during, reuse and the whole download after", async () => {
        const file = bigFile();
        // No directors here: no entries to read, so judge it like a removal (no live entry required).
        const check = new DrainCheck(out, "web2", { count: 3, file, removed: true });
        assert.equal(check.destination, `10.0.0.2:${out.port}`);
        const prepared = await check.prepare();
        assert.deepEqual(prepared.problems, []);
        assert.match(prepared.facts, /^3 source ports landed on web2; a 6 MiB download started on web2 and held \(attempt \d+\)$/);
        const value = await check.around(async () => {
            await sleep(300);
            drained = "web2";
            await sleep(300);
            return "drained";
        });
        assert.equal(value, "drained");
        try {
            const reuse = await check.reuse();
            assert.deepEqual(reuse.problems, []);
            assert.equal(reuse.reused.length, 3);
            assert.ok(
                reuse.reused.every((l) => l.server !== "web2" && l.status === 200),
                JSON.stringify(reuse.reused),
            );
            const transfer = await check.finishTransfer();
            assert.deepEqual(transfer.problems, []);
            assert.equal(transfer.result.server, "web2");
        } finally {
            drained = undefined;
        }
    });

    it("gives up on a server that never answers the download, naming what answered", async () => {
        const file: LongFile = { urlPath: "/big", size: BIG.length, sha256: "0".repeat(64) };
        await assert.rejects(
            LongTransfer.start(out, "web9", file, { maxAttempts: 3 }),
            /no download of \/big landed on web9 in 3 attempts: web\d \(HTTP 200\), web\d \(HTTP 200\), web\d \(HTTP 200\)/,
        );
    });
});
