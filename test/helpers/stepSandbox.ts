// Runs a rendered guest step on this host without touching it: the step's
// file paths are pointed into a temporary directory, every system command it
// calls (ip, sysctl, systemctl, ipvsadm, ...) is a bash function that records
// its arguments, and PATH holds only the harmless tools the shared helpers
// need, so anything not stubbed fails instead of reaching the host.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { bashLiteral } from "../../components/guestConfig";
import { findExecutable, makeTempDir } from "./tools";

/** Real tools the steps use (lib.sh's write_file and the links it makes, the director's table and keepalived staging), plus cat/touch for stubs. */
const REAL_TOOLS = ["awk", "grep", "cat", "cmp", "mkdir", "rm", "mktemp", "touch", "mv", "sed", "ln", "chmod"];

/** The packages the steps ensure, "installed" in the sandbox's dpkg file lists unless a test removes one. */
const INSTALLED_PACKAGES = ["apache2", "nfs-common", "nfs-kernel-server", "ipvsadm", "keepalived"];

/** Every system command a step calls, recorded and otherwise a no-op unless a test overrides it. */
const STUBBED_COMMANDS = [
    "modprobe",
    "ipvsadm",
    "systemctl",
    "sysctl",
    "ip",
    "iptables",
    "exportfs",
    "mount",
    "umount",
    "keepalived",
    "sleep",
    "apache2ctl",
    "journalctl",
    // real-server-web's check that apache answers (bash's /dev/tcp, nothing listens here)
    "answers",
    "apt-get",
];

const RUN_STEP_LINE = 'run_step "$@"\n';

export interface SandboxRun {
    status: number;
    stdout: string;
    stderr: string;
    /** Each stubbed command call, as "command arg arg ...". */
    calls: string[];
}

export class StepSandbox {
    readonly dir: string;
    readonly cleanup: () => void;
    private readonly binDir: string;
    private runs = 0;

    constructor(label: string) {
        const temp = makeTempDir(label);
        this.dir = temp.dir;
        this.cleanup = temp.cleanup;
        this.binDir = this.file("bin");
        fs.mkdirSync(this.binDir);
        fs.mkdirSync(this.file("tmp"));
        fs.mkdirSync(this.file("dpkg-info"));
        fs.writeFileSync(this.file("mounts"), "");
        fs.writeFileSync(this.file("cmdline"), "root=/dev/vda1\n");
        for (const name of INSTALLED_PACKAGES) {
            fs.writeFileSync(this.file(`dpkg-info/${name}.list`), "");
        }
        for (const tool of REAL_TOOLS) {
            const real = findExecutable(tool);
            assert.ok(real, `${tool} is not on PATH; the step sandbox needs it`);
            fs.symlinkSync(real, path.join(this.binDir, tool));
        }
    }

    /** A path inside the sandbox. */
    file(relative: string): string {
        return path.join(this.dir, relative);
    }

    read(relative: string): string {
        return fs.readFileSync(this.file(relative), "utf8");
    }

    exists(relative: string): boolean {
        return fs.existsSync(this.file(relative));
    }

    /**
     * Runs `script` (a renderStep result) with `action`. `paths` reassigns the
     * step's path variables after its body; `stubs` is bash that redefines
     * some stubbed commands (it may call `record`, and read $SANDBOX).
     */
    run(script: string, action: "apply" | "remove", options: { paths: Readonly<Record<string, string>>; stubs?: string }): SandboxRun {
        assert.ok(script.endsWith(RUN_STEP_LINE), "a rendered step ends by dispatching on its argument");
        const bash = findExecutable("bash");
        assert.ok(bash, "bash is not on PATH");
        this.runs += 1;
        const callsFile = this.file(`calls-${this.runs}`);
        fs.writeFileSync(callsFile, "");
        const harness = [
            script.slice(0, -RUN_STEP_LINE.length),
            "# --- test sandbox ---",
            `SANDBOX=${bashLiteral(this.dir)}`,
            // Where lib.sh enables services and apache's parts: inside the sandbox.
            `SERVICE_WANTS_DIR=${bashLiteral(this.file("system/multi-user.target.wants"))}`,
            `APACHE_DIR=${bashLiteral(this.file("apache2"))}`,
            `DPKG_INFO_DIR=${bashLiteral(this.file("dpkg-info"))}`,
            // Nothing mounted and a kernel command line without cloud-init's word, unless a test says otherwise.
            `MOUNTS_FILE=${bashLiteral(this.file("mounts"))}`,
            `CMDLINE_FILE=${bashLiteral(this.file("cmdline"))}`,
            ...Object.entries(options.paths).map(([name, value]) => `${name}=${bashLiteral(value)}`),
            `record() { printf '%s\\n' "$*" >>${bashLiteral(callsFile)}; }`,
            ...STUBBED_COMMANDS.map((command) => `${command}() { record ${command} "$@"; }`),
            options.stubs ?? "",
            RUN_STEP_LINE,
        ].join("\n");
        const harnessFile = this.file(`harness-${this.runs}.sh`);
        fs.writeFileSync(harnessFile, harness);
        const result = spawnSync(bash, [harnessFile, action], {
            encoding: "utf8",
            env: { PATH: this.binDir, TMPDIR: this.file("tmp"), LANG: "C" },
            timeout: 30_000,
        });
        if (result.error) {
            throw result.error;
        }
        const calls = fs
            .readFileSync(callsFile, "utf8")
            .split("\n")
            .filter((line) => line !== "");
        return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr, calls };
    }
}

/** Asserts a sandbox run succeeded, showing its stderr if not. */
export function assertSucceeded(run: SandboxRun): void {
    assert.equal(run.status, 0, `the step failed (status ${run.status}):\n${run.stderr}`);
}
