// scripts/automation.ts's reading of a stack: the outputs from an exported
// state, secrets given as their values.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { revealSecrets, SECRET_SIG, SECRET_SIG_KEY, stackOutputsOf } from "../../scripts/automation";

describe("the stack's outputs from an exported state", () => {
    const secret = (value: unknown): Record<string, string> => ({ [SECRET_SIG_KEY]: SECRET_SIG, plaintext: JSON.stringify(value) });

    it("are the stack resource's outputs, with every secret (nested ones too) given as its value", () => {
        const deployment = {
            version: 3,
            deployment: {
                resources: [
                    { type: "pulumi:providers:command", outputs: { vip: "not this one" } },
                    {
                        type: "pulumi:pulumi:Stack",
                        outputs: { vip: "172.16.16.172", consolePassword: secret("s3cret"), ssh: { user: "lab", keys: [secret({ path: "/k" })] } },
                    },
                ],
            },
        };
        assert.deepEqual(stackOutputsOf(deployment), { vip: "172.16.16.172", consolePassword: "s3cret", ssh: { user: "lab", keys: [{ path: "/k" }] } });
    });

    it("are none before the first up", () => {
        assert.deepEqual(stackOutputsOf({ version: 3, deployment: {} }), {});
    });

    it("refuse a secret exported without its plaintext", () => {
        assert.throws(() => revealSecrets({ password: { [SECRET_SIG_KEY]: SECRET_SIG, ciphertext: "v1:abc" } }), /without its plaintext/);
    });
});
