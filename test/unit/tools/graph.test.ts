import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { graphModel, renderDot, renderMermaid } from "../../../scripts/tools/graph";
import { topologyFromOutputs } from "../../../scripts/tools/topology";
import { runTool } from "../../helpers/tools";
import { seedLive, seedOutputs } from "./fixtures";

const topology = topologyFromOutputs(seedOutputs(), "dev");

describe("the drawing of a running lab", () => {
    const model = graphModel(topology, seedLive(), "dev");

    it("knows which director holds the VIP, the mode and the scheduler", () => {
        assert.deepEqual(model.vipHolders, ["director"]);
        assert.match(model.mode, /^DR/);
        assert.equal(model.scheduler, "rr");
    });

    it("takes each real server's weight and counts from the director's live table, by its forwarding address", () => {
        const web1 = model.realServers.find((s) => s.name === "web1");
        assert.deepEqual(web1?.links, [{ director: "director", inTable: true, weight: 1, active: 2, inactive: 11, connections: 13, forward: "Route" }]);
        const web4 = model.realServers.find((s) => s.name === "web4");
        assert.equal(web4?.links[0].weight, 0);
    });

    it("shows a real server missing from the table as such, and its libvirt state", () => {
        const web3 = model.realServers.find((s) => s.name === "web3");
        assert.equal(web3?.state, "shut off");
        assert.equal(web3?.links[0].inTable, false);
        assert.match(renderDot(model), /"machine:director" -> "machine:web3" \[label="not in the table", color="#cc0000"/);
    });

    it("adds up a server's entries over every service port", () => {
        const live = seedLive();
        const [service] = live.directors.director.services;
        live.directors.director.services.push({
            ...service,
            address: "172.16.16.172:8080",
            destinations: service.destinations.map((d) => ({ ...d, port: 8080, active: 1 })),
        });
        const web1 = graphModel(topology, live, "dev").realServers.find((s) => s.name === "web1");
        assert.equal(web1?.links[0].active, 3);
        assert.equal(web1?.links[0].connections, 26);
    });

    it("says when no director, or two, hold the VIP", () => {
        const none = seedLive();
        none.directors.director.holdsVip = false;
        assert.match(renderDot(graphModel(topology, none, "dev")), /held by no director/);
        const unreachable = seedLive();
        unreachable.directors.director = {
            reachable: false,
            error: "ssh: connect to host 172.16.16.173 port 22: No route to host",
            holdsVip: false,
            services: [],
        };
        const unreachableModel = graphModel(topology, unreachable, "dev");
        assert.match(renderDot(unreachableModel), /not reachable over SSH/);
        assert.deepEqual(unreachableModel.realServers[0].links, []);
    });

    it("dot text: every machine, both networks, the VIP; and Graphviz accepts it", () => {
        const dot = renderDot(model);
        for (const name of ["director", "web1", "web2", "web3", "web4", "nfs"]) {
            assert.match(dot, new RegExp(`"machine:${name}" \\[label=`));
        }
        assert.match(dot, /public network 172\.16\.16\.1\/24 \(lvslab-k3x9-public, bridge lvk3x9-p, nat\)/);
        assert.match(dot, /VIP 172\.16\.16\.172, port 80/);
        const run = runTool("dot", ["-Tsvg"], "apt-get install graphviz", { input: dot });
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stdout, /<svg/);
        assert.match(run.stdout, /weight 1, 2 active \/ 11 inactive/);
    });

    it("survives a machine name with quotes and backslashes", () => {
        const outputs = seedOutputs();
        (outputs.nfs as { name: string }).name = 'st"or\\e';
        const dot = renderDot(graphModel(topologyFromOutputs(outputs, "dev"), seedLive(), "dev"));
        assert.equal(runTool("dot", ["-Tsvg"], "apt-get install graphviz", { input: dot }).status, 0);
    });

    it("mermaid text: a flowchart with the VIP holder, each forwarding edge and a class per state", () => {
        const mermaid = renderMermaid(model);
        assert.match(mermaid, /^flowchart TB\n/);
        assert.match(mermaid, /vip_vip ==>\|holds\| machine_director/);
        assert.match(mermaid, /machine_director -->\|"weight 1, 2 active \/ 11 inactive<br\/>13 connections in all"\| machine_web1/);
        assert.match(mermaid, /machine_director -.->\|"not in the table"\| machine_web3/);
        assert.match(mermaid, /class machine_web3 state_shut_off/);
        assert.doesNotMatch(mermaid, /[^#]"[^"|\]\])}]*"[^|\])}]/, "no stray quotes inside a label");
    });
});
