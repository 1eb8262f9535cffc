// `scripts/lab lesson [NAME...] [--break-only] [--stack NAME]`: lists the
// lessons, or runs each named one on the running lab in four stages printed
// for a person: why, break, see, put back (through `up`, whose refresh sees
// the drift) and see again; an experiment runs and judges its own table.
// `--all` runs every lesson in turn (npm run lessons); more than one ends
// with the verdicts' table and count.
import * as auto from "@pulumi/pulumi/automation";
import type { LabOutputValues } from "../components/program";
import { changedSteps, commandLineOrExit, errorText, formatTable, labOutputs, runMain, sshRun } from "../proofs/kit";
import { openStack, PROJECT_NAME, revealedResources, runOperation } from "../scripts/automation";
import { factsTable, liveFacts } from "../scripts/drift";
import { machineNamed, topologyFromOutputs } from "../scripts/tools/topology";
import { CONFIG_DEFAULTS } from "../components/config";
import {
    ExperimentLesson,
    ExperimentResult,
    LabControl,
    Lesson,
    LessonContext,
    lessonList,
    lessonNamed,
    LESSONS,
    lessonVerdict,
    needsWords,
    Sighting,
} from "./index";
import { clearLessonMark, markLesson } from "./mark";

const USAGE = `usage: scripts/lab lesson [NAME...] [--break-only] [--stack NAME]
       scripts/lab lesson --all [--stack NAME]

Without NAME: the list of lessons (no lab needed). With NAME: the lesson on
the running lab (stack dev unless --stack): why the seed has that step,
break it, see what goes wrong (measured now), put it back with
scripts/lab up, see it gone.
  --break-only  stop after "see": find it with scripts/lab check, put it
                back with scripts/lab up
  --all         every lesson in turn (several NAMEs: those), then a table of
                verdicts and "lessons: N passed, M failed"`;

function say(line = ""): void {
    process.stdout.write(`${line}\n`);
}

function stage(title: string): void {
    say();
    say(`== ${title}`);
}

function printSighting(sighting: Sighting): void {
    for (const line of sighting.lines) {
        say(`   ${line}`);
    }
}

async function contextOf(stack: auto.Stack, stackName: string): Promise<LessonContext> {
    const out: LabOutputValues = await labOutputs(stack);
    return { stackName, out, topology: topologyFromOutputs(out, stackName) };
}

/** Runs `up`, refreshing first, quietly; says what it changed. */
async function upQuietly(stack: auto.Stack, why: string): Promise<void> {
    say(`   scripts/lab up   (${why}; refreshing first)`);
    const result = await runOperation(stack, "up", () => undefined, { refresh: true });
    const changed = changedSteps(result).map((step) => `${step.op} ${step.name}`);
    say(`   up took ${result.seconds.toFixed(0)} s: ${changed.length === 0 ? "nothing to change" : changed.join(", ")}`);
}

/**
 * The stack's own setting of each of `keys`, as its Pulumi.STACK.yaml has
 * it (undefined: not set there, so Pulumi.yaml's default holds). Not the
 * merged config, or setting a lesson's change back would write the
 * defaults into the stack's file.
 */
async function configOf(stack: auto.Stack, keys: readonly string[]): Promise<Record<string, string | undefined>> {
    const settings = (await stack.workspace.stackSettings(stack.name)).config ?? {};
    const value = (key: string): string | undefined => {
        const entry: unknown = settings[`${PROJECT_NAME}:${key}`];
        return typeof entry === "string" || typeof entry === "number" || typeof entry === "boolean" ? String(entry) : undefined;
    };
    return Object.fromEntries(keys.map((key) => [key, value(key)]));
}

/** Sets (or, for undefined, removes) config keys, saying each as the Pulumi command a person would type. */
async function setConfig(stack: auto.Stack, values: Readonly<Record<string, string | undefined>>): Promise<void> {
    for (const [key, value] of Object.entries(values)) {
        if (value === undefined) {
            say(`   scripts/lab pulumi config rm ${PROJECT_NAME}:${key}`);
            await stack.removeConfig(`${PROJECT_NAME}:${key}`);
        } else {
            say(`   scripts/lab pulumi config set ${PROJECT_NAME}:${key} ${value}`);
            await stack.setConfig(`${PROJECT_NAME}:${key}`, { value });
        }
    }
}

/** The keys whose effective value (set, else the default) differs from `wanted`. Pure. */
export function configToChange(current: Readonly<Record<string, string | undefined>>, wanted: Readonly<Record<string, string>>): Record<string, string> {
    const defaults: Readonly<Record<string, string>> = CONFIG_DEFAULTS;
    return Object.fromEntries(Object.entries(wanted).filter(([key, value]) => (current[key] ?? defaults[key]) !== value));
}

/** Switches the stack to the config the lesson needs; returns how to switch back (undefined: nothing to undo). */
async function switchConfig(stack: auto.Stack, lesson: Lesson): Promise<(() => Promise<void>) | undefined> {
    const needs = lesson.needs ?? {};
    const before = await configOf(stack, Object.keys(needs));
    const change = configToChange(before, needs);
    if (Object.keys(change).length === 0) {
        return undefined;
    }
    const was = Object.fromEntries(Object.keys(change).map((key) => [key, before[key]]));
    stage(`Set-up: this lesson needs${needsWords(lesson)}; the lab switches first, and back afterwards`);
    await setConfig(stack, change);
    await upQuietly(stack, "to the lesson's config");
    return async () => {
        stage("Set-up undone: the lab's own config again");
        await setConfig(stack, was);
        await upQuietly(stack, "back to the lab's config");
    };
}

/** What `scripts/lab check` would name now: the drifted facts, machine by machine. */
async function driftNow(stack: auto.Stack): Promise<string[]> {
    const machines = await liveFacts(await revealedResources(stack));
    const drifted = machines.filter((machine) => machine.drifted > 0 || !machine.reachable);
    return drifted.length === 0 ? ["(no fact reads as drifted)"] : factsTable(drifted, false);
}

/** Puts back the config a break changed (if any), then up, refreshing first. */
async function putBackAll(stack: auto.Stack, configBefore: Record<string, string | undefined> | undefined): Promise<void> {
    if (configBefore) {
        await setConfig(stack, configBefore);
    }
    await upQuietly(stack, "puts back what drifted");
}

/** A lesson that compares: its experiment, its table, its verdict; every config it changed set back. */
async function runExperiment(
    stack: auto.Stack,
    stackName: string,
    lesson: ExperimentLesson,
    switchBack: (() => Promise<void>) | undefined,
    started: number,
): Promise<LessonOutcome> {
    const original: Record<string, string | undefined> = {};
    const lab: LabControl = {
        context: () => contextOf(stack, stackName),
        configure: async (values, why) => {
            const before = await configOf(stack, Object.keys(values));
            for (const key of Object.keys(values)) {
                if (!(key in original)) {
                    original[key] = before[key];
                }
            }
            await setConfig(stack, values);
            await upQuietly(stack, why);
        },
        up: (why) => upQuietly(stack, why),
        say: (text) => say(`   ${text}`),
    };
    stage(`Experiment: ${lesson.breaks}`);
    markLesson(stackName, { lesson: lesson.name, title: lesson.title, breaks: lesson.breaks, stage: "running" });
    let result: ExperimentResult;
    try {
        result = await lesson.experiment(lab);
    } finally {
        clearLessonMark(stackName);
        if (Object.keys(original).length > 0) {
            stage("Put back: the lab's own config again");
            await setConfig(stack, original);
            await upQuietly(stack, "back to the lab's config");
        }
        if (switchBack) {
            await switchBack();
        }
    }
    stage("What it showed");
    result.table.forEach((text) => say(`   ${text}`));
    const pass = result.problems.length === 0;
    stage(`Verdict: ${pass ? "as the lesson says" : "NOT as the lesson says"}`);
    say(`   ${pass ? "the numbers are as the lesson says" : result.problems.join("; ")}`);
    return { lesson: lesson.name, pass, problems: result.problems, seconds: (Date.now() - started) / 1000 };
}

export interface LessonOutcome {
    lesson: string;
    pass: boolean;
    problems: string[];
    seconds: number;
}

/** One lesson, its four stages; the verdict. With `breakOnly`, it stops broken after "see". */
export async function runLesson(stack: auto.Stack, stackName: string, lesson: Lesson, breakOnly: boolean): Promise<LessonOutcome> {
    const started = Date.now();
    stage(`Why: ${lesson.title}`);
    say(`   ${lesson.seedStep}`);
    say();
    for (const line of lesson.why) {
        say(`   ${line}`);
    }
    say(`   Read: ${lesson.reference}`);
    const context = await contextOf(stack, stackName);
    const refusal = lesson.cannotRun?.(context.out);
    if (refusal) {
        throw new Error(`this lab cannot run lesson ${lesson.name}: ${refusal}`);
    }
    const switchBack = await switchConfig(stack, lesson);
    if (lesson.kind === "experiment") {
        return runExperiment(stack, stackName, lesson, switchBack, started);
    }
    let broken: Sighting | undefined;
    let putBack: Sighting | undefined;
    let configBefore: Record<string, string | undefined> | undefined;
    try {
        const live = switchBack ? await contextOf(stack, stackName) : context;
        stage(`Break: ${lesson.breaks}`);
        markLesson(stackName, { lesson: lesson.name, title: lesson.title, breaks: lesson.breaks, stage: "broken" });
        for (const change of lesson.change(live)) {
            say(`   scripts/lab ssh ${change.machine} '${change.command}'`);
            await sshRun(live.out.ssh, machineNamed(live.topology, change.machine).sshAddress, change.command, 60_000);
        }
        if (lesson.breakConfig) {
            configBefore = await configOf(stack, Object.keys(lesson.breakConfig));
            await setConfig(stack, lesson.breakConfig);
            await upQuietly(stack, "with the broken config");
        }
        stage("See: what it does now");
        try {
            broken = await lesson.see(live);
            printSighting(broken);
            if (lesson.breakConfig) {
                say("   (the break is a setting: the lab is as its config says, so scripts/lab check has no drift to name)");
            } else {
                say(`   scripts/lab check names:`);
                for (const line of await driftNow(stack)) {
                    say(`     ${line}`);
                }
            }
        } catch (error) {
            // Whatever went wrong while looking, the lab is put back.
            say(`   seeing failed: ${errorText(error)}`);
            if (!breakOnly) {
                await putBackAll(stack, configBefore);
            }
            throw error;
        }
        if (breakOnly) {
            stage("Left broken (--break-only)");
            say(
                lesson.breakConfig
                    ? `   Put it back: ${Object.entries(configBefore ?? {})
                          .map(([key, value]) =>
                              value === undefined
                                  ? `scripts/lab pulumi config rm ${PROJECT_NAME}:${key}`
                                  : `scripts/lab pulumi config set ${PROJECT_NAME}:${key} ${value}`,
                          )
                          .join("; ")}; scripts/lab up.`
                    : "   Find it: scripts/lab check. Put it back: scripts/lab up.",
            );
            if (switchBack) {
                say(`   The lab stays in the lesson's config${needsWords(lesson)} until you set it back.`);
            }
            return {
                lesson: lesson.name,
                pass: broken.symptom,
                problems: broken.symptom ? [] : ["the symptom did not show"],
                seconds: (Date.now() - started) / 1000,
            };
        }
        stage(
            lesson.breakConfig ? "Put back: the setting as it was, then up" : "Put back: the lab's refresh sees the drift, up runs that machine's steps again",
        );
        markLesson(stackName, { lesson: lesson.name, title: lesson.title, breaks: lesson.breaks, stage: "putting back" });
        await putBackAll(stack, configBefore);
        stage("See again");
        putBack = await lesson.see(await contextOf(stack, stackName));
        printSighting(putBack);
    } finally {
        if (!breakOnly) {
            clearLessonMark(stackName);
        }
        if (switchBack && (!breakOnly || broken === undefined)) {
            await switchBack();
        }
    }
    const verdict = lessonVerdict(broken, putBack);
    stage(`Verdict: ${verdict.pass ? "as the lesson says" : "NOT as the lesson says"}`);
    say(`   ${verdict.pass ? "the symptom (or the lesson's evidence) showed while broken and was gone once put back" : verdict.problems.join("; ")}`);
    return { lesson: lesson.name, ...verdict, seconds: (Date.now() - started) / 1000 };
}

async function main(argv: string[]): Promise<number> {
    const line = commandLineOrExit(argv, { stack: "value", "break-only": "flag", all: "flag" }, USAGE, { positionals: true });
    if (typeof line === "number") {
        return line;
    }
    if (line.positionals.length === 0 && !line.values.all) {
        lessonList().forEach((text) => say(text));
        return 0;
    }
    const stackName = line.values.stack ?? "dev";
    const stack = await openStack(stackName);
    const lessons = line.values.all ? LESSONS : line.positionals.map(lessonNamed);
    const outcomes: LessonOutcome[] = [];
    for (const lesson of lessons) {
        try {
            outcomes.push(await runLesson(stack, stackName, lesson, line.values["break-only"] === true));
        } catch (error) {
            say(`lesson ${lesson.name} failed: ${errorText(error)}`);
            outcomes.push({ lesson: lesson.name, pass: false, problems: [errorText(error)], seconds: 0 });
        }
    }
    if (lessons.length > 1) {
        say();
        say(
            formatTable(
                ["lesson", "verdict", "seconds", "problems"],
                outcomes.map((o) => [o.lesson, o.pass ? "ok" : "FAIL", o.seconds.toFixed(0), o.problems.join("; ")]),
            ),
        );
        const passed = outcomes.filter((outcome) => outcome.pass).length;
        say(`lessons: ${passed} passed, ${outcomes.length - passed} failed`);
    }
    return outcomes.every((outcome) => outcome.pass) ? 0 : 1;
}

runMain("lesson", module, () => main(process.argv.slice(2)));
