// The README and the pages under docs/ are part of the product: these keep them in step with the code.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "../helpers/tools";
import { CONFIG_DEFAULTS, CONFIG_KEYS } from "../../components/config";

const root = PROJECT_DIR;
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
/** The page that holds the table of every config key. */
const configurationPage = path.join("docs", "configuration.md");
const docsPages = fs.readdirSync(path.join(root, "docs")).filter((name) => name.endsWith(".md"));
/** The README and every Markdown page under docs/, as paths from the project's root. */
const pages = ["README.md", ...docsPages.map((name) => path.join("docs", name))];

/** The link targets of a Markdown text, outside fenced code blocks: `[text](target)` and `![alt](target)`. */
function linkTargets(markdown: string): string[] {
    const prose = markdown.replace(/^```[\s\S]*?^```/gm, "");
    return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => match[1]);
}

describe("README and docs", () => {
    it("documents every config key in the configuration table, with its default", () => {
        const page = fs.readFileSync(path.join(root, configurationPage), "utf8");
        for (const key of CONFIG_KEYS) {
            const row = page.split("\n").find((line) => line.startsWith(`| \`${key}\` |`));
            assert.ok(row, `${configurationPage} has a config table row for ${key}`);
            const fallback = (CONFIG_DEFAULTS as Record<string, string>)[key];
            if (fallback !== undefined) {
                assert.ok(row.includes(`\`${fallback}\``) || key === "realServerWeights", `${configurationPage} gives ${key}'s default ${fallback}`);
            }
        }
    });

    it("names only npm scripts that exist, and the README tells people to run npm test", () => {
        const scripts = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
        for (const page of pages) {
            const text = fs.readFileSync(path.join(root, page), "utf8");
            for (const match of text.matchAll(/npm run ([a-z0-9:]+)/g)) {
                assert.ok(match[1] in scripts, `package.json has the script "${match[1]}" that ${page} mentions`);
            }
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
        // Each runs as a line of its own, bare or as one of CI's counted stages: `stage "NAME" npm test || ...`.
        const ranAt = (command: string): number => ci.search(new RegExp(`^\\s*(stage "[^"]*" )?${command}( \\|\\||$)`, "m"));
        const up = ranAt("npm run up");
        const test = ranAt("npm test");
        assert.ok(up >= 0 && test > up, ".ci/run runs `npm run up`, then `npm test`");
        // Its state and lab host are new directories of the run, not what an earlier run left.
        assert.match(ci, /^new_run_dir ci$/m);
        const common = fs.readFileSync(path.join(root, "labhost", "lib", "common.sh"), "utf8");
        const newRunDir = /\nnew_run_dir\(\) \{\n([\s\S]*?)\n\}/.exec(common)?.[1] ?? "";
        assert.match(newRunDir, /RUN_DIR=\$\(mktemp -d /);
        assert.match(newRunDir, /^ {4}export PULUMI_BACKEND_URL="file:\/\/\$RUN_DIR\/state"$/m);
        assert.match(newRunDir, /^ {4}export LVSLAB_LABHOST_ROOT="\$RUN_DIR\/labhost"$/m);
    });

    it("keeps the README a first read: under 400 lines, the reference and the history in docs/", () => {
        const lines = readme.split("\n").length;
        assert.ok(lines < 400, `README.md has ${lines} lines; move reference or history into a page under docs/`);
    });

    it("links only to files that exist, from the README and from every page under docs/", () => {
        for (const page of pages) {
            const text = fs.readFileSync(path.join(root, page), "utf8");
            for (const target of linkTargets(text)) {
                if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) {
                    continue;
                }
                const file = decodeURIComponent(target.split("#")[0]);
                const resolved = path.resolve(root, path.dirname(page), file);
                assert.ok(fs.existsSync(resolved), `${page} links to ${target}, but ${path.relative(root, resolved)} does not exist`);
            }
        }
    });

    it("reads a page's links, images included, and none inside a code block", () => {
        const sample = ["See [a](a.md), ![b](img/b.svg) and [c](https://example.org/c).", "```", "[d](d.md)", "```", ""].join("\n");
        assert.deepEqual(linkTargets(sample), ["a.md", "img/b.svg", "https://example.org/c"]);
    });
});
