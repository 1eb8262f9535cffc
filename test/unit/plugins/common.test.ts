// Helpers shared by both plugins: secret/unknown handling and argument parsing.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { specialOutputValueSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { engineAddressFromArgs } from "../../../plugins/common/engine";
import {
    changedKeys,
    compact,
    containsSecret,
    containsUnknown,
    identicalValue,
    isSecret,
    mapSecret,
    nameFromUrn,
    PropertyValue,
    reveal,
    secret,
    unwrapSecret,
} from "../../../plugins/common/props";

describe("secret and unknown values", () => {
    it("wraps secrets the way the SDK encodes them, once", () => {
        const s = secret("pw");
        assert.deepEqual(s, { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "pw" });
        assert.equal(secret(s), s);
        assert.ok(isSecret(s));
        assert.equal(unwrapSecret(s), "pw");
    });

    it("reveals nested secrets and finds them", () => {
        const v: PropertyValue = { a: secret({ b: [1, secret("x")] }), c: "plain" };
        assert.deepEqual(reveal(v), { a: { b: [1, "x"] }, c: "plain" });
        assert.equal(containsSecret(v), true);
        assert.equal(containsSecret({ c: ["plain"] }), false);
    });

    it("finds unknowns, including output values without a value", () => {
        assert.equal(containsUnknown({ a: [unknownValue] }), true);
        assert.equal(containsUnknown({ a: { [specialSigKey]: specialOutputValueSig } }), true);
        assert.equal(containsUnknown({ a: { [specialSigKey]: specialOutputValueSig, value: 1 } }), false);
        assert.equal(containsSecret({ [specialSigKey]: specialOutputValueSig, value: 1, secret: true }), true);
    });

    it("edits inside a secret without losing it", () => {
        const edited = mapSecret(secret({ host: "h" }), (inner) => ({ ...(inner as Record<string, PropertyValue>), port: 22 }));
        assert.ok(isSecret(edited));
        assert.deepEqual(reveal(edited), { host: "h", port: 22 });
        assert.deepEqual(
            mapSecret("plain", (x) => `${String(x)}!`),
            "plain!",
        );
    });

    it("compares revealed values for changes", () => {
        const olds = { a: secret("x"), b: [1, 2], c: { d: 1 }, out: "ignored" };
        assert.deepEqual(changedKeys(olds, { a: "x", b: [1, 2], c: { d: 1 } }, ["a", "b", "c"]), []);
        assert.deepEqual(changedKeys(olds, { a: "y", b: [1], c: { d: 1, e: 2 } }, ["a", "b", "c"]), ["a", "b", "c"]);
        assert.deepEqual(changedKeys(olds, { a: secret(unknownValue), b: [1, 2], c: { d: 1 } }, ["a", "b", "c"]), ["a"]);
    });

    it("can count a change of secretness alone as a change, as the engine's DeepEquals does", () => {
        assert.equal(identicalValue(secret({ a: [1, secret("x")] }), secret({ a: [1, secret("x")] })), true);
        assert.equal(identicalValue(secret("x"), "x"), false);
        assert.equal(identicalValue({ a: secret("x") }, { a: "x" }), false);
        assert.equal(identicalValue({ a: 1, b: null }, { a: 1 }), true, "a null member counts as absent");
        const olds = { a: secret("x"), b: "y" };
        assert.deepEqual(changedKeys(olds, { a: "x", b: "y" }, ["a", "b"], { secretness: true }), ["a"]);
        assert.deepEqual(changedKeys(olds, { a: secret("x"), b: secret("y") }, ["a", "b"], { secretness: true }), ["b"]);
    });

    it("drops undefined members, which a protobuf Struct cannot carry", () => {
        assert.deepEqual(compact({ a: 1, b: undefined, c: null }), { a: 1, c: null });
    });

    it("takes the resource name from a URN", () => {
        assert.equal(nameFromUrn("urn:pulumi:dev::lab::parent$command:remote:Command::web1-vip"), "web1-vip");
    });
});

describe("plugin arguments", () => {
    it("finds the engine address after the flags the engine may add", () => {
        assert.equal(engineAddressFromArgs(["127.0.0.1:4242"]), "127.0.0.1:4242");
        assert.equal(engineAddressFromArgs(["--logtostderr", "-v=9", "--tracing", "http://t", "127.0.0.1:1"]), "127.0.0.1:1");
        assert.equal(engineAddressFromArgs([]), undefined);
    });
});
