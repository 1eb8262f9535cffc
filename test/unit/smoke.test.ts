// The smoke test's judgement, on made-up answers and tables.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expectedShares, inBatches, judgeDistribution, SmokeInputs, tableProblems, tokenFileName, tokenProblems, urlForPort } from "../../proofs/smoke";
import { parseIpvsTable } from "../../scripts/tools/parse";

const servers = (...weights: number[]): SmokeInputs["realServers"] =>
    weights.map((weight, index) => ({
        name: `web${index + 1}`,
        publicIp: `172.16.16.${177 + index}`,
        storageIp: `192.168.7.${177 + index}`,
        weight,
        forwardingAddress: `172.16.16.${177 + index}`,
        sshHint: `ssh lab@172.16.16.${177 + index}`,
    }));

describe("judgeDistribution", () => {
    it("accepts an even rr split and refuses a server far off its share, or silent", () => {
        const inputs = { scheduler: "rr" as const, realServers: servers(1, 1, 1, 1) };
        assert.deepEqual(judgeDistribution({ web1: 50, web2: 50, web3: 50, web4: 50 }, 200, inputs), []);
        assert.deepEqual(judgeDistribution({ web1: 100, web2: 50, web3: 50 }, 200, inputs), [
            "web1 answered 50.0% of requests; expected 15.0%..35.0%",
            "web4 never answered",
        ]);
    });

    it("shares by weight under wrr, and refuses new connections to a drained (weight 0) server", () => {
        const inputs = { scheduler: "wrr" as const, realServers: servers(0, 1, 2, 1) };
        assert.deepEqual(
            expectedShares(inputs),
            new Map([
                ["web2", 0.25],
                ["web3", 0.5],
                ["web4", 0.25],
            ]),
        );
        assert.deepEqual(judgeDistribution({ web2: 50, web3: 100, web4: 50 }, 200, inputs), []);
        assert.deepEqual(judgeDistribution({ web1: 2, web2: 49, web3: 99, web4: 50 }, 200, inputs), [
            "web1 has weight 0 (drained) but took 2 new connection(s)",
        ]);
    });

    it("names an answer from a server that is not in the lab", () => {
        assert.deepEqual(judgeDistribution({ web1: 10, web9: 1 }, 11, { scheduler: "lc", realServers: servers(1) }), ['an unknown server "web9" answered']);
    });
});

/** `ipvsadm -Ln` as a director prints it: a service per port, an entry per real server. */
function ipvsadmLn(services: { port: number; entries: [address: string, forward: string, weight: number][] }[]): string {
    return [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        ...services.flatMap((service) => [
            `TCP  172.16.16.172:${service.port} rr`,
            ...service.entries.map(
                ([address, forward, weight]) => `  -> ${`${address}:${service.port}`.padEnd(28)}${forward.padEnd(8)}${String(weight).padEnd(7)}0          3`,
            ),
        ]),
    ].join("\n");
}

describe("each director's IPVS table", () => {
    const dr: Pick<SmokeInputs, "vip" | "ports" | "mode" | "realServers"> = { vip: "172.16.16.172", ports: [80], mode: "dr", realServers: servers(1, 1) };
    const good = ipvsadmLn([
        {
            port: 80,
            entries: [
                ["172.16.16.177", "Route", 1],
                ["172.16.16.178", "Route", 1],
            ],
        },
    ]);

    it("passes a table with every real server at its address, weight and the mode's forwarding", () => {
        assert.deepEqual(tableProblems("director", parseIpvsTable(good), dr), []);
    });

    it("names a wrong weight, a wrong forwarding and a missing server, one by one", () => {
        const wrong = ipvsadmLn([{ port: 80, entries: [["172.16.16.177", "Masq", 3]] }]);
        assert.deepEqual(tableProblems("director", parseIpvsTable(wrong), dr), [
            "director: 172.16.16.172:80 forwards to web1 by Masq, expected Route",
            "director: 172.16.16.172:80 gives web1 weight 3, expected 1",
            "director: 172.16.16.172:80 has no entry for web2 (172.16.16.178:80)",
        ]);
    });

    it("wants a drained server in the table with weight 0, not 1", () => {
        const drained = { ...dr, realServers: servers(0, 1) };
        assert.deepEqual(tableProblems("director", parseIpvsTable(good), drained), ["director: 172.16.16.172:80 gives web1 weight 1, expected 0"]);
    });

    it("refuses an entry at an address no real server has (a server at its public address in NAT, a removed one, the sorry server)", () => {
        const nat = { ...dr, mode: "nat" as const, realServers: servers(1).map((s) => ({ ...s, forwardingAddress: "192.168.7.177" })) };
        const table = ipvsadmLn([
            {
                port: 80,
                entries: [
                    ["172.16.16.177", "Masq", 1],
                    ["127.0.0.1", "Local", 1],
                ],
            },
        ]);
        assert.deepEqual(tableProblems("director", parseIpvsTable(table), nat), [
            "director: 172.16.16.172:80 has no entry for web1 (192.168.7.177:80)",
            "director: 172.16.16.172:80 has an entry for 172.16.16.177:80 (Masq), which is no real server of the lab",
            "director: 172.16.16.172:80 has an entry for 127.0.0.1:80 (Local), which is no real server of the lab",
        ]);
    });

    it("wants a service for every port and none other", () => {
        const twoPorts = { ...dr, ports: [80, 8080] };
        const table = ipvsadmLn([
            {
                port: 80,
                entries: [
                    ["172.16.16.177", "Route", 1],
                    ["172.16.16.178", "Route", 1],
                ],
            },
            { port: 443, entries: [] },
        ]);
        assert.deepEqual(tableProblems("director2", parseIpvsTable(table), twoPorts), [
            "director2: a virtual service TCP 172.16.16.172:443 the outputs do not name",
            "director2: no virtual service TCP 172.16.16.172:8080",
        ]);
    });
});

describe("the page comes from the NFS export", () => {
    const token = "0123456789abcdef";
    const back = (server: string) => ({ server, status: 200, body: `${token}` });

    it("names the token file after the run's token", () => {
        assert.equal(tokenFileName(token), "lvslab-smoke-0123456789abcdef.txt");
    });

    it("passes when every server taking connections returned the token, a drained one need not", () => {
        assert.deepEqual(tokenProblems([back("web2"), back("web3"), back("web2")], token, servers(0, 1, 1)), []);
    });

    it("fails when a server never returned it, or answered something else (its web root is not the export)", () => {
        const answers = [back("web1"), { server: "web2", status: 404, body: "Not Found" }, { error: "no answer within 5000 ms" }];
        assert.deepEqual(tokenProblems(answers, token, servers(1, 1, 1)), [
            "1 request(s) for the token file failed (last: no answer within 5000 ms)",
            'web2 answered HTTP 404 "Not Found" for the token file, not the token: it does not serve the NFS export',
            "web2 never returned the token written to the NFS export",
            "web3 never returned the token written to the NFS export",
        ]);
    });

    it("fails a server that returned the token once and another page too, and an answer with an old token", () => {
        const answers = [
            back("web1"),
            { server: "web1", status: 200, body: "welcome to beijing!!!" },
            { server: "web2", status: 200, body: "fedcba9876543210" },
        ];
        assert.deepEqual(tokenProblems(answers, token, servers(1, 1)), [
            'web1 answered HTTP 200 "welcome to beijing!!!" for the token file, not the token: it does not serve the NFS export',
            'web2 answered HTTP 200 "fedcba9876543210" for the token file, not the token: it does not serve the NFS export',
            "web2 never returned the token written to the NFS export",
        ]);
    });

    it("fails when nothing was read back at all", () => {
        assert.deepEqual(tokenProblems([], token, servers(1)), ["web1 never returned the token written to the NFS export"]);
    });
});

describe("urlForPort", () => {
    it("leaves port 80 out of the URL", () => {
        assert.equal(urlForPort("172.16.16.172", 80), "http://172.16.16.172/");
        assert.equal(urlForPort("172.16.16.172", 8080), "http://172.16.16.172:8080/");
    });
});

describe("inBatches", () => {
    it("runs every task once, never more than the limit at a time, and gives the results in index order", async () => {
        let inFlight = 0;
        let most = 0;
        const results = await inBatches(10, 3, async (index) => {
            inFlight += 1;
            most = Math.max(most, inFlight);
            // Later indexes finish first: the order of the results must not follow.
            await new Promise((resolve) => setTimeout(resolve, 20 - index));
            inFlight -= 1;
            return index * 2;
        });
        assert.deepEqual(results, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
        assert.equal(most, 3);
    });

    it("does nothing for no tasks", async () => {
        assert.deepEqual(await inBatches(0, 4, () => Promise.reject(new Error("never called"))), []);
    });
});
