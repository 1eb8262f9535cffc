// The lab's resource graph as a whole (every URN with its inputs), held
// against fixtures made from the code as it was before the layout changed:
// moving files and narrowing the components' Args must not change what
// Pulumi sees. After a change meant to alter the graph, write the fixtures
// again with LVSLAB_WRITE_GRAPH_FIXTURES=1 and review their diff.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as fs from "fs";
import * as crypto from "crypto";
import * as os from "os";
import * as path from "path";
import { labMocks } from "../helpers/labMocks";

pulumi.runtime.setMocks(
    labMocks(() => undefined),
    "lvs-dr-lab",
    "dev",
    false,
);

import type * as ProgramModule from "../../components/program";

/** The mocks' monitor: what has been registered, by URN (cleared before each declaration). */
interface MockMonitor {
    resources: Map<string, { urn: string; state: unknown }>;
}

/** Where the fake key and image files live; replaced by a placeholder in the fixtures. */
const FILES_PLACEHOLDER = "<files>";
const FIXTURES = path.join(__dirname, "..", "..", "..", "test", "fixtures");

let program: typeof ProgramModule;
let dir: string;

/** Declares the lab for `overrides` and returns every registered URN with its inputs, in URN order. */
async function graphOf(overrides: Record<string, string>): Promise<{ urn: string; inputs: unknown }[]> {
    const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitor;
    monitor.resources.clear();
    const keyPath = path.join(dir, "id_ed25519");
    const config = program.loadLabConfig({
        baseImage: path.join(dir, "lvslab-debian12.qcow2"),
        sshKeyPath: keyPath,
        domainType: "qemu",
        storagePool: "lvslab",
        ...overrides,
    });
    const outputs = program.lab(config);
    await new Promise<void>((resolve) => pulumi.output(outputs).apply(() => resolve()));
    // Registrations complete asynchronously; give the queue a few turns.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const graph = [...monitor.resources.values()].map((resource) => ({ urn: resource.urn, inputs: resource.state })).sort((a, b) => a.urn.localeCompare(b.urn));
    return JSON.parse(JSON.stringify(graph).split(dir).join(FILES_PLACEHOLDER), (_key, value: unknown) => digestOfLong(value)) as {
        urn: string;
        inputs: unknown;
    }[];
}

/** A long string (a step's script, a domain's XML) as its length and SHA-256: the fixtures stay small, a change still shows. */
function digestOfLong(value: unknown): unknown {
    if (typeof value !== "string" || value.length <= 160) {
        return value;
    }
    return `<${value.length} characters, sha256 ${crypto.createHash("sha256").update(value).digest("hex")}>`;
}

/** Compares the graph with its fixture, or writes the fixture when asked to. */
function assertSameGraph(fixture: string, graph: { urn: string; inputs: unknown }[]): void {
    const file = path.join(FIXTURES, fixture);
    if (process.env.LVSLAB_WRITE_GRAPH_FIXTURES === "1") {
        fs.writeFileSync(file, `${JSON.stringify(graph, null, 1)}\n`);
        return;
    }
    const expected = JSON.parse(fs.readFileSync(file, "utf8")) as { urn: string; inputs: unknown }[];
    assert.deepEqual(
        graph.map((resource) => resource.urn),
        expected.map((resource) => resource.urn),
        "the same resources, by URN",
    );
    for (const [index, resource] of graph.entries()) {
        assert.deepEqual(resource.inputs, expected[index].inputs, `the same inputs for ${resource.urn}`);
    }
}

describe("the resource graph is the one the fixtures hold", () => {
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-graph-fixture-"));
        fs.writeFileSync(path.join(dir, "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n");
        fs.writeFileSync(path.join(dir, "id_ed25519.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests lab@test\n");
        for (const file of ["lvslab-debian12.qcow2", "lvslab-debian12.vmlinuz", "lvslab-debian12.initrd", "cloud.qcow2"]) {
            fs.writeFileSync(path.join(dir, file), "");
        }
        program = await import("../../components/program");
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("for the seed config (the image's kernel booted directly)", async () => {
        assertSameGraph("graph-seed.json", await graphOf({}));
    });

    it("for two directors in NAT mode", async () => {
        assertSameGraph("graph-nat-pair.json", await graphOf({ directors: "2", mode: "nat", namePrefix: "natpair" }));
    });

    it("for the seed config on a stock cloud image (cloud-init first boot)", async () => {
        assertSameGraph("graph-seed-cloud-init.json", await graphOf({ baseImage: path.join(dir, "cloud.qcow2"), namePrefix: "cloud" }));
    });
});
