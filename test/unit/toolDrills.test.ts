import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serverRow } from "../../proofs/toolDrills";
import { serverTable } from "../../scripts/tools/view";
import { GraphModel } from "../../scripts/tools/graph";

describe("the view drill reads the page's table", () => {
    const model = {
        vip: "172.16.16.172",
        mode: "dr",
        scheduler: "rr",
        gatheredAt: "2026-11-29T00:00:00Z",
        vipHolders: ["director"],
        realServers: [
            { name: "web1", state: "running", links: [{ director: "director", inTable: false, weight: 1, active: 0, inactive: 0, connections: 0 }] },
            { name: "web10", state: "running", links: [{ director: "director", inTable: true, weight: 1, active: 2, inactive: 5, connections: 7 }] },
        ],
    } as unknown as GraphModel;

    it("finds one server's row by its name, not a longer name's", () => {
        const dom = `<html><body><div id="table">${serverTable(model)}</div></body></html>`;
        assert.equal(serverRow(dom, "web1"), "web1 running director not in the table 0 0 0");
        assert.equal(serverRow(dom, "web10"), "web10 running director 1 2 5 7");
        assert.equal(serverRow(dom, "web2"), undefined);
    });
});
