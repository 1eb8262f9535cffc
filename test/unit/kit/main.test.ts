// Every entry point's command line, read one way: --stack (default dev),
// --help, the tool's own options, and what is refused.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commandLineOrExit, DEFAULT_STACK, readCommandLine, UsageError } from "../../../proofs/kit";

const SPEC = { times: "value", verbose: "flag", o: "value" } as const;

describe("the one command line reader", () => {
    it("reads --stack (default dev), --help or -h, and the tool's own options in either form", () => {
        assert.deepEqual(readCommandLine([], SPEC), { stack: DEFAULT_STACK, help: false, values: {}, positionals: [] });
        assert.equal(DEFAULT_STACK, "dev");
        const line = readCommandLine(["--stack", "lab2", "--times=3", "--verbose", "-o", "-", "-h"], SPEC);
        assert.deepEqual(line, { stack: "lab2", help: true, values: { times: "3", verbose: true, o: "-" }, positionals: [] });
        assert.equal(readCommandLine(["--stack=e2e"], {}).stack, "e2e");
    });

    it("refuses an unknown option, an argument where none is taken, --stack without a name and a flag with a value", () => {
        assert.throws(() => readCommandLine(["--bogus"], SPEC), new UsageError('unknown argument "--bogus"'));
        assert.throws(() => readCommandLine(["web1"], SPEC), new UsageError('unknown argument "web1"'));
        assert.throws(() => readCommandLine(["--stack"], SPEC), new UsageError("--stack needs a name"));
        assert.throws(() => readCommandLine(["--verbose=yes"], SPEC), new UsageError("--verbose takes no value"));
    });

    it("gives the arguments that are no option when asked, and a value option given last without a value as empty, for its own check", () => {
        assert.deepEqual(readCommandLine(["capture", "web1", "--times"], SPEC, { positionals: true }).positionals, ["capture", "web1"]);
        assert.deepEqual(readCommandLine(["--times"], SPEC).values, { times: "" });
    });

    it("can end at the first argument that is no option, leaving what follows as a command of its own", () => {
        const line = readCommandLine(["--stack", "lab2", "--timeout", "5", "web1", "ls", "--help", "-la"], { timeout: "value" }, { positionals: "first" });
        assert.deepEqual(line, { stack: "lab2", help: false, values: { timeout: "5" }, positionals: ["web1"], rest: ["ls", "--help", "-la"] });
        assert.deepEqual(readCommandLine(["--timeout", "5"], { timeout: "value" }, { positionals: "first" }).rest, []);
    });

    it("ends an entry point at once: 0 after the usage for --help, 64 after a refusal", () => {
        const said: string[] = [];
        const log = console.log;
        const error = console.error;
        console.log = (text: string) => said.push(`out: ${text}`);
        console.error = (text: string) => said.push(`err: ${text}`);
        try {
            assert.equal(commandLineOrExit(["--help"], SPEC, "usage: x"), 0);
            assert.equal(commandLineOrExit(["--bogus"], SPEC, "usage: x"), 64);
            assert.deepEqual(commandLineOrExit(["--times", "2"], SPEC, "usage: x"), { stack: "dev", help: false, values: { times: "2" }, positionals: [] });
        } finally {
            console.log = log;
            console.error = error;
        }
        assert.deepEqual(said, ["out: usage: x", 'err: unknown argument "--bogus"\nusage: x']);
    });
});
