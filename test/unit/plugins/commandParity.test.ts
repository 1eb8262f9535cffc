// The project's `command` plugin against the official provider's v1.2.1
// schema (test/fixtures/command-v1.2.1.json: its input names, defaults and
// secret markings). What check writes into a step's inputs is what the
// official check writes, so a stack moves between the two toolchains without
// an update; the diff treats secretness as the official one does.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import * as command from "@pulumi/command";
import { isObject, isSecret, PropertyMap, PropertyValue, reveal, secret } from "../../../plugins/common/props";
import {
    CommandProvider,
    commandInputKeys,
    connectionDefaults,
    loggingValues,
    secretConnectionKeys,
    secretStrings,
    unsetMeans,
} from "../../../plugins/command/provider";
import { maskSecrets } from "../../../plugins/command/ssh";
import { projectFile } from "../../helpers/tools";

interface OfficialSchema {
    resource: string;
    inputs: string[];
    requiredInputs: string[];
    inputDefaults: Record<string, unknown>;
    secretInputs: string[];
    replaceOnChanges: string[];
    outputs: string[];
    secretOutputs: string[];
    connection: { properties: string[]; required: string[]; defaults: Record<string, unknown>; secret: string[] };
    logging: string[];
    unsetMeans: Record<string, unknown>;
}

const official = JSON.parse(fs.readFileSync(projectFile("test/fixtures/command-v1.2.1.json"), "utf8")) as OfficialSchema;
const urn = `urn:pulumi:test::lab::${official.resource}::step`;
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

/** Where in a value secrets are: "" for the value itself, "a.b" for members. */
function secretPaths(v: PropertyValue | undefined, at = ""): string[] {
    if (v === undefined || v === null) {
        return [];
    }
    if (isSecret(v)) {
        return [at, ...secretPaths(v.value, at)];
    }
    if (Array.isArray(v)) {
        return v.flatMap((e, i) => secretPaths(e, `${at}[${i}]`));
    }
    if (isObject(v)) {
        return Object.entries(v).flatMap(([k, e]) => secretPaths(e, at === "" ? k : `${at}.${k}`));
    }
    return [];
}

describe("command plugin: parity with the official v1.2.1 schema", () => {
    const p = new CommandProvider();

    it("knows exactly the official inputs, logging values and connection defaults", () => {
        assert.deepEqual(sorted(commandInputKeys), sorted(official.inputs));
        assert.deepEqual(sorted(loggingValues), sorted(official.logging));
        assert.deepEqual(connectionDefaults, official.connection.defaults);
        assert.deepEqual(sorted(secretConnectionKeys), sorted(official.connection.secret));
        assert.deepEqual(unsetMeans, official.unsetMeans);
        assert.deepEqual(official.inputDefaults, {}, "the official schema has no default on the resource's own inputs");
        // The SDK the program uses fills in the same connection defaults.
        const sdkFilled = command.types.input.remote.connectionArgsProvideDefaults({ host: "h" });
        for (const [k, v] of Object.entries(official.connection.defaults)) {
            assert.equal(sdkFilled[k as keyof typeof sdkFilled], v, `the SDK's default for connection.${k}`);
        }
    });

    it("check writes only the official defaults: the connection's, nothing for logging or addPreviousOutputInEnv", async () => {
        const given: PropertyMap = { connection: secret({ host: "10.0.0.5", privateKey: "KEY" }), create: "true", delete: "false", triggers: ["x"] };
        const res = await p.check(urn, {}, given);
        assert.deepEqual(res.failures, []);
        const inputs = res.inputs as PropertyMap;
        assert.deepEqual(sorted(Object.keys(inputs)), sorted(Object.keys(given)), "no input appears that was not given");
        const connection = reveal(inputs.connection) as PropertyMap;
        assert.deepEqual(connection, { host: "10.0.0.5", privateKey: "KEY", ...official.connection.defaults });
        const missing = await p.check(urn, {}, { create: "true" });
        assert.deepEqual(
            (missing.failures ?? []).map((f) => f.property),
            official.requiredInputs,
        );
    });

    it("check marks secret what the official schema marks secret, and nothing else", async () => {
        const given: PropertyMap = {
            connection: { host: "h", user: "lab", password: "pw", privateKey: "KEY", privateKeyPassword: "kp" },
            create: "true",
            stdin: "in",
            environment: { LAB_A: "a" },
        };
        const inputs = (await p.check(urn, {}, given)).inputs as PropertyMap;
        const expected = [...official.secretInputs, ...official.connection.secret.map((k) => `connection.${k}`)];
        assert.deepEqual(sorted(secretPaths(inputs)), sorted(expected));
        // A secret the program passes stays secret where it is.
        const kept = (await p.check(urn, {}, { ...given, stdin: secret("in") })).inputs as PropertyMap;
        assert.ok(isSecret(kept.stdin));
    });

    it("every official input survives check unchanged (apart from the connection's defaults and secrets)", async () => {
        const given: PropertyMap = {
            addPreviousOutputInEnv: false,
            connection: secret({ host: "h" }),
            create: "c",
            delete: "d",
            environment: { LAB_X: "x" },
            logging: "stderr",
            stdin: "s",
            triggers: [1, "two", { three: 3 }],
            update: "u",
        };
        assert.deepEqual(sorted(Object.keys(given)), sorted(official.inputs));
        const inputs = (await p.check(urn, {}, given)).inputs as PropertyMap;
        for (const k of official.inputs.filter((k) => k !== "connection")) {
            assert.deepEqual(inputs[k], given[k], k);
        }
    });

    it("diff: a changed trigger replaces (replaceOnChanges), any other change updates in place", async () => {
        assert.deepEqual(official.replaceOnChanges, ["triggers"]);
        const base = (await p.check(urn, {}, { connection: { host: "h" }, create: "c", triggers: [1] })).inputs as PropertyMap;
        const state = { ...base, stdout: "", stderr: "" };
        assert.deepEqual(await p.diff("id", urn, state, base), { changes: false, replaces: [] });
        for (const k of official.inputs) {
            const changed = {
                ...base,
                [k]: k === "triggers" ? [2] : k === "connection" ? secret({ ...(reveal(base.connection) as PropertyMap), host: "h2" }) : "new",
            };
            const expected = official.replaceOnChanges.includes(k) ? [k] : [];
            assert.deepEqual(await p.diff("id", urn, state, changed), { changes: true, replaces: expected }, k);
        }
    });

    it("masks every secret value in a failure message, whole and line by line", () => {
        const secrets = secretStrings({ create: "plain", stdin: secret("pw123\nsecond line\n"), environment: secret({ A: "tok" }), delete: secret("rm x") });
        assert.deepEqual(sorted(secrets), sorted(["pw123\nsecond line\n", "pw123\nsecond line", "pw123", "second line", "tok", "rm x"]));
        assert.equal(maskSecrets("got pw123 and tok; plain", secrets), "got [secret] and [secret]; plain");
        // A short one-line stdin is masked without its newline too.
        assert.equal(maskSecrets("pw=ab.", secretStrings({ stdin: secret("ab\n") })), "pw=[secret].");
    });
});
