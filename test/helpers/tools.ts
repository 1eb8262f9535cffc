// Shared by the pure-function tests: the project's files, temporary
// directories, and the host tools (shellcheck, cloud-init, bash) the rendered
// guest files are checked with. A missing tool fails the test with the
// install command: a check that silently skips would prove nothing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The project root: the nearest directory above this file holding Pulumi.yaml (works from test/ and bin/test/). */
export const PROJECT_DIR = ((): string => {
    for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
            return dir;
        }
    }
    throw new Error(`no Pulumi.yaml above ${__dirname}`);
})();

export function projectFile(relative: string): string {
    return path.join(PROJECT_DIR, relative);
}

/** A fresh directory, removed by the returned cleanup. */
export function makeTempDir(label: string): { dir: string; cleanup: () => void } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lvslab-${label}-`));
    return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The absolute path of an executable on PATH, or undefined. */
export function findExecutable(name: string): string | undefined {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        const candidate = path.join(dir, name);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch {
            continue;
        }
    }
    return undefined;
}

export interface ToolRun {
    status: number;
    stdout: string;
    stderr: string;
}

/** Runs a host tool; fails the test with the install hint when it is missing. */
export function runTool(command: string, args: readonly string[], installHint: string, options: { input?: string; env?: NodeJS.ProcessEnv } = {}): ToolRun {
    const result = spawnSync(command, args, { encoding: "utf8", input: options.input, env: options.env, timeout: 60_000 });
    if (result.error) {
        const code = (result.error as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
            assert.fail(`${command} is not installed on this host; install it with: ${installHint}`);
        }
        throw result.error;
    }
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export const CLOUD_INIT_HINT = "apt-get install cloud-init";

/**
 * The Python that cloud-init itself runs (from its #! line): it has PyYAML,
 * the parser cloud-init reads user-data with, and cloud-init's own modules.
 */
export function cloudInitPython(): string {
    const cloudInit = findExecutable("cloud-init");
    if (!cloudInit) {
        assert.fail(`cloud-init is not installed on this host; install it with: ${CLOUD_INIT_HINT}`);
    }
    const firstLine = fs.readFileSync(cloudInit, "utf8").split("\n", 1)[0];
    const match = /^#!\s*(\S+)/.exec(firstLine);
    assert.ok(match, `cannot tell which Python ${cloudInit} runs (first line: ${firstLine})`);
    return match[1];
}

/** Runs a Python snippet under cloud-init's Python with `input` on stdin; returns its stdout, failing the test on an error. */
export function runCloudInitPython(script: string, input: string): string {
    const run = runTool(cloudInitPython(), ["-c", script], CLOUD_INIT_HINT, { input });
    assert.equal(run.status, 0, `python failed:\n${run.stderr}`);
    return run.stdout;
}

/** Parses YAML exactly as cloud-init does (PyYAML's safe_load) and returns the data. */
export function parseYamlLikeCloudInit(text: string): unknown {
    return JSON.parse(runCloudInitPython("import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))", text));
}

export const SHELLCHECK_HINT = "apt-get install shellcheck";
