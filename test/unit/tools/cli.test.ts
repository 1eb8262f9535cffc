// The verbs' command lines, without a lab: a stack's outputs saved as JSON
// (--outputs) stand in for the stack, and every case here is refused or
// answered before anything would reach libvirt or a guest.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { HELP } from "../../../scripts/tools/cli";
import { makeTempDir, projectFile } from "../../helpers/tools";
import { seedOutputs } from "./fixtures";

const cli = path.join(__dirname, "..", "..", "..", "scripts", "tools", "cli.js");
const scratch = makeTempDir("tools-cli");
const outputs = path.join(scratch.dir, "outputs.json");
fs.writeFileSync(outputs, JSON.stringify(seedOutputs()));
after(() => scratch.cleanup());

function run(...args: string[]): { status: number; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, LVSLAB_HOME: scratch.dir } });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

describe("the see-and-poke verbs' command lines", () => {
    it("every verb has --help, and scripts/lab lists every verb", () => {
        const lab = fs.readFileSync(projectFile("scripts/lab"), "utf8");
        for (const verb of Object.keys(HELP)) {
            const help = run(verb, "--help");
            assert.equal(help.status, 0);
            assert.match(help.stdout, new RegExp(`^usage: scripts/lab ${verb} `));
            assert.match(lab, new RegExp(`^ {2}${verb} `, "m"), `scripts/lab's usage names ${verb}`);
        }
    });

    it("refuses an unknown machine, listing the known ones, before touching libvirt", () => {
        for (const args of [
            ["node", "stop", "web9"],
            ["capture", "web9"],
            ["impair", "web9", "--loss", "5"],
            ["ssh", "--outputs", outputs, "web9", "true"],
        ]) {
            const result = run(...args, ...(args[0] === "ssh" ? [] : ["--outputs", outputs]));
            assert.equal(result.status, 1, args.join(" "));
            assert.match(result.stderr, /no machine "web9" in this lab; the machines are: director, web1, web2, web3, web4, nfs/);
        }
    });

    it("refuses bad options with the verb's help hint", () => {
        const format = run("graph", "--format", "gif", "--outputs", outputs);
        assert.equal(format.status, 64);
        assert.match(format.stderr, /--format is svg, png, dot, mermaid or json/);
        const unknown = run("capture", "web1", "--bogus", "--outputs", outputs);
        assert.equal(unknown.status, 64);
        assert.match(unknown.stderr, /scripts\/lab capture --help/);
        const seconds = run("capture", "web1", "--seconds", "9999", "--outputs", outputs);
        assert.match(seconds.stderr, /--seconds must be a number above 0 and at most 600/);
        assert.match(run("impair", "web1", "--loss", "5", "--clear", "--outputs", outputs).stderr, /one at a time/);
        assert.match(run("node", "reboot", "web1", "--outputs", outputs).stderr, /list, stop, start, restart or console/);
    });

    it("a --help after ssh's machine name is the remote command's", () => {
        const result = run("ssh", "--outputs", outputs, "web9", "ls", "--help");
        assert.match(result.stderr, /no machine "web9"/);
    });

    it("inventory writes the SSH config and the Ansible inventory", () => {
        const dir = path.join(scratch.dir, "inventory");
        const result = run("inventory", "--outputs", outputs, "-o", dir);
        assert.equal(result.status, 0, result.stderr);
        assert.match(fs.readFileSync(path.join(dir, "ssh_config"), "utf8"), /^Host web4$/m);
        assert.match(fs.readFileSync(path.join(dir, "hosts.ini"), "utf8"), /^\[real_servers\]$/m);
    });
});
