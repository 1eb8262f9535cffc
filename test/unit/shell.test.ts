// Every shell file of the project passes shellcheck, in one place: the
// operator's CLI, the lab host's plumbing, the proofs' shell, the image's
// scripts, the guest step templates and CI. A shell file is one ending in .sh
// or starting with a sh/bash shebang. (The guest steps are also checked as
// rendered, with hostile values, in guestConfig.test.ts.)
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { PROJECT_DIR, runTool, SHELLCHECK_HINT } from "../helpers/tools";

/** Folders that hold no shell of ours: installed packages, git, and the compiled output (bin and bin-something at the top). */
const NOT_OURS = new Set(["node_modules", ".git"]);
const isBuildOutput = (dir: string, name: string): boolean => dir === PROJECT_DIR && (name === "bin" || name.startsWith("bin-"));

/** Whether a file is shell: by its name, or by its first line. */
function isShell(file: string): boolean {
    if (file.endsWith(".sh")) {
        return true;
    }
    const head = Buffer.alloc(64);
    const fd = fs.openSync(file, "r");
    try {
        fs.readSync(fd, head, 0, head.length, 0);
    } finally {
        fs.closeSync(fd);
    }
    return /^#!\S*(\/|\s)(ba|da)?sh\b|^#!\/bin\/busybox sh\b/.test(head.toString("latin1").split("\n")[0]);
}

/** Every shell file under the project, relative to it, in a stable order. */
export function shellFiles(dir = PROJECT_DIR): string[] {
    const found: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory() && !NOT_OURS.has(entry.name) && !isBuildOutput(dir, entry.name)) {
            found.push(...shellFiles(full));
        } else if (entry.isFile() && isShell(full)) {
            found.push(path.relative(PROJECT_DIR, full));
        }
    }
    return found.sort();
}

describe("the project's shell", () => {
    const files = shellFiles();

    it("is found where it lives (the listing itself can fail)", () => {
        for (const known of [
            "scripts/lab",
            "labhost/labhost.sh",
            "labhost/lib/common.sh",
            "labhost/bin/pulumi-resource-command",
            "cloud-init/steps/lib.sh",
            "image/build.sh",
            "image/initramfs/init",
            "proofs/spread.sh",
            ".ci/run",
        ]) {
            assert.ok(files.includes(known), `${known} is listed as shell (found: ${files.join(", ")})`);
        }
        assert.ok(!files.some((file) => file.endsWith(".ts") || file.endsWith(".md")), "only shell is listed");
    });

    it("passes shellcheck, every file", () => {
        const run = runTool("shellcheck", ["-x", "-f", "gcc", ...files.map((file) => path.join(PROJECT_DIR, file))], SHELLCHECK_HINT);
        assert.equal(run.status, 0, `shellcheck found problems:\n${run.stdout}${run.stderr}`);
    });
});
