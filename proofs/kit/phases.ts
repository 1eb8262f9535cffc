// A proof as phases: each timed, judged and logged; counted at the end; shown
// as a table; written as a result file under bench/results.
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../../scripts/automation";
import { errorText } from "./main";

export interface Phase {
    name: string;
    seconds: number;
    ok: boolean;
    /** Not run, because a phase it depends on failed. */
    skipped?: boolean;
    detail: string;
}

/**
 * How a phase went: `value` is there whenever its body completed, even if
 * its check found problems; `error` is what the body threw, if it did.
 */
export interface Outcome<T> {
    ok: boolean;
    value: T | undefined;
    error?: unknown;
}

/** The phases of one run (e2e, bench), each timed, judged and logged as `=== TOOL: name`. */
export class PhaseLog {
    readonly phases: Phase[] = [];

    constructor(private readonly tool: string) {}

    /**
     * Runs one phase and records it; never throws. A body that throws is a
     * failed phase without a value; a check that finds problems is a failed
     * phase with one (the change it judged did happen).
     */
    async run<T>(name: string, body: () => Promise<T>, check: (value: T) => string[] = () => []): Promise<Outcome<T>> {
        console.log(`\n=== ${this.tool}: ${name}`);
        const started = Date.now();
        let value: T;
        try {
            value = await body();
        } catch (error) {
            this.record(name, started, [errorText(error)]);
            return { ok: false, value: undefined, error };
        }
        let problems: string[];
        try {
            problems = check(value);
        } catch (error) {
            problems = [`the check itself failed: ${errorText(error)}`];
        }
        this.record(name, started, problems);
        return { ok: problems.length === 0, value };
    }

    /** Records a phase that cannot mean anything because `cause` failed. */
    skip(name: string, cause: string): void {
        const detail = `skipped: "${cause}" failed`;
        this.phases.push({ name, seconds: 0, ok: false, skipped: true, detail });
        console.log(`\n=== ${this.tool}: ${name}: ${detail}`);
    }

    private record(name: string, started: number, problems: string[]): void {
        const seconds = (Date.now() - started) / 1000;
        this.phases.push({ name, seconds, ok: problems.length === 0, detail: problems.join("; ") });
        console.log(`=== ${this.tool}: ${name}: ${seconds.toFixed(1)} s${problems.length ? ` FAILED: ${problems.join("; ")}` : ""}`);
    }
}

/** "N passed, M failed, K skipped" of a run's phases. */
export function tally(list: readonly Phase[]): { passed: number; failed: number; skipped: number } {
    const skipped = list.filter((p) => p.skipped === true).length;
    const passed = list.filter((p) => p.ok).length;
    return { passed, failed: list.length - passed - skipped, skipped };
}

/** A plain-text table: a header row, a rule, then the rows, columns padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
    const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)));
    const line = (cells: readonly string[]): string =>
        cells
            .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The phases as the bench and spread summaries show them: phase, seconds, ok, the detail cut to `detailWidth`. */
export function phaseTable(phases: readonly Phase[], detailWidth: number): string {
    return formatTable(
        ["phase", "seconds", "ok", "detail"],
        phases.map((p) => [p.name, p.seconds.toFixed(1), p.ok ? "ok" : "FAIL", p.detail.slice(0, detailWidth)]),
    );
}

/** Writes a run's results as JSON under bench/results; returns the file. */
export function writeResults(name: string, results: unknown): string {
    const file = path.join(PROJECT_ROOT, "bench", "results", name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(results, undefined, 2)}\n`);
    return file;
}
