// The README is part of the product: these keep it in step with the code.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "../helpers/tools";
import { CONFIG_DEFAULTS, CONFIG_KEYS } from "../../components/config";

const root = PROJECT_DIR;
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");

describe("README", () => {
    it("documents every config key in the configuration table, with its default", () => {
        for (const key of CONFIG_KEYS) {
            const row = readme.split("\n").find((line) => line.startsWith(`| \`${key}\` |`));
            assert.ok(row, `README has a config table row for ${key}`);
            const fallback = (CONFIG_DEFAULTS as Record<string, string>)[key];
            if (fallback !== undefined) {
                assert.ok(row.includes(`\`${fallback}\``) || (key === "realServerWeights"), `README gives ${key}'s default ${fallback}`);
            }
        }
    });

    it("names the npm scripts it tells people to run, and each exists", () => {
        const scripts = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
        for (const match of readme.matchAll(/npm run ([a-z0-9:]+)/g)) {
            assert.ok(match[1] in scripts, `package.json has the script "${match[1]}" the README mentions`);
        }
        assert.match(readme, /npm test/);
    });

    it("is what CI runs: .ci/run runs the quick start's two commands, in order, from a lab of its own", () => {
        const ci = fs.readFileSync(path.join(root, ".ci", "run"), "utf8");
        const quickStart = readme.split("## Quick start")[1]?.split("```sh")[1]?.split("```")[0] ?? "";
        const commands = quickStart
            .split("\n")
            .map((line) => line.replace(/#.*/, "").trim())
            .filter((line) => line !== "");
        assert.deepEqual(commands, ["npm run up", "npm test"]);
        const up = ci.search(/^npm run up$/m);
        const test = ci.search(/^npm test$/m);
        assert.ok(up >= 0 && test > up, ".ci/run runs `npm run up`, then `npm test`");
        // Its state and lab host are new directories of the run, not what an earlier run left.
        assert.match(ci, /^new_run_dir ci$/m);
        const common = fs.readFileSync(path.join(root, "labhost", "lib", "common.sh"), "utf8");
        const newRunDir = /\nnew_run_dir\(\) \{\n([\s\S]*?)\n\}/.exec(common)?.[1] ?? "";
        assert.match(newRunDir, /RUN_DIR=\$\(mktemp -d /);
        assert.match(newRunDir, /^ {4}export PULUMI_BACKEND_URL="file:\/\/\$RUN_DIR\/state"$/m);
        assert.match(newRunDir, /^ {4}export LVSLAB_LABHOST_ROOT="\$RUN_DIR\/labhost"$/m);
    });
});
