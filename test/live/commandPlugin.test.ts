// The command provider, driven through its provider object: check/diff on
// their own, and create/update/delete against a real sshd on 127.0.0.1.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { ResourceLogger, Severity } from "../../plugins/common/engine";
import { isSecret, PropertyMap, PropertyValue, reveal, secret } from "../../plugins/common/props";
import { CommandProvider, maxPreviousOutputBytes } from "../../plugins/command/provider";
import { askpassScript, environmentNameProblem } from "../../plugins/command/ssh";
import { freePort, startSshd, TestSshd } from "./sshd";

const urn = "urn:pulumi:test::lab::command:remote:Command::cmd";

interface Logged {
    severity: Severity;
    message: string;
    urn: string;
    ephemeral: boolean;
}

function recordingLogger(): ResourceLogger & { lines: Logged[] } {
    const lines: Logged[] = [];
    return {
        lines,
        log: (severity, message, u, ephemeral = false) => {
            lines.push({ severity, message, urn: u, ephemeral });
        },
        flush: () => Promise.resolve(),
    };
}

function asMap(v: PropertyValue | undefined): PropertyMap {
    assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), `expected an object, got ${JSON.stringify(v)}`);
    return v;
}

describe("command provider: check", () => {
    const p = new CommandProvider();

    it("reports the version of the @pulumi/command SDK it stands in for", () => {
        const pkg = JSON.parse(fs.readFileSync(require.resolve("@pulumi/command/package.json"), "utf8")) as { version: string };
        assert.equal(p.version, pkg.version);
    });

    it("applies the connection defaults inside the secret and keeps it secret", async () => {
        const res = await p.check(urn, {}, { create: "true", connection: secret({ host: "10.0.0.5" }) });
        assert.deepEqual(res.failures, []);
        const inputs = asMap(res.inputs);
        assert.ok(isSecret(inputs.connection), "connection must stay secret");
        assert.deepEqual(reveal(inputs.connection), { host: "10.0.0.5", port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 });
        // The official schema has no default for these: check writes none (else a stack switches toolchains with an update).
        assert.deepEqual(Object.keys(inputs).sort(), ["connection", "create"]);
        assert.equal(inputs.create, "true");
    });

    it("keeps values that were given, and makes the connection and its key secret as the official schema does", async () => {
        const res = await p.check(
            urn,
            {},
            {
                connection: { host: "h", port: 2222, user: "lab", privateKey: "KEY", dialErrorLimit: -1 },
                logging: "none",
                addPreviousOutputInEnv: false,
            },
        );
        assert.deepEqual(res.failures, []);
        const inputs = asMap(res.inputs);
        assert.ok(isSecret(inputs.connection), "the connection is secret even when given plain");
        const conn = asMap(isSecret(inputs.connection) ? inputs.connection.value : undefined);
        assert.equal(conn.port, 2222);
        assert.equal(conn.user, "lab");
        assert.equal(conn.dialErrorLimit, -1);
        assert.equal(conn.perDialTimeout, 15);
        assert.deepEqual(conn.privateKey, secret("KEY"));
        assert.equal(inputs.logging, "none");
        assert.equal(inputs.addPreviousOutputInEnv, false);
    });

    it("passes an unknown connection through during previews, as a secret", async () => {
        const res = await p.check(urn, {}, { connection: unknownValue });
        assert.deepEqual(res.failures, []);
        assert.deepEqual(asMap(res.inputs).connection, secret(unknownValue));
    });

    it("names the offending setting", async () => {
        const res = await p.check(
            urn,
            {},
            {
                connection: { host: "", port: 70000, proxy: { host: "bastion" } },
                environment: { "BAD-NAME": "x", SSH_ASKPASS: "y", OK: 3 },
                logging: "loud",
                triggers: "not a list",
            },
        );
        const props = (res.failures ?? []).map((f) => f.property).sort();
        assert.deepEqual(props, [
            "connection.host",
            "connection.port",
            "connection.proxy",
            "environment.BAD-NAME",
            "environment.OK",
            "environment.SSH_ASKPASS",
            "logging",
            "triggers",
        ]);
        const missing = await p.check(urn, {}, { create: "true" });
        assert.deepEqual(
            (missing.failures ?? []).map((f) => f.property),
            ["connection"],
        );
    });

    it("refuses other resource types", async () => {
        await assert.rejects(p.check("urn:pulumi:test::lab::command:local:Command::x", {}, {}), /only command:remote:Command/);
    });

    it("answers ssh's passphrase and password prompts from the right variable", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "askpass-test-"));
        try {
            const script = path.join(dir, "askpass");
            fs.writeFileSync(script, askpassScript, { mode: 0o700 });
            const env = { PATH: process.env.PATH, PULUMI_COMMAND_SSH_KEY_PASSPHRASE: "key pass", PULUMI_COMMAND_SSH_PASSWORD: "pa$$ 'word'" };
            const ask = (prompt: string) => execFileSync(script, [prompt], { env, encoding: "utf8" });
            assert.equal(ask("Enter passphrase for key '/tmp/x/id': "), "key pass\n");
            assert.equal(ask("lab@10.0.0.5's password: "), "pa$$ 'word'\n");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("rejects environment names ssh cannot send", () => {
        assert.equal(environmentNameProblem("LAB_OK"), undefined);
        assert.match(environmentNameProblem("1X") ?? "", /not a valid/);
        assert.match(environmentNameProblem("LD_PRELOAD") ?? "", /local ssh client/);
    });
});

describe("command provider: diff", () => {
    const p = new CommandProvider();
    const base: PropertyMap = {
        connection: secret({ host: "h", port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15, privateKey: secret("KEY") }),
        create: "echo hi",
        triggers: ["a", 1],
    };
    const state: PropertyMap = { ...base, stdout: "hi", stderr: "" };

    it("sees no change when the inputs are equal (outputs in the old state are ignored)", async () => {
        assert.deepEqual(await p.diff("id", urn, state, { ...base }), { changes: false, replaces: [] });
    });

    it("updates when only the secretness of a value changed, as the official provider does", async () => {
        assert.deepEqual(await p.diff("id", urn, state, { ...base, create: secret("echo hi") }), { changes: true, replaces: [] });
        assert.deepEqual(await p.diff("id", urn, { ...state, stdin: secret("pw") }, { ...base, stdin: "pw" }), { changes: true, replaces: [] });
        assert.deepEqual(await p.diff("id", urn, state, { ...base, triggers: [secret("a"), 1] }), { changes: true, replaces: ["triggers"] });
    });

    it("sees no change in a state an earlier version of this plugin wrote (defaults written out, the key not secret inside the connection)", async () => {
        const earlier: PropertyMap = {
            ...state,
            connection: secret({ host: "h", port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15, privateKey: "KEY" }),
            logging: "stdoutAndStderr",
            addPreviousOutputInEnv: true,
            stdout: secret("hi"),
        };
        assert.deepEqual(await p.diff("id", urn, earlier, { ...base }), { changes: false, replaces: [] });
        // What an unset input means is not a change either way; another value is.
        assert.deepEqual(await p.diff("id", urn, state, { ...base, logging: "stdoutAndStderr", addPreviousOutputInEnv: true }), {
            changes: false,
            replaces: [],
        });
        assert.deepEqual(await p.diff("id", urn, earlier, { ...base, logging: "none" }), { changes: true, replaces: [] });
        assert.deepEqual(await p.diff("id", urn, earlier, { ...base, addPreviousOutputInEnv: false }), { changes: true, replaces: [] });
    });

    it("updates in place when a command or the connection changes", async () => {
        assert.deepEqual(await p.diff("id", urn, state, { ...base, create: "echo bye" }), { changes: true, replaces: [] });
        const moved = { ...base, connection: secret({ host: "h2", port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 }) };
        assert.deepEqual(await p.diff("id", urn, state, moved), { changes: true, replaces: [] });
        assert.deepEqual(await p.diff("id", urn, state, { ...base, delete: "rm -f x" }), { changes: true, replaces: [] });
    });

    it("replaces when triggers change, are added or become unknown", async () => {
        assert.deepEqual(await p.diff("id", urn, state, { ...base, triggers: ["a", 2] }), { changes: true, replaces: ["triggers"] });
        const noTriggers = { ...state };
        delete noTriggers.triggers;
        assert.deepEqual(await p.diff("id", urn, noTriggers, { ...base }), { changes: true, replaces: ["triggers"] });
        assert.deepEqual(await p.diff("id", urn, state, { ...base, triggers: ["a", unknownValue] }), { changes: true, replaces: ["triggers"] });
    });

    it("replaces and updates together when both kinds change", async () => {
        const d = await p.diff("id", urn, state, { ...base, create: "echo 2", triggers: [] });
        assert.deepEqual(d, { changes: true, replaces: ["triggers"] });
    });
});

describe("command provider: against a real sshd", () => {
    let sshd: TestSshd;
    let logger: ReturnType<typeof recordingLogger>;
    let p: CommandProvider;

    before(async () => {
        sshd = await startSshd();
        logger = recordingLogger();
        p = new CommandProvider({ logger, ssh: { retryPauseMs: () => 200 } });
    });
    after(async () => {
        await sshd?.stop();
    });

    const connection = (extra: PropertyMap = {}): PropertyValue =>
        secret({ host: "127.0.0.1", port: sshd.port, user: sshd.user, privateKey: sshd.privateKey, dialErrorLimit: 3, perDialTimeout: 5, ...extra });

    /** Inputs as the engine would pass them: after check. */
    async function checked(news: PropertyMap): Promise<PropertyMap> {
        const res = await p.check(urn, {}, news);
        assert.deepEqual(res.failures, []);
        return asMap(res.inputs);
    }

    it("create runs the command and returns the inputs plus stdout and stderr", async () => {
        const inputs = await checked({ connection: connection(), create: "echo hello; echo warning >&2" });
        const res = await p.create(urn, inputs);
        assert.match(res.id, /^cmd[0-9a-f]{8}$/);
        const outs = asMap(res.outs);
        assert.equal(outs.stdout, "hello");
        assert.equal(outs.stderr, "warning");
        assert.ok(isSecret(outs.connection), "connection stays secret in the outputs");
        assert.equal(outs.create, inputs.create);
        assert.equal(outs.logging, undefined, "an unset logging stays unset");
    });

    it("create without a create command runs nothing", async () => {
        const res = await p.create(urn, await checked({ connection: connection(), delete: "true" }));
        assert.equal(asMap(res.outs).stdout, "");
        assert.equal(asMap(res.outs).stderr, "");
    });

    it("passes stdin to the command's standard input; stdout is not secret because stdin is (as the official provider)", async () => {
        const res = await p.create(urn, await checked({ connection: connection(), create: "cat; echo done >&2", stdin: secret("line one\nline two\n") }));
        const outs = asMap(res.outs);
        assert.equal(outs.stdout, "line one\nline two");
        assert.equal(outs.stderr, "done");
        assert.ok(isSecret(outs.stdin), "stdin keeps its own secretness");
        const quiet = await p.create(urn, await checked({ connection: connection(), create: "wc -c", stdin: "" }));
        assert.equal(asMap(quiet.outs).stdout, "0", "an empty stdin sends nothing");
    });

    it("sends the environment (multi-line values too) the server accepts", async () => {
        const environment = { LAB_GREETING: "hello there", LAB_MULTI: "a\nb 'c' \"d\"", NOT_ACCEPTED: "dropped" };
        const res = await p.create(
            urn,
            await checked({ connection: connection(), environment, create: 'printf "%s|%s|%s" "$LAB_GREETING" "$LAB_MULTI" "${NOT_ACCEPTED-unset}"' }),
        );
        assert.equal(asMap(res.outs).stdout, "hello there|a\nb 'c' \"d\"|unset");
    });

    it("does not make stdout secret because an environment value or the command is (as the official provider)", async () => {
        const res = await p.create(
            urn,
            await checked({ connection: connection(), environment: { LAB_TOKEN: secret("s3cret") }, create: secret('echo "$LAB_TOKEN"') }),
        );
        const outs = asMap(res.outs);
        assert.equal(outs.stdout, "s3cret");
        assert.ok(isSecret(outs.create) && isSecret(asMap(outs.environment).LAB_TOKEN), "the inputs keep their secretness");
        const updated = asMap(
            (await p.update("id", urn, outs, await checked({ connection: connection(), environment: { LAB_TOKEN: secret("s3cret") } }))).outs,
        );
        assert.equal(updated.stdout, "s3cret", "with nothing to run, the previous output stays, not secret");
    });

    it("update runs create again when there is no update command, with the previous output in the environment", async () => {
        const counter = path.join(sshd.scratch, "counter");
        const create = `echo x >> ${counter}; echo "runs=$(wc -l < ${counter}) prev=\${PULUMI_COMMAND_STDOUT-none}"`;
        const first = asMap((await p.create(urn, await checked({ connection: connection(), create }))).outs);
        assert.equal(first.stdout, "runs=1 prev=none");
        const news = await checked({ connection: connection(), create, triggers: [] });
        const second = asMap((await p.update("id", urn, first, news)).outs);
        assert.equal(second.stdout, "runs=2 prev=runs=1 prev=none");
        assert.deepEqual(second.triggers, []);
    });

    it("update prefers the update command", async () => {
        const olds = asMap((await p.create(urn, await checked({ connection: connection(), create: "echo created" }))).outs);
        const news = await checked({ connection: connection(), create: "echo created", update: 'echo "updated after $PULUMI_COMMAND_STDOUT"' });
        const outs = asMap((await p.update("id", urn, olds, news)).outs);
        assert.equal(outs.stdout, "updated after created");
    });

    it("addPreviousOutputInEnv=false keeps the previous output out of the environment", async () => {
        const olds = asMap((await p.create(urn, await checked({ connection: connection(), create: "echo first" }))).outs);
        const news = await checked({ connection: connection(), create: 'echo "prev=${PULUMI_COMMAND_STDOUT-unset}"', addPreviousOutputInEnv: false });
        assert.equal(asMap((await p.update("id", urn, olds, news)).outs).stdout, "prev=unset");
    });

    it("delete runs the delete command with PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR", async () => {
        const marker = path.join(sshd.scratch, "deleted");
        const props = asMap(
            (
                await p.create(
                    urn,
                    await checked({
                        connection: connection(),
                        create: "printf 'out 1\\nout 2\\n'; echo err >&2",
                        delete: `printf '%s|%s' "$PULUMI_COMMAND_STDOUT" "$PULUMI_COMMAND_STDERR" > ${marker}`,
                    }),
                )
            ).outs,
        );
        assert.equal(fs.existsSync(marker), false);
        await p.delete("id", urn, props);
        assert.equal(fs.readFileSync(marker, "utf8"), "out 1\nout 2|err");
    });

    it("leaves out a previous output too large for one environment variable, with a warning", async () => {
        const marker = path.join(sshd.scratch, "big-prev");
        const props = asMap(
            (
                await p.create(
                    urn,
                    await checked({
                        connection: connection(),
                        create: `head -c ${maxPreviousOutputBytes + 1} /dev/zero | tr '\\0' x`,
                        delete: `echo "\${PULUMI_COMMAND_STDOUT-unset}" > ${marker}`,
                    }),
                )
            ).outs,
        );
        logger.lines.length = 0;
        await p.delete("id", urn, props);
        assert.equal(fs.readFileSync(marker, "utf8"), "unset\n");
        assert.ok(logger.lines.some((l) => l.severity === "warning" && /PULUMI_COMMAND_STDOUT not set/.test(l.message)));
    });

    it("a failing command fails with its exit status, stderr and the tail of stdout", async () => {
        const inputs = await checked({ connection: connection(), create: "echo partial output; echo it broke >&2; exit 3" });
        await assert.rejects(p.create(urn, inputs), (e: Error) => {
            assert.match(e.message, /exit status 3/);
            assert.match(e.message, /it broke/);
            assert.match(e.message, /partial output/);
            assert.match(e.message, new RegExp(`${sshd.user}@127\\.0\\.0\\.1:${sshd.port}`));
            return true;
        });
    });

    it("a failing secret command: neither its text nor its output (which may show part of it) is in the error", async () => {
        const inputs = await checked({ connection: connection(), create: secret("echo hunter2 >&2; exit 4") });
        await assert.rejects(p.create(urn, inputs), (e: Error) => {
            assert.match(e.message, /exit status 4, running a secret command/);
            assert.doesNotMatch(e.message, /hunter2/);
            return true;
        });
    });

    it("a failure message never shows stdin, and masks a secret stdin or environment value the command printed", async () => {
        const quiet = await checked({ connection: connection(), create: "read -r pw; echo checked >&2; exit 5", stdin: "plain-stdin-text\n" });
        await assert.rejects(p.create(urn, quiet), (e: Error) => {
            assert.match(e.message, /exit status 5, running "read -r pw; echo checked >&2; exit 5"/);
            assert.match(e.message, /checked/);
            assert.doesNotMatch(e.message, /plain-stdin-text/);
            return true;
        });
        const leaky = await checked({
            connection: connection(),
            create: 'cat; echo "token=$LAB_TOKEN" >&2; exit 6',
            stdin: secret("Pw0rd123\nsecond secret line\n"),
            environment: { LAB_TOKEN: secret("t0ken-value"), LAB_PLAIN: "plain" },
        });
        await assert.rejects(p.create(urn, leaky), (e: Error) => {
            assert.match(e.message, /exit status 6, running "cat; echo/, "the command is not secret: it is shown");
            for (const secretText of ["Pw0rd123", "second secret line", "t0ken-value"]) {
                assert.ok(!e.message.includes(secretText), `${secretText} is masked:\n${e.message}`);
            }
            assert.match(e.message, /token=\[secret\]/);
            return true;
        });
    });

    it("an unreachable host fails within a bounded time, naming the host and the attempts", async () => {
        const port = await freePort(); // closed again: nothing listens there
        const inputs = await checked({
            connection: secret({ host: "127.0.0.1", port, user: "nobody", privateKey: sshd.privateKey, dialErrorLimit: 2, perDialTimeout: 1 }),
            create: "true",
        });
        const unboundedProvider = new CommandProvider({ logger }); // default pauses between attempts
        const started = Date.now();
        await assert.rejects(unboundedProvider.create(urn, inputs), (e: Error) => {
            assert.match(e.message, new RegExp(`could not connect to nobody@127\\.0\\.0\\.1:${port} after 2 attempts`));
            assert.match(e.message, /Connection refused/);
            return true;
        });
        assert.ok(Date.now() - started < 15000, `took ${Date.now() - started} ms`);
        assert.ok(
            logger.lines.some((l) => l.ephemeral && /Dial 1\/2 failed/.test(l.message)),
            "the retry is reported",
        );
    });

    it("a refused key is a dial failure, not a command failure", async () => {
        const inputs = await checked({ connection: connection({ user: "no-such-user-here", dialErrorLimit: 1 }), create: "true" });
        await assert.rejects(p.create(urn, inputs), /could not connect to no-such-user-here@.* after 1 attempt: .*Permission denied/);
    });

    it("logs the output lines the logging setting asks for", async () => {
        logger.lines.length = 0;
        await p.create(urn, await checked({ connection: connection(), create: "echo to-out; echo to-err >&2", logging: "stderr" }));
        const messages = logger.lines.map((l) => l.message);
        assert.ok(messages.includes("to-err"), JSON.stringify(messages));
        assert.ok(!messages.includes("to-out"), JSON.stringify(messages));
        assert.ok(logger.lines.every((l) => l.urn === urn));
        logger.lines.length = 0;
        await p.create(urn, await checked({ connection: connection(), create: "echo quiet", logging: "none" }));
        assert.deepEqual(logger.lines, []);
    });

    it("masks a secret stdin or environment value in the output lines it logs", async () => {
        logger.lines.length = 0;
        const environment = { LAB_TOKEN: secret("t0ken-value") };
        await p.create(urn, await checked({ connection: connection(), create: 'cat; echo "$LAB_TOKEN"', stdin: secret("Pw0rd123\n"), environment }));
        assert.deepEqual(
            logger.lines.map((l) => l.message),
            ["[secret]", "[secret]"],
        );
    });

    it("collects large output on both streams without deadlocking", async () => {
        const res = await p.create(
            urn,
            await checked({ connection: connection(), create: "head -c 3000000 /dev/zero | tr '\\0' a; head -c 1000000 /dev/zero | tr '\\0' b >&2" }),
        );
        const outs = asMap(res.outs);
        assert.equal(typeof outs.stdout === "string" ? outs.stdout.length : -1, 3000000);
        assert.equal(typeof outs.stderr === "string" ? outs.stderr.length : -1, 1000000);
    });

    it("decrypts an encrypted key with privateKeyPassword", async () => {
        const conn = secret({
            host: "127.0.0.1",
            port: sshd.port,
            user: sshd.user,
            privateKey: sshd.encryptedKey,
            privateKeyPassword: sshd.keyPassphrase,
            dialErrorLimit: 1,
        });
        const res = await p.create(urn, await checked({ connection: conn, create: "echo via-encrypted-key" }));
        assert.equal(asMap(res.outs).stdout, "via-encrypted-key");
        const wrong = secret({
            host: "127.0.0.1",
            port: sshd.port,
            user: sshd.user,
            privateKey: sshd.encryptedKey,
            privateKeyPassword: "wrong",
            dialErrorLimit: 1,
        });
        await assert.rejects(p.create(urn, await checked({ connection: wrong, create: "true" })), /could not connect/);
    });

    it("verifies the host key when one is given", async () => {
        const good = await checked({ connection: connection({ hostKey: sshd.hostPublicKey }), create: "echo trusted" });
        assert.equal(asMap((await p.create(urn, good)).outs).stdout, "trusted");
        // A well-formed key of the right type, but not the server's.
        const bad = await checked({ connection: connection({ hostKey: sshd.userPublicKey, dialErrorLimit: 1 }), create: "echo never" });
        await assert.rejects(p.create(urn, bad), /Host key verification failed/);
    });

    it("read returns the state as it is", async () => {
        const props: PropertyMap = { create: "x", stdout: secret("y") };
        assert.deepEqual(await p.read("id", urn, props), { id: "id", props });
    });
});
