// The random provider, driven through its provider object.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { isSecret, PropertyMap, PropertyValue, reveal, secret } from "../../../plugins/common/props";
import { defaultSpecialChars, encodeId, generateString, StringParams } from "../../../plugins/random/generate";
import { RandomProvider } from "../../../plugins/random/provider";

const stringUrn = "urn:pulumi:test::lab::random:index/randomString:RandomString::s";
const passwordUrn = "urn:pulumi:test::lab::random:index/randomPassword:RandomPassword::p";
const idUrn = "urn:pulumi:test::lab::random:index/randomId:RandomId::i";

const p = new RandomProvider();

function asMap(v: PropertyValue | undefined): PropertyMap {
    assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), `expected an object, got ${JSON.stringify(v)}`);
    return v;
}

async function checked(urn: string, news: PropertyMap): Promise<PropertyMap> {
    const res = await p.check(urn, {}, news);
    assert.deepEqual(res.failures, []);
    return asMap(res.inputs);
}

async function createString(urn: string, news: PropertyMap): Promise<{ id: string; outs: PropertyMap; result: string }> {
    const res = await p.create(urn, await checked(urn, news));
    const outs = asMap(res.outs);
    const result = reveal(outs.result);
    assert.equal(typeof result, "string");
    return { id: res.id, outs, result: String(result) };
}

const count = (s: string, chars: string) => Array.from(s).filter((c) => chars.includes(c)).length;
const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const lower = "abcdefghijklmnopqrstuvwxyz";
const digits = "0123456789";

describe("random provider: check", () => {
    it("reports the version of the @pulumi/random SDK it stands in for", () => {
        const pkg = JSON.parse(fs.readFileSync(require.resolve("@pulumi/random/package.json"), "utf8")) as { version: string };
        assert.equal(p.version, pkg.version);
    });

    it("applies the official defaults", async () => {
        assert.deepEqual(await checked(stringUrn, { length: 12 }), {
            length: 12,
            upper: true,
            lower: true,
            numeric: true,
            number: true,
            special: true,
            minUpper: 0,
            minLower: 0,
            minNumeric: 0,
            minSpecial: 0,
        });
    });

    it("keeps the deprecated number and numeric in step", async () => {
        const a = await checked(stringUrn, { length: 4, number: false });
        assert.equal(a.numeric, false);
        assert.equal(a.number, false);
        const b = await checked(stringUrn, { length: 4, numeric: false });
        assert.equal(b.number, false);
        const c = await p.check(stringUrn, {}, { length: 4, numeric: false, number: true });
        assert.deepEqual(
            (c.failures ?? []).map((f) => f.property),
            ["numeric"],
        );
    });

    it("names impossible settings", async () => {
        const missing = await p.check(stringUrn, {}, {});
        assert.deepEqual(
            (missing.failures ?? []).map((f) => f.property),
            ["length"],
        );
        const short = await p.check(passwordUrn, {}, { length: 3, minUpper: 2, minNumeric: 2 });
        assert.match((short.failures ?? [])[0]?.reason ?? "", /length \(3\) must be at least .* \(4\)/);
        const empty = await p.check(stringUrn, {}, { length: 3, upper: false, lower: false, numeric: false, special: false });
        assert.deepEqual(
            (empty.failures ?? []).map((f) => f.property),
            ["special"],
        );
        const negative = await p.check(stringUrn, {}, { length: 0, minLower: -1 });
        assert.deepEqual((negative.failures ?? []).map((f) => f.property).sort(), ["length", "minLower"]);
        const noBytes = await p.check(idUrn, {}, { prefix: "x" });
        assert.deepEqual(
            (noBytes.failures ?? []).map((f) => f.property),
            ["byteLength"],
        );
    });

    it("lets unknown values through during previews", async () => {
        const res = await p.check(stringUrn, {}, { length: unknownValue, keepers: { k: unknownValue } });
        assert.deepEqual(res.failures, []);
    });

    it("refuses other resource types", async () => {
        await assert.rejects(p.check("urn:pulumi:test::lab::random:index/randomUuid:RandomUuid::u", {}, {}), /not random:index\/randomUuid/);
    });
});

describe("random provider: values", () => {
    it("RandomString honours the length, its ID is the result and it is not secret", async () => {
        const { id, outs, result } = await createString(stringUrn, { length: 40 });
        assert.equal(result.length, 40);
        assert.equal(id, result);
        assert.equal(typeof outs.result, "string");
        assert.equal(outs.length, 40);
    });

    it("honours disabled character classes", async () => {
        for (let i = 0; i < 20; i++) {
            const { result } = await createString(stringUrn, { length: 64, upper: false, special: false });
            assert.match(result, /^[a-z0-9]{64}$/);
        }
        const { result } = await createString(stringUrn, { length: 64, lower: false, upper: false, special: false });
        assert.match(result, /^[0-9]{64}$/);
    });

    it("honours minimum counts", async () => {
        for (let i = 0; i < 50; i++) {
            const { result } = await createString(passwordUrn, { length: 10, minUpper: 3, minLower: 2, minNumeric: 3, minSpecial: 2 });
            assert.equal(result.length, 10);
            assert.ok(count(result, upper) >= 3, result);
            assert.ok(count(result, lower) >= 2, result);
            assert.ok(count(result, digits) >= 3, result);
            assert.ok(count(result, defaultSpecialChars) >= 2, result);
        }
    });

    it("uses overrideSpecial as the special characters", async () => {
        for (let i = 0; i < 20; i++) {
            const { result } = await createString(stringUrn, { length: 30, upper: false, lower: false, numeric: false, overrideSpecial: "-_", minSpecial: 5 });
            assert.match(result, /^[-_]{30}$/);
        }
    });

    it("draws from every enabled class over many values", () => {
        const params: StringParams = {
            length: 2000,
            upper: true,
            lower: true,
            numeric: true,
            special: true,
            minUpper: 0,
            minLower: 0,
            minNumeric: 0,
            minSpecial: 0,
        };
        const s = generateString(params);
        for (const set of [upper, lower, digits, defaultSpecialChars]) {
            assert.ok(count(s, set) > 0, `no character of ${set}`);
        }
        assert.notEqual(generateString(params), s, "two draws must differ");
    });

    it("RandomPassword keeps the result secret and uses the constant ID", async () => {
        const { id, outs, result } = await createString(passwordUrn, { length: 24, keepers: { a: "1" } });
        assert.equal(id, "none");
        assert.ok(isSecret(outs.result), "result must be wrapped as a secret");
        assert.equal(result.length, 24);
        assert.deepEqual(outs.keepers, { a: "1" });
        assert.ok(!JSON.stringify(outs.id ?? "").includes(result));
    });

    it("keeps secret inputs secret in the outputs", async () => {
        const res = await p.create(stringUrn, await checked(stringUrn, { length: 5, keepers: secret({ k: "v" }) }));
        assert.ok(isSecret(asMap(res.outs).keepers));
    });

    it("RandomId encodings all carry the same bytes, after the prefix", async () => {
        const res = await p.create(idUrn, await checked(idUrn, { byteLength: 8, prefix: "lab-" }));
        const outs = asMap(res.outs);
        const hex = String(outs.hex);
        assert.match(hex, /^lab-[0-9a-f]{16}$/);
        const bytes = Buffer.from(hex.slice(4), "hex");
        assert.equal(outs.b64Std, "lab-" + bytes.toString("base64"));
        assert.equal(outs.b64Url, "lab-" + bytes.toString("base64url"));
        assert.equal(outs.dec, "lab-" + BigInt("0x" + bytes.toString("hex")).toString());
        assert.equal(res.id, bytes.toString("base64url"), "the ID is base64url without the prefix");
    });

    it("RandomId encodes known bytes like the official provider", () => {
        assert.deepEqual(encodeId(Buffer.from([0x00, 0xfb, 0xff])), { id: "APv_", b64Url: "APv_", b64Std: "APv/", hex: "00fbff", dec: "64511" });
        assert.equal(encodeId(Buffer.from([0xff])).b64Std, "/w==", "standard base64 keeps its padding");
        assert.equal(encodeId(Buffer.from([0xff])).b64Url, "_w", "URL base64 has none");
    });
});

describe("random provider: diff", () => {
    it("is stable: no change when the inputs are the same", async () => {
        const news = await checked(passwordUrn, { length: 16, keepers: { vip: "172.16.16.172" } });
        const olds = asMap((await p.create(passwordUrn, news)).outs);
        assert.deepEqual(await p.diff("none", passwordUrn, olds, await checked(passwordUrn, { length: 16, keepers: { vip: "172.16.16.172" } })), {
            changes: false,
            replaces: [],
        });
    });

    it("replaces when keepers change", async () => {
        const news = await checked(stringUrn, { length: 8, keepers: { vip: "a" } });
        const olds = asMap((await p.create(stringUrn, news)).outs);
        const d = await p.diff("x", stringUrn, olds, await checked(stringUrn, { length: 8, keepers: { vip: "b" } }));
        assert.deepEqual(d, { changes: true, replaces: ["keepers"] });
        const unknown = await p.diff("x", stringUrn, olds, await checked(stringUrn, { length: 8, keepers: { vip: unknownValue } }));
        assert.deepEqual(unknown.replaces, ["keepers"]);
    });

    it("replaces on any other input too", async () => {
        const olds = asMap((await p.create(stringUrn, await checked(stringUrn, { length: 8 }))).outs);
        assert.deepEqual((await p.diff("x", stringUrn, olds, await checked(stringUrn, { length: 9 }))).replaces, ["length"]);
        assert.deepEqual((await p.diff("x", stringUrn, olds, await checked(stringUrn, { length: 8, numeric: false }))).replaces, ["number", "numeric"]);
        const idOlds = asMap((await p.create(idUrn, await checked(idUrn, { byteLength: 4 }))).outs);
        assert.deepEqual((await p.diff("x", idUrn, idOlds, await checked(idUrn, { byteLength: 4, prefix: "p" }))).replaces, ["prefix"]);
    });

    it("treats absent and empty keepers alike", async () => {
        const olds = asMap((await p.create(stringUrn, await checked(stringUrn, { length: 8 }))).outs);
        assert.deepEqual(await p.diff("x", stringUrn, olds, await checked(stringUrn, { length: 8, keepers: {} })), { changes: false, replaces: [] });
    });
});
