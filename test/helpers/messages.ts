// What every message a person sees must be, shared by the unit tests of the
// error texts and the live runs that check them through the real CLI.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { STACK_LINE } from "../../scripts/errors";

/** How often `needle` occurs in `text`. */
export function occurrences(text: string, needle: string): number {
    return text.split(needle).length - 1;
}

/** What every message a person sees must be: one `error:` head, a fix, no stack frame. */
export function assertOneClearMessage(text: string, mustName: (string | RegExp)[]): void {
    assert.equal(occurrences(text, "error: "), 1, `expected exactly one error head:\n${text}`);
    assert.ok(!text.split("\n").some((line) => STACK_LINE.test(line)), `a JavaScript stack line:\n${text}`);
    assert.doesNotMatch(text, /Unhandled exception/);
    for (const name of mustName) {
        if (typeof name === "string") {
            assert.ok(text.includes(name), `the message does not name "${name}":\n${text}`);
        } else {
            assert.match(text, name);
        }
    }
}

/** The PID of a process that has certainly exited (spawned here and waited for). */
export function exitedPid(): Promise<number> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
        child.on("error", reject);
        child.on("exit", () => resolve(child.pid ?? assert.fail("no pid")));
    });
}
