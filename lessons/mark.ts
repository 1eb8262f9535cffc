// Which lesson is running on a stack and what it broke, in a small file the
// `view` page shows (it runs outside the lab host and reads it from
// LVSLAB_HOME) and `scripts/lab up` clears once it has put the lab back.
import * as fs from "fs";
import * as path from "path";

export interface LessonMark {
    lesson: string;
    title: string;
    breaks: string;
    /** "broken", or "putting back". */
    stage: string;
    /** When the mark was written (ISO). */
    at?: string;
}

/** The mark's file for a stack: LVSLAB_HOME/lessons/STACK.json. */
export function lessonMarkFile(stackName: string, home = process.env.LVSLAB_HOME ?? "/var/lib/lvs-dr-lab"): string {
    return path.join(home, "lessons", `${stackName}.json`);
}

export function markLesson(stackName: string, mark: LessonMark): void {
    const file = lessonMarkFile(stackName);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify({ ...mark, at: new Date().toISOString() }, undefined, 2)}\n`);
}

/** The stack's mark, or undefined when no lesson has it broken (or the file is unreadable). */
export function readLessonMark(stackName: string): LessonMark | undefined {
    try {
        const mark = JSON.parse(fs.readFileSync(lessonMarkFile(stackName), "utf8")) as Partial<LessonMark>;
        return typeof mark.lesson === "string" && typeof mark.breaks === "string" ? (mark as LessonMark) : undefined;
    } catch {
        return undefined;
    }
}

/** Removes the stack's mark, and the folder once it is empty. */
export function clearLessonMark(stackName: string): void {
    const file = lessonMarkFile(stackName);
    fs.rmSync(file, { force: true });
    try {
        fs.rmdirSync(path.dirname(file));
    } catch {
        // Another stack's mark is still there, or there was no folder.
    }
}
