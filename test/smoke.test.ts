// The smoke test's judgement, on made-up answers and tables.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { countEntries, expectedShares, judgeDistribution, urlForPort } from "../scripts/smoke";

const servers = (...weights: number[]) => weights.map((weight, index) => ({ name: `web${index + 1}`, publicIp: `172.16.16.${177 + index}`, weight }));

describe("judgeDistribution", () => {
    it("accepts an even rr split and refuses a server far off its share, or silent", () => {
        const inputs = { scheduler: "rr", realServers: servers(1, 1, 1, 1) };
        assert.deepEqual(judgeDistribution({ web1: 50, web2: 50, web3: 50, web4: 50 }, 200, inputs), []);
        assert.deepEqual(judgeDistribution({ web1: 100, web2: 50, web3: 50 }, 200, inputs), [
            "web1 answered 50.0% of requests; expected 15.0%..35.0%",
            "web4 never answered",
        ]);
    });

    it("shares by weight under wrr, and refuses new connections to a drained (weight 0) server", () => {
        const inputs = { scheduler: "wrr", realServers: servers(0, 1, 2, 1) };
        assert.deepEqual(expectedShares(inputs), new Map([["web2", 0.25], ["web3", 0.5], ["web4", 0.25]]));
        assert.deepEqual(judgeDistribution({ web2: 50, web3: 100, web4: 50 }, 200, inputs), []);
        assert.deepEqual(judgeDistribution({ web1: 2, web2: 49, web3: 99, web4: 50 }, 200, inputs), ["web1 has weight 0 (drained) but took 2 new connection(s)"]);
    });

    it("names an answer from a server that is not in the lab", () => {
        assert.deepEqual(judgeDistribution({ web1: 10, web9: 1 }, 11, { scheduler: "lc", realServers: servers(1) }), ['an unknown server "web9" answered']);
    });
});

describe("countEntries", () => {
    const table = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "TCP  172.16.16.172:80 rr",
        "  -> 192.168.7.177:80             Masq    1      0          3",
        "  -> 192.168.7.178:80             Masq    1      0          2",
        "TCP  172.16.16.172:8080 rr",
        "  -> 192.168.7.177:8080           Masq    1      0          0",
        "  -> 127.0.0.1:8080               Local   1      0          0",
    ].join("\n");

    it("counts the entries of one forwarding method only", () => {
        assert.equal(countEntries(table, "Masq"), 3);
        assert.equal(countEntries(table, "Route"), 0);
        assert.equal(countEntries(table, "Local"), 1);
    });
});

describe("urlForPort", () => {
    it("leaves port 80 out of the URL", () => {
        assert.equal(urlForPort("172.16.16.172", 80), "http://172.16.16.172/");
        assert.equal(urlForPort("172.16.16.172", 8080), "http://172.16.16.172:8080/");
    });
});
