// What a person sees when a run fails, through the real Pulumi CLI: these
// drive bin/scripts/automation.js for real, with a file backend in a
// temporary directory, and check that each failure prints one message, once,
// naming the cause and the fix, with no JavaScript stack. (The message texts
// themselves are unit-tested in test/unit/errors.test.ts.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseProcNetRoute } from "../../scripts/errors";
import { assertOneClearMessage, exitedPid, occurrences } from "../helpers/messages";
import { findExecutable, makeTempDir, projectFile } from "../helpers/tools";

/** The Pulumi CLI: the one on PATH, else the project's build in the cache (scripts/lab setup makes it). */
function pulumiCli(): string {
    const onPath = findExecutable("pulumi");
    if (onPath) {
        return onPath;
    }
    const goMod = fs.readFileSync(projectFile("labhost/pulumi-cli/go.mod"), "utf8");
    const version = /github\.com\/pulumi\/pulumi\/pkg\/v3 v(\S+)/.exec(goMod)?.[1];
    const cache = process.env.LVSLAB_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "lvs-dr-lab");
    const built = path.join(cache, `pulumi-${version}`, "pulumi");
    if (!fs.existsSync(built)) {
        assert.fail(`no pulumi CLI on PATH nor at ${built}; install it with: scripts/lab setup`);
    }
    return built;
}

describe("what a person sees: bin/scripts/automation.js with the real CLI", () => {
    let tmp: { dir: string; cleanup: () => void };
    let env: NodeJS.ProcessEnv;
    const stackFiles: string[] = [];
    let stackCount = 0;

    before(() => {
        tmp = makeTempDir("errors-cli");
        fs.mkdirSync(path.join(tmp.dir, "state"));
        fs.mkdirSync(path.join(tmp.dir, "home"));
        // Existence is all validation checks of these.
        fs.writeFileSync(path.join(tmp.dir, "image.qcow2"), "");
        fs.writeFileSync(path.join(tmp.dir, "id_ed25519"), "");
        fs.writeFileSync(path.join(tmp.dir, "id_ed25519.pub"), "");
        env = {
            ...process.env,
            PATH: `${path.dirname(pulumiCli())}${path.delimiter}${process.env.PATH ?? ""}`,
            PULUMI_BACKEND_URL: `file://${tmp.dir}/state`,
            PULUMI_CONFIG_PASSPHRASE: "errors-test",
            PULUMI_HOME: path.join(tmp.dir, "home"),
            PULUMI_SKIP_UPDATE_CHECK: "true",
        };
    });
    after(() => {
        for (const file of stackFiles) {
            fs.rmSync(file, { force: true });
        }
        tmp?.cleanup();
    });

    /** A stack of its own (Pulumi.<name>.yaml in the project, removed afterwards) with the given config. */
    function stackWith(config: Record<string, string>): string {
        const name = `errtest-${process.pid}-${++stackCount}`;
        const file = projectFile(`Pulumi.${name}.yaml`);
        stackFiles.push(file);
        const lines = Object.entries({
            baseImage: path.join(tmp.dir, "image.qcow2"),
            sshKeyPath: path.join(tmp.dir, "id_ed25519"),
            domainType: "qemu",
            ...config,
        }).map(([key, value]) => `  lvs-dr-lab:${key}: ${JSON.stringify(value)}`);
        fs.writeFileSync(file, `config:\n${lines.join("\n")}\n`);
        return name;
    }

    /** The URNs in a stack's state file (file backend, project-scoped layout); none for a stack never updated. */
    function resourcesOf(stack: string): string[] {
        const file = path.join(tmp.dir, "state", ".pulumi", "stacks", "lvs-dr-lab", `${stack}.json`);
        if (!fs.existsSync(file)) {
            return [];
        }
        const state = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint?: { latest?: { resources?: { urn: string }[] } } };
        return (state.checkpoint?.latest?.resources ?? []).map((resource) => resource.urn);
    }

    function automation(...args: string[]): { status: number; output: string } {
        const run = spawnSync(process.execPath, [projectFile("bin/scripts/automation.js"), ...args], {
            cwd: projectFile("."),
            env,
            encoding: "utf8",
            timeout: 180_000,
        });
        assert.ok(!run.error, String(run.error));
        return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
    }

    it("a refused config: preview prints the problem once, exits non-zero, no stack", () => {
        const stack = stackWith({ vip: "10.9.9.9" });
        const run = automation("preview", "--stack", stack);
        assert.notEqual(run.status, 0, run.output);
        assert.equal(occurrences(run.output, "vip: 10.9.9.9 is outside publicSubnet 172.16.16.0/24"), 1, run.output);
        assertOneClearMessage(run.output, ["the stack configuration has 1 problem(s); nothing was created"]);
    });

    it("a missing base image: up refuses it once, naming scripts/lab image, and creates nothing", () => {
        const stack = stackWith({ baseImage: path.join(tmp.dir, "gone.qcow2") });
        const run = automation("up", "--stack", stack);
        assert.notEqual(run.status, 0, run.output);
        assert.equal(occurrences(run.output, `baseImage: no file at ${path.join(tmp.dir, "gone.qcow2")}`), 1, run.output);
        assertOneClearMessage(run.output, ["scripts/lab image"]);
        assert.deepEqual(resourcesOf(stack), [], "the engine created something");
    });

    it("libvirt not answering: up stops before the engine with one message", () => {
        const uri = `qemu:///system?socket=${tmp.dir}/no-libvirt-sock`;
        const stack = stackWith({ libvirtUri: uri });
        const run = automation("up", "--stack", stack);
        assert.notEqual(run.status, 0, run.output);
        assertOneClearMessage(run.output, [`libvirt is not answering at ${uri}`, "No such file or directory", "scripts/lab host start", `--stack ${stack}`]);
        assert.deepEqual(resourcesOf(stack), [], "the engine created something");
    });

    it("a subnet this host already routes: up stops before the engine, naming the key, range and interface", () => {
        const routes = parseProcNetRoute(fs.readFileSync("/proc/net/route", "utf8"), os.endianness());
        // A /16../28 route that does not overlap the default publicSubnet 172.16.16.0/24.
        const taken = routes.find((r) => r.mask >= 0xffff0000 && r.mask <= 0xfffffff0 && (0xac101000 & r.mask) >>> 0 !== r.destination);
        assert.ok(taken, `this host routes no /16../28 subnet to clash with: ${JSON.stringify(routes)}`);
        const prefix = 32 - Math.log2(2 ** 32 - taken.mask);
        const at = (n: number): string => [24, 16, 8, 0].map((shift) => ((taken.destination + n) >>> shift) & 0xff).join(".");
        const cidr = `${at(0)}/${prefix}`;
        const stack = stackWith({
            libvirtUri: `qemu:///system?socket=${tmp.dir}/no-libvirt-sock`,
            storageSubnet: cidr,
            directorStorageIp: at(2),
            nfsStorageIp: at(3),
            realServerCount: "1",
            realServerStorageStart: at(4),
        });
        const run = automation("up", "--stack", stack);
        assert.notEqual(run.status, 0, run.output);
        assertOneClearMessage(run.output, [
            `storageSubnet ${cidr} is already in use on the lab host: interface ${taken.iface} has a route for it`,
            `pulumi config set storageSubnet CIDR --stack ${stack}`,
        ]);
    });

    it("a passphrase that does not open the stack: one message naming PULUMI_CONFIG_PASSPHRASE", () => {
        const stack = stackWith({});
        const created = automation("outputs", "--stack", stack);
        assert.equal(created.status, 0, created.output);
        env.PULUMI_CONFIG_PASSPHRASE = "not-the-one";
        try {
            const run = automation("preview", "--stack", stack);
            assert.notEqual(run.status, 0, run.output);
            assertOneClearMessage(run.output, [`PULUMI_CONFIG_PASSPHRASE does not open stack ${stack}'s secrets (incorrect passphrase)`]);
        } finally {
            env.PULUMI_CONFIG_PASSPHRASE = "errors-test";
        }
    });

    it("a locked stack: the message names the holder and scripts/lab unlock, once; unlock clears a dead run's lock", async () => {
        const stack = stackWith({});
        const created = automation("outputs", "--stack", stack);
        assert.equal(created.status, 0, created.output);
        const lockDir = path.join(tmp.dir, "state", ".pulumi", "locks", "organization", "lvs-dr-lab", stack);
        fs.mkdirSync(lockDir, { recursive: true });
        const deadPid = await exitedPid();
        fs.writeFileSync(
            path.join(lockDir, "0f0e0d0c-0b0a-4908-8706-050403020100.json"),
            JSON.stringify({ pid: deadPid, username: "root", hostname: os.hostname(), timestamp: "2025-11-29T16:52:07.123456789Z" }),
        );
        const locked = automation("destroy", "--stack", stack);
        assert.notEqual(locked.status, 0, locked.output);
        assertOneClearMessage(locked.output, [
            `stack ${stack} is locked by another pulumi run: pid ${deadPid} (root@${os.hostname()})`,
            `scripts/lab unlock --stack ${stack}`,
        ]);
        assert.equal(occurrences(locked.output, "is locked"), 1, locked.output);

        const unlocked = automation("unlock", "--stack", stack);
        assert.equal(unlocked.status, 0, unlocked.output);
        assert.match(unlocked.output, new RegExp(`removed the lock of pid ${deadPid} .*: that process is gone`));
        assert.deepEqual(fs.readdirSync(lockDir), []);
        const destroyed = automation("destroy", "--stack", stack);
        assert.equal(destroyed.status, 0, destroyed.output);
    });
});
