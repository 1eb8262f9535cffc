// The two plugins through the real Pulumi engine: the CLI finds
// labhost/bin/pulumi-resource-{command,random} on PATH (ambient plugins),
// the Automation API runs an inline program (no language host needed),
// and we check up, a no-op up, the secret in the state, and destroy.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as command from "@pulumi/command";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as random from "@pulumi/random";
import { specialSecretSig as secretSig, specialSigKey as secretSigKey } from "@pulumi/pulumi/runtime/rpc";
import { startSshd, TestSshd } from "./sshd";

const projectRoot = path.resolve(__dirname, "..", "..", "..");
const shimDir = path.join(projectRoot, "labhost", "bin");
/** Where the project's toolchain script builds the CLI (see SPEC.md); `pulumi` on PATH wins. */
const cachedCli = "/root/.cache/lvs-dr-lab/pulumi-3.274.1/pulumi";

function findFiles(dir: string, suffix: string): string[] {
    return fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(suffix))
        .map((f) => path.join(dir, f));
}

function allStrings(v: unknown): string[] {
    if (typeof v === "string") {
        return [v];
    }
    if (Array.isArray(v)) {
        return v.flatMap(allStrings);
    }
    if (typeof v === "object" && v !== null) {
        return [...Object.keys(v), ...Object.values(v).flatMap(allStrings)];
    }
    return [];
}

function findCli(): string {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        const candidate = path.join(dir, "pulumi");
        if (dir && fs.existsSync(candidate)) {
            return candidate;
        }
    }
    if (fs.existsSync(cachedCli)) {
        return cachedCli;
    }
    throw new Error(`the Pulumi CLI is missing: neither \`pulumi\` on PATH nor ${cachedCli}; build it first (the project's toolchain script does)`);
}

const variant = { create: 'echo "created $LAB_NAME"', extraTriggers: [] as string[] };

describe("plugins through the Pulumi engine", { timeout: 300_000 }, () => {
    let sshd: TestSshd;
    let tmp: string;
    let stack: Stack;
    let marker: string;
    const output: string[] = [];

    before(async () => {
        const cli = findCli();
        for (const name of ["command", "random"]) {
            const main = path.join(projectRoot, "bin", "plugins", name, "main.js");
            assert.ok(fs.existsSync(main), `${main} is missing: build the project (npm run build) first`);
        }
        // The CLI is looked up on PATH by the Automation API; the shims need this same Node.
        process.env.PATH = [path.dirname(cli), shimDir, path.dirname(process.execPath), process.env.PATH].join(path.delimiter);
        sshd = await startSshd();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-engine-"));
        marker = path.join(sshd.scratch, "deleted");
        const workDir = path.join(tmp, "project");
        const backend = path.join(tmp, "backend");
        fs.mkdirSync(workDir);
        fs.mkdirSync(backend);
        fs.writeFileSync(path.join(workDir, "Pulumi.yaml"), "name: lab-plugins-engine-test\nruntime: nodejs\n");
        // Switched by the tests to change the program between updates.
        const program = async () => {
            const str = new random.RandomString("str", { length: 12, special: false });
            const pw = new random.RandomPassword("pw", { length: 20 });
            const cmd = new command.remote.Command("cmd", {
                connection: { host: "127.0.0.1", port: sshd.port, user: sshd.user, privateKey: sshd.privateKey, dialErrorLimit: 3, perDialTimeout: 5 },
                create: variant.create,
                delete: `printf %s "$PULUMI_COMMAND_STDOUT" > ${marker}`,
                environment: { LAB_NAME: str.result },
                triggers: [str.result, ...variant.extraTriggers],
            });
            return { str: str.result, password: pw.result, stdout: cmd.stdout };
        };
        stack = await LocalWorkspace.createOrSelectStack(
            { stackName: "plugins", projectName: "lab-plugins-engine-test", program },
            {
                workDir,
                envVars: {
                    PULUMI_CONFIG_PASSPHRASE: "test",
                    PULUMI_BACKEND_URL: `file://${backend}`,
                    PULUMI_HOME: path.join(tmp, "home"),
                    PULUMI_SKIP_UPDATE_CHECK: "true",
                },
            },
        );
    });

    after(async () => {
        await sshd?.stop();
        if (tmp) {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
        if (output.length > 0) {
            // Shown with the test report: the warnings the engine printed about the ambient plugins.
            const warnings = new Set(output.join("").match(/warning: .*/g) ?? []);
            console.log(`engine warnings (distinct):\n${[...warnings].join("\n")}`);
        }
    });

    let str = "";
    let password = "";

    it("preview plans the creation while values are still unknown", async () => {
        // The random values are unknown at preview time: check and diff must cope with that.
        const res = await stack.preview({ onOutput: (o) => output.push(o) });
        assert.deepEqual(res.changeSummary, { create: 4 });
    });

    it("up creates everything with our plugins", async () => {
        const res = await stack.up({ onOutput: (o) => output.push(o) });
        assert.deepEqual(res.summary.resourceChanges, { create: 4 });
        str = String(res.outputs.str.value);
        password = String(res.outputs.password.value);
        assert.match(str, /^[A-Za-z0-9]{12}$/);
        assert.equal(password.length, 20);
        assert.equal(res.outputs.password.secret, true, "the password is a secret output");
        assert.equal(res.outputs.stdout.value, `created ${str}`);
        const text = output.join("");
        assert.match(text, /pulumi-resource-command/, "the engine used the command plugin from PATH");
        assert.match(text, /pulumi-resource-random/, "the engine used the random plugin from PATH");
    });

    it("a second up changes nothing", async () => {
        const res = await stack.up({ onOutput: (o) => output.push(o), expectNoChanges: true });
        assert.deepEqual(res.summary.resourceChanges, { same: 4 });
    });

    it("the password stays secret in the state", async () => {
        // The stored checkpoint must hold only ciphertext; parsing it undoes any JSON escaping of the password.
        const stored = findFiles(path.join(tmp, "backend", ".pulumi", "stacks"), ".json");
        assert.ok(stored.length > 0, "the file backend has a checkpoint");
        for (const file of stored) {
            const strings = allStrings(JSON.parse(fs.readFileSync(file, "utf8")));
            assert.ok(password.length === 20 && !strings.some((v) => v.includes(password)), `${file} holds the plaintext password`);
        }
        // exportStack shows secrets, but still marked as secrets: proof the engine tracks them as such.
        const state = await stack.exportStack();
        const resources = (state.deployment as { resources?: { type: string; outputs?: Record<string, unknown> }[] }).resources ?? [];
        const pw = resources.find((r) => r.type === "random:index/randomPassword:RandomPassword");
        const result = pw?.outputs?.result;
        assert.ok(typeof result === "object" && result !== null, "the password resource has a result");
        assert.deepEqual(Object.keys(result).sort(), [secretSigKey, "plaintext"].sort());
        assert.equal((result as Record<string, unknown>)[secretSigKey], secretSig);
        assert.equal(JSON.parse(String((result as Record<string, unknown>).plaintext)), password);
        const cmd = resources.find((r) => r.type === "command:remote:Command");
        const conn = cmd?.outputs?.connection;
        assert.ok(typeof conn === "object" && conn !== null && secretSigKey in conn, "the connection is a secret too");
    });

    it("a changed command is an update in place", async () => {
        variant.create = 'echo "updated $LAB_NAME"';
        const res = await stack.up({ onOutput: (o) => output.push(o) });
        assert.deepEqual(res.summary.resourceChanges, { update: 1, same: 3 });
        assert.equal(res.outputs.stdout.value, `updated ${str}`);
        assert.equal(fs.existsSync(marker), false, "an update does not run the delete command");
    });

    it("changed triggers replace the command: the new one is created, the old one deleted", async () => {
        variant.create = 'echo "replaced $LAB_NAME"';
        variant.extraTriggers = ["v2"];
        const res = await stack.up({ onOutput: (o) => output.push(o) });
        assert.deepEqual(res.summary.resourceChanges, { replace: 1, same: 3 });
        assert.equal(res.outputs.stdout.value, `replaced ${str}`);
        assert.equal(fs.readFileSync(marker, "utf8"), `updated ${str}`, "the old resource's delete saw its own stdout");
    });

    it("destroy runs the delete command with the previous stdout", async () => {
        const res = await stack.destroy({ onOutput: (o) => output.push(o) });
        assert.deepEqual(res.summary.resourceChanges, { delete: 4 });
        assert.equal(fs.readFileSync(marker, "utf8"), `replaced ${str}`);
    });
});
