import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { graphModel } from "../../../scripts/tools/graph";
import { topologyFromOutputs } from "../../../scripts/tools/topology";
import { serverTable, viewPage } from "../../../scripts/tools/view";
import { seedLive, seedOutputs } from "./fixtures";

describe("the live page", () => {
    const model = graphModel(topologyFromOutputs(seedOutputs(), "dev"), seedLive(), "dev");

    it("tables each real server's libvirt state, weight and connection counts per director, and the VIP's holder", () => {
        const table = serverTable(model);
        assert.match(table, /VIP 172\.16\.16\.172 held by <b>director<\/b>/);
        assert.match(table, /<tr><td>web1<\/td><td>running<\/td><td>director<\/td><td>1<\/td><td>2<\/td><td>11<\/td><td>13<\/td><\/tr>/);
        assert.match(table, /<tr><td>web3<\/td><td>shut off<\/td><td>director<\/td><td>not in the table<\/td>/);
    });

    it("escapes what it shows", () => {
        const odd = { ...model, vip: "<script>" };
        assert.doesNotMatch(serverTable(odd), /<script>/);
    });

    it("redraws itself on the interval it was given", () => {
        const page = viewPage("lvs-dr-lab, stack dev", 5);
        assert.match(page, /setInterval\(refresh, 5000\)/);
        assert.match(page, /fetch\("\/state"\)/);
    });
});
