// labhost/lib/toolchain.sh: the "already there" paths that keep a warm
// machine fast, run for real in bash against a temporary cache.
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import { after, before, describe, it } from "node:test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_DIR } from "../helpers/tools";

const root = PROJECT_DIR;

/** Runs a snippet with the toolchain library sourced; PATH is what the test gives. */
function runToolchain(snippet: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(
        "/bin/bash",
        ["-c", `set -euo pipefail; source labhost/lib/common.sh; source labhost/lib/toolchain.sh; ${snippet}`],
        // stdin must not be a socket: bash then sources ~/.bashrc (its rshd
        // heuristic), which may put a real Go on PATH.
        { cwd: root, env: { HOME: os.homedir(), ...env }, encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "pipe"] },
    );
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("toolchain.sh", () => {
    let cache: string;
    let fakeBin: string;
    let goCalls: string;
    let version: string;

    before(() => {
        cache = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-toolchain-"));
        fakeBin = path.join(cache, "fake-bin");
        goCalls = path.join(cache, "go-calls");
        fs.mkdirSync(fakeBin);
        // A `go` that records any call: the cached path must not build.
        fs.writeFileSync(path.join(fakeBin, "go"), `#!/bin/sh\necho "$@" >> ${goCalls}\nexit 1\n`, { mode: 0o755 });
        version = runToolchain("pulumi_version", { PATH: "/usr/bin:/bin" }).stdout.trim();
    });
    after(() => fs.rmSync(cache, { recursive: true, force: true }));

    it("reads the CLI version from the wrapper module and the SDK version from the lockfile", () => {
        assert.match(version, /^3\.\d+\.\d+$/);
        const sdk = runToolchain("locked_sdk_version", { PATH: "/usr/bin:/bin" }).stdout.trim();
        const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
            packages: Record<string, { version: string }>;
        };
        assert.equal(sdk, lock.packages["node_modules/@pulumi/pulumi"].version);
        const newer = runToolchain(`version_at_least ${version} ${sdk} && echo yes`, { PATH: "/usr/bin:/bin" });
        assert.equal(newer.stdout.trim(), "yes", `the CLI ${version} must be at least as new as the SDK ${sdk}`);
    });

    it("compares versions numerically", () => {
        const check = (have: string, want: string): string =>
            runToolchain(`version_at_least ${have} ${want} && echo yes || echo no`, { PATH: "/usr/bin:/bin" }).stdout.trim();
        assert.equal(check("3.274.1", "3.270.0"), "yes");
        assert.equal(check("3.270.0", "3.270.0"), "yes");
        assert.equal(check("3.99.0", "3.270.0"), "no");
        assert.equal(check("3.270.0", "3.274.1"), "no");
    });

    it("skips the build when the CLI of this version is already in the cache, and writes the dynamic-provider shim", () => {
        const cliDir = path.join(cache, `pulumi-${version}`);
        fs.mkdirSync(cliDir, { recursive: true });
        fs.writeFileSync(path.join(cliDir, "pulumi"), `#!/bin/sh\necho v${version}\n`, { mode: 0o755 });
        const result = runToolchain("ensure_pulumi_cli; command -v pulumi", {
            PATH: `${fakeBin}:/usr/bin:/bin`,
            LVSLAB_CACHE: cache,
        });
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stderr, new RegExp(`Pulumi CLI: v${version.replace(/\./g, "\\.")} already built`));
        assert.equal(result.stdout.trim(), path.join(cliDir, "pulumi"), "the cached CLI comes first on PATH");
        assert.equal(fs.existsSync(goCalls), false, "go was not called");
        const shim = fs.readFileSync(path.join(cliDir, "pulumi-resource-pulumi-nodejs"), "utf8");
        assert.match(shim, /node_modules\/@pulumi\/pulumi\/cmd\/dynamic-provider/);
    });

    it("builds when the cached CLI reports another version, and names the failure when Go cannot", () => {
        fs.writeFileSync(path.join(cache, `pulumi-${version}`, "pulumi"), "#!/bin/sh\necho v0.0.1\n", { mode: 0o755 });
        const result = runToolchain("ensure_pulumi_cli", { PATH: `${fakeBin}:/usr/bin:/bin`, LVSLAB_CACHE: cache });
        assert.notEqual(result.status, 0, `stderr: ${result.stderr}`);
        assert.ok(fs.existsSync(goCalls), "go was asked (to fetch the pinned toolchain)");
        assert.match(fs.readFileSync(goCalls, "utf8"), /mod download -json golang\.org\/toolchain@v0\.0\.1-go/);
        assert.match(result.stderr, /go mod download golang\.org\/toolchain@\S+ failed: .*Go module proxy/);
    });

    it("builds the CLI with the pinned Go from the cache, not the host's Go", () => {
        const pinned = runToolchain("echo $GO_TOOLCHAIN_VERSION", { PATH: "/usr/bin:/bin" }).stdout.trim();
        const goDir = path.join(cache, `go-${pinned}`, "bin");
        const pinnedCalls = path.join(cache, "pinned-go-calls");
        fs.mkdirSync(goDir, { recursive: true });
        fs.writeFileSync(
            path.join(goDir, "go"),
            `#!/bin/sh
echo "$@" >> ${pinnedCalls}
[ "$1 $2" = "env GOVERSION" ] && echo go${pinned}
exit 0
`,
            { mode: 0o755 },
        );
        fs.rmSync(goCalls, { force: true });
        const result = runToolchain("ensure_go; command -v go", { PATH: `${fakeBin}:/usr/bin:/bin`, LVSLAB_CACHE: cache });
        assert.equal(result.status, 0, result.stderr);
        assert.equal(result.stdout.trim(), path.join(goDir, "go"), "the pinned Go comes first on PATH");
        assert.match(result.stderr, new RegExp(`Go: go${pinned.replace(/\./g, "\\.")} already in`));
        const hostCalls = fs.existsSync(goCalls) ? fs.readFileSync(goCalls, "utf8") : "";
        assert.doesNotMatch(hostCalls, /build|mod download/, "the host's go fetched and built nothing");
    });

    it("knows npm dependencies are current from the lockfile's hash", () => {
        const stamp = path.join(root, "node_modules", ".lvslab-lock.sha256");
        const saved = fs.existsSync(stamp) ? fs.readFileSync(stamp, "utf8") : undefined;
        try {
            const hash = spawnSync("sha256sum", [path.join(root, "package-lock.json")], { encoding: "utf8" }).stdout.split(" ")[0];
            fs.writeFileSync(stamp, `${hash}\n`);
            const result = runToolchain("ensure_npm_dependencies", { PATH: `${fakeBin}:/usr/bin:/bin` });
            assert.equal(result.status, 0, result.stderr);
            assert.match(result.stderr, /npm dependencies: up to date/);
        } finally {
            if (saved === undefined) {
                fs.rmSync(stamp, { force: true });
            } else {
                fs.writeFileSync(stamp, saved);
            }
        }
    });

    it("compiles the TypeScript only when a source changed since the last build", () => {
        // A project of one source file, with a tsc that records each run.
        const project = path.join(cache, "project");
        const tscCalls = path.join(cache, "tsc-calls");
        fs.mkdirSync(path.join(project, "node_modules", "typescript", "bin"), { recursive: true });
        fs.mkdirSync(path.join(project, "components"));
        fs.writeFileSync(
            path.join(project, "node_modules", "typescript", "bin", "tsc"),
            `require("fs").appendFileSync(${JSON.stringify(tscCalls)}, "run\\n");\n`,
        );
        fs.writeFileSync(path.join(project, "tsconfig.json"), "{}");
        fs.writeFileSync(path.join(project, "package-lock.json"), "{}");
        fs.writeFileSync(path.join(project, "index.ts"), "export = 1;\n");
        fs.writeFileSync(path.join(project, "components", "a.ts"), "export const a = 1;\n");
        fs.mkdirSync(path.join(project, "bin"));
        const build = (): ReturnType<typeof runToolchain> =>
            runToolchain(`LVSLAB_ROOT='${project}' build_typescript`, { PATH: process.env.PATH ?? "/usr/bin:/bin" });
        const runs = (): number => (fs.existsSync(tscCalls) ? fs.readFileSync(tscCalls, "utf8").split("\n").filter(Boolean).length : 0);

        const first = build();
        assert.equal(first.status, 0, first.stderr);
        assert.equal(runs(), 1, "the first build compiles");
        const again = build();
        assert.equal(runs(), 1, "nothing changed: no compile");
        assert.match(again.stderr, /TypeScript: built, no source changed/);
        fs.writeFileSync(path.join(project, "components", "a.ts"), "export const a = 2;\n");
        build();
        assert.equal(runs(), 2, "a changed source compiles again");
        fs.writeFileSync(path.join(project, "components", "b.ts"), "export const b = 1;\n");
        build();
        assert.equal(runs(), 3, "a new source compiles again");
        // The sources are those tsconfig.json includes, a new top folder too.
        fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ include: ["index.ts", "components/**/*.ts", "lessons/**/*.ts"] }));
        build();
        assert.equal(runs(), 4, "a changed tsconfig.json compiles again");
        fs.mkdirSync(path.join(project, "lessons"));
        fs.writeFileSync(path.join(project, "lessons", "c.ts"), "export const c = 1;\n");
        build();
        assert.equal(runs(), 5, "a source in a folder tsconfig.json includes compiles again");
        build();
        assert.equal(runs(), 5);
    });
});
