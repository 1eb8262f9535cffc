// The lessons, in the seed's order: each breaks one step of it on purpose.
import { arpLesson } from "./arp";
import { connReuseLesson } from "./connReuse";
import { connectionSyncLesson } from "./connectionSync";
import { healthCheckLesson } from "./healthCheck";
import type { Lesson } from "./lesson";
import { natReturnPathLesson } from "./natReturnPath";
import { netdevLesson } from "./netdev";
import { persistenceLesson } from "./persistence";
import { redirectsLesson } from "./redirects";
import { schedulersLesson } from "./schedulers";
import { tunMtuLesson } from "./tunMtu";
import { tunRpFilterLesson } from "./tunRpFilter";
import { vipOnLoopbackLesson } from "./vipOnLoopback";

export * from "./lesson";

export const LESSONS: readonly Lesson[] = [
    redirectsLesson,
    arpLesson,
    vipOnLoopbackLesson,
    netdevLesson,
    persistenceLesson,
    healthCheckLesson,
    connReuseLesson,
    tunRpFilterLesson,
    tunMtuLesson,
    natReturnPathLesson,
    schedulersLesson,
    connectionSyncLesson,
];

/** The lesson of that name, or an error that lists them. */
export function lessonNamed(name: string): Lesson {
    const lesson = LESSONS.find((entry) => entry.name === name);
    if (!lesson) {
        throw new Error(`no lesson "${name}": the lessons are ${LESSONS.map((entry) => entry.name).join(", ")} (scripts/lab lesson lists them)`);
    }
    return lesson;
}

/** " [mode tun]": the config a lesson switches to; "" when it needs none. Pure. */
export function needsWords(lesson: Lesson): string {
    const needs = Object.entries(lesson.needs ?? {});
    return needs.length === 0 ? "" : ` [${needs.map(([key, value]) => `${key} ${value}`).join(", ")}]`;
}

/** The list `scripts/lab lesson` prints. Pure. */
export function lessonList(): string[] {
    const width = Math.max(...LESSONS.map((lesson) => lesson.name.length));
    return [
        "Lessons: each breaks one seed step on the running lab, shows what it prevents, and puts it back (scripts/lab lesson NAME).",
        "",
        ...LESSONS.flatMap((lesson) => [
            `  ${lesson.name.padEnd(width)}  ${lesson.title}${needsWords(lesson)}`,
            `  ${"".padEnd(width)}  breaks: ${lesson.breaks}`,
        ]),
        "",
        "--break-only leaves it broken for you to find: scripts/lab check names what is broken, scripts/lab up puts it back.",
        "A lesson marked [key value] switches the lab's config to that first and back afterwards.",
    ];
}
