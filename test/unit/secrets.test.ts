import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { privateKeyNeedle, renderSearch, searchProblems, stateSecrets } from "../../proofs/secrets";
import { runTool, SHELLCHECK_HINT } from "../helpers/tools";

const HASH = "$6$saltsaltsaltsalt$" + "a".repeat(86);

describe("the secrets a guest user must not read", () => {
    it("are the generated passwords and every SHA-512 crypt hash the state hands a guest", () => {
        const secrets = stateSecrets([
            { type: "random:index/randomPassword:RandomPassword", outputs: { result: "Console0Password0000" } },
            { type: "random:index/randomPassword:RandomPassword", outputs: { result: "vrrp1234" } },
            { type: "pulumi-nodejs:dynamic/libvirt:Domain", outputs: { firmwareConfig: { "opt/lvslab/console-password-hash": HASH } } },
            { type: "pulumi-nodejs:dynamic/libvirt:CloudInitDisk", outputs: { userData: `password: "${HASH}"\n` } },
            { type: "random:index/randomString:RandomString", outputs: { result: "ab12cd" } },
        ]);
        assert.deepEqual(secrets.sort(), [HASH, "Console0Password0000", "vrrp1234"].sort());
    });

    it("include the private key's longest base64 line, not its armour", () => {
        const key = [
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2",
            "QyNTUxOQ==",
            "-----END OPENSSH PRIVATE KEY-----",
            "",
        ].join("\n");
        assert.equal(privateKeyNeedle(key), "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2");
        assert.equal(privateKeyNeedle("no key here"), undefined);
    });
});

describe("a machine's search", () => {
    it("passes with the canary found and no secret anywhere", () => {
        assert.deepEqual(searchProblems("web1", "canary /etc/hostname\ncanary /etc/hosts\n"), []);
    });

    it("fails naming each place a secret is, and fails when not even the canary was found", () => {
        assert.deepEqual(searchProblems("web1", "canary /etc/hostname\nsecret /proc/cmdline\nsecret the journal\n"), [
            "web1: a secret of the lab is readable by a guest user in /proc/cmdline",
            "web1: a secret of the lab is readable by a guest user in the journal",
        ]);
        assert.deepEqual(searchProblems("web1", ""), ["web1: the search did not find the machine's own name either, so it proves nothing"]);
    });

    it("is a script shellcheck accepts, the secrets quoted whatever they hold", () => {
        const script = renderSearch("web1", [HASH, "it's", "a b"]);
        assert.ok(script.includes(`readonly SECRETS=('${HASH}' 'it'\\''s' 'a b')`), script.slice(0, 300));
        const run = runTool("shellcheck", ["-s", "bash", "-"], SHELLCHECK_HINT, { input: script });
        assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
    });
});
