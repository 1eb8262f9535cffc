// Every entry point's way in and out, once: the command line read one way
// (`--stack NAME`, default dev, `--help`/`-h`, and each tool's own options)
// and main run one way (its exit code, or 1 with the error on one line).
// Loads nothing but Node's own modules: the operator's CLI reads its
// command line before it loads Pulumi's SDK (which takes seconds).
import { parseArgs } from "util";

/** An error's message, or the thrown value as text. */
export function errorText(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

/** Runs a tool's main when its file is the program: its exit code, or 1 with the error on one line. */
export function runMain(tool: string, module: NodeJS.Module, main: () => Promise<number>): void {
    if (require.main !== module) {
        return;
    }
    main().then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(`${tool}: ${errorText(error)}`);
            process.exit(1);
        },
    );
}

/** The stack every entry point acts on when `--stack` is not given. */
export const DEFAULT_STACK = "dev";

/** A command line that cannot be read: the entry point says so (with its usage) and exits 64. */
export class UsageError extends Error {}

/** What an option takes: a value (`--times 3`, `--times=3`) or nothing (`--verbose`). A one-letter name is also `-o`. */
export type OptionKind = "value" | "flag";

export type OptionSpec = Readonly<Record<string, OptionKind>>;

/** The options given, by name: a value option's text ("" when it came last without one), a flag's true. */
export type OptionValues<S extends OptionSpec> = { [K in keyof S]?: S[K] extends "flag" ? boolean : string };

export interface CommandLine<S extends OptionSpec> {
    /** `--stack NAME`, else DEFAULT_STACK. */
    stack: string;
    /** `--help` or `-h` was given. */
    help: boolean;
    values: OptionValues<S>;
    /** The arguments that are no option, in order (refused unless asked for). */
    positionals: string[];
    /** With `positionals: "first"`: everything after the first of them, options included, untouched (a command of its own). */
    rest?: string[];
}

/**
 * Arguments that are no option: refused (false, the default), taken (true),
 * or "first": the first one ends the command line and the arguments after it
 * are left as they are, in `rest` (`ssh [--stack S] NAME [COMMAND...]`).
 */
export type PositionalsSetting = boolean | "first";

/**
 * Reads a command line: `--stack NAME` and `--help`/`-h` for every entry
 * point, the options of `spec` for this one. An unknown option, or an
 * argument that is no option where none is taken, is a UsageError
 * (`unknown argument "X"`); so is `--stack` without a name. A value option
 * given last without a value reads as "", for the caller's own check to
 * refuse with its own words.
 */
export function readCommandLine<S extends OptionSpec>(argv: readonly string[], spec: S, settings: { positionals?: PositionalsSetting } = {}): CommandLine<S> {
    const kinds: Record<string, OptionKind> = { ...spec, stack: "value", help: "flag", h: "flag" };
    const options = Object.fromEntries(
        Object.entries(kinds).map(([name, kind]) => [
            name,
            { type: kind === "value" ? ("string" as const) : ("boolean" as const), ...(name.length === 1 ? { short: name } : {}) },
        ]),
    );
    const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
    const values: Record<string, string | boolean> = {};
    const positionals: string[] = [];
    let rest: string[] | undefined;
    for (const token of tokens) {
        if (token.kind === "option-terminator") {
            continue;
        }
        if (token.kind === "positional") {
            if (!settings.positionals) {
                throw new UsageError(`unknown argument "${token.value}"`);
            }
            positionals.push(token.value);
            if (settings.positionals === "first") {
                rest = argv.slice(token.index + 1);
                break;
            }
            continue;
        }
        const kind = kinds[token.name];
        if (kind === undefined) {
            throw new UsageError(`unknown argument "${token.rawName}"`);
        }
        if (kind === "flag" && token.value !== undefined) {
            throw new UsageError(`${token.rawName} takes no value`);
        }
        values[token.name] = kind === "flag" ? true : (token.value ?? "");
    }
    const { stack, help, h, ...own } = values;
    if (stack === "") {
        throw new UsageError("--stack needs a name");
    }
    return {
        stack: typeof stack === "string" ? stack : DEFAULT_STACK,
        help: help === true || h === true,
        values: own as OptionValues<S>,
        positionals,
        ...(settings.positionals === "first" ? { rest: rest ?? [] } : {}),
    };
}

/**
 * An entry point's command line, or the exit code it ends with at once:
 * 0 once `usage` is printed for `--help`, 64 once a UsageError is said (with
 * `usage`, on stderr).
 */
export function commandLineOrExit<S extends OptionSpec>(
    argv: readonly string[],
    spec: S,
    usage: string,
    settings: { positionals?: PositionalsSetting } = {},
): CommandLine<S> | number {
    let line: CommandLine<S>;
    try {
        line = readCommandLine(argv, spec, settings);
    } catch (error) {
        if (error instanceof UsageError) {
            console.error(`${error.message}\n${usage}`);
            return 64;
        }
        throw error;
    }
    if (line.help) {
        console.log(usage);
        return 0;
    }
    return line;
}
