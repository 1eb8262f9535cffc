// What a lesson is: one seed step broken on purpose on the running lab, the
// symptom measured, then put back by `scripts/lab up` (whose refresh sees the
// drift) and measured again. Each lesson's file holds its text beside its
// code; the runner (lessons/runner.ts) prints the four stages.
import type { LabOutputValues } from "../components/program";
import { delay, get } from "../proofs/kit";
import type { LabTopology } from "../scripts/tools/topology";

/** A shell command a person could type: run over plain SSH as the lab's user on `machine`. */
export interface HandCommand {
    machine: string;
    command: string;
}

/** What "See" measured: lines for a person, and whether the symptom (or the lesson's stated evidence) shows. */
export interface Sighting {
    lines: string[];
    symptom: boolean;
}

/** What a lesson's steps are given: the lab's outputs and topology, read after any mode switch. */
export interface LessonContext {
    stackName: string;
    out: LabOutputValues;
    topology: LabTopology;
}

/** What every lesson says of itself. */
export interface LessonText {
    /** The name `scripts/lab lesson NAME` takes. */
    name: string;
    title: string;
    /** The seed's step it belongs to, in the seed's words where it has them. */
    seedStep: string;
    /** What the step does and what goes wrong without it: a few lines. */
    why: readonly string[];
    /** Where to read more (a document and its section). */
    reference: string;
    /**
     * The config the lesson needs (keys without the project's prefix, e.g.
     * { mode: "tun" }): the runner switches the lab to it first, and back
     * afterwards.
     */
    needs?: Readonly<Record<string, string>>;
    /** Why this lab cannot run the lesson (e.g. one director where it needs two); undefined when it can. */
    cannotRun?(out: LabOutputValues): string | undefined;
    /** What "Break" changes (or the experiment compares), in one line (the list, the view page). */
    breaks: string;
}

/** A lesson that breaks one step, sees the symptom, puts it back and sees it gone. */
export interface BreakLesson extends LessonText {
    kind: "break";
    /** The changes, as plain commands (none when the break is a config change). */
    change(context: LessonContext): HandCommand[];
    /** A break made by config instead (e.g. { healthCheck: "none" }), applied with up; put back by setting it back. */
    breakConfig?: Readonly<Record<string, string>>;
    /**
     * Measures the symptom now. `symptom` is what the lesson judges: true
     * while broken, false once put back. A lesson whose symptom this
     * topology cannot show says so in `why` and measures its evidence.
     */
    see(context: LessonContext): Promise<Sighting>;
}

/**
 * A lesson that compares settings rather than breaking one (e.g. the
 * schedulers): it may change config through `lab`, which the runner sets
 * back afterwards, and judges its own numbers.
 */
export interface ExperimentLesson extends LessonText {
    kind: "experiment";
    experiment(lab: LabControl): Promise<ExperimentResult>;
}

export type Lesson = BreakLesson | ExperimentLesson;

/** What an experiment may do to the lab. */
export interface LabControl {
    /** The outputs and topology as they are now. */
    context(): Promise<LessonContext>;
    /** Sets config keys (undefined removes one) and runs up, saying each as a person would type it. */
    configure(values: Readonly<Record<string, string | undefined>>, why: string): Promise<void>;
    /** Runs up, refreshing first (a VM shut off behind its back is started again). */
    up(why: string): Promise<void>;
    say(line: string): void;
}

/** An experiment's numbers, as table lines, and what in them is not as the lesson says. */
export interface ExperimentResult {
    table: string[];
    problems: string[];
}

/** The lesson's verdict from its two sightings: the symptom while broken, gone once put back. */
export function lessonVerdict(broken: Sighting, putBack: Sighting | undefined): { pass: boolean; problems: string[] } {
    const problems: string[] = [];
    if (!broken.symptom) {
        problems.push("the symptom did not show while the step was broken");
    }
    if (putBack === undefined) {
        problems.push("it was not put back");
    } else if (putBack.symptom) {
        problems.push("the symptom was still there after it was put back");
    }
    return { pass: problems.length === 0, problems };
}

/** Requests to the VIP, one at a time: how many were answered with the page, and by whom. */
export interface RequestTally {
    sent: number;
    answered: number;
    failed: number;
    byServer: Record<string, number>;
}

/**
 * Requests to the VIP one at a time, each with `timeoutMs` (and `headers`),
 * until `count` were sent or, given `forMs`, that long has passed.
 */
export async function sendRequests(
    out: LabOutputValues,
    count: number,
    timeoutMs = 1500,
    options: { forMs?: number; pauseMs?: number; headers?: Readonly<Record<string, string>> } = {},
): Promise<RequestTally> {
    const tally: RequestTally = { sent: 0, answered: 0, failed: 0, byServer: {} };
    const until = options.forMs === undefined ? undefined : Date.now() + options.forMs;
    while (until === undefined ? tally.sent < count : Date.now() < until) {
        const answer = await get(out.vipUrl, out.identityHeader, timeoutMs, { headers: options.headers }).catch(() => undefined);
        tally.sent++;
        if (answer && answer.status === 200 && answer.body.trim() === out.expectedPage) {
            tally.answered++;
            const server = answer.server ?? "unnamed";
            tally.byServer[server] = (tally.byServer[server] ?? 0) + 1;
        } else {
            tally.failed++;
        }
        if (options.pauseMs) {
            await delay(options.pauseMs);
        }
    }
    return tally;
}

/** "38 of 40 answered (web1 10, web2 9, ...), 2 failed". Pure. */
export function tallyLine(tally: RequestTally): string {
    const servers = Object.keys(tally.byServer)
        .sort()
        .map((server) => `${server} ${tally.byServer[server]}`)
        .join(", ");
    return `${tally.answered} of ${tally.sent} requests answered${servers ? ` (${servers})` : ""}, ${tally.failed} failed`;
}
