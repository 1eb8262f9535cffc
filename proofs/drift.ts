// The drift proof: a running lab changed by hand with plain SSH commands (not
// the project's code), then `refresh` must name each changed fact by machine,
// `check` must exit non-zero, `up` must put it back running only the drifted
// machines' steps, and afterwards the lab is as wanted and `up` a no-op.
// Used by the e2e test (in DR and in TUN) and the spread run.
import { execFile } from "child_process";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { GUEST_FACTS_TYPE } from "../components/facts";
import type { LabOutputValues } from "../components/program";
import { OperationResult, PROJECT_ROOT, revealedResources, runOperation } from "../scripts/automation";
import { MachineFacts, recordedFacts } from "../scripts/drift";
import { machineNamed, topologyFromOutputs } from "../scripts/tools/topology";
import { changedSteps, sshRun } from "./kit";

/** One change made by hand: on which machine, the command, and the facts it must show up as. */
export interface HandChange {
    machine: string;
    /** A shell command run over plain SSH as the lab's user. */
    command: string;
    /** Facts of that machine that must read as drifted afterwards. */
    facts: string[];
}

/** Makes each change with plain SSH, on the address the lab host reaches the machine on. */
export async function changeByHand(outputs: LabOutputValues, stackName: string, changes: readonly HandChange[]): Promise<void> {
    const topology = topologyFromOutputs(outputs, stackName);
    for (const change of changes) {
        await sshRun(outputs.ssh, machineNamed(topology, change.machine).sshAddress, change.command, 60_000);
    }
}

/** What a refresh recorded must name: every changed fact drifted, no other machine drifted, nothing unreachable. */
export function refreshProblems(machines: readonly MachineFacts[], changes: readonly HandChange[]): string[] {
    const problems: string[] = [];
    for (const machine of machines) {
        const expected = changes.filter((change) => change.machine === machine.machine).flatMap((change) => change.facts);
        if (!machine.reachable) {
            problems.push(`${machine.machine} read as unreachable`);
            continue;
        }
        const drifted = machine.facts.filter((fact) => !fact.ok).map((fact) => fact.name);
        for (const name of expected) {
            if (!drifted.includes(name)) {
                problems.push(`${machine.machine}: ${name} was changed by hand but does not read as drifted`);
            }
        }
        if (expected.length === 0 && drifted.length > 0) {
            problems.push(`${machine.machine} was not touched but reads as drifted: ${drifted.join(", ")}`);
        }
    }
    for (const change of changes) {
        if (!machines.some((machine) => machine.machine === change.machine)) {
            problems.push(`${change.machine}: no facts in the state`);
        }
    }
    return problems;
}

/** The refresh: the drifted facts by machine, as the state now records them. */
export async function refreshAndRead(stack: Stack): Promise<MachineFacts[]> {
    await runOperation(stack, "refresh");
    return recordedFacts(await revealedResources(stack));
}

/** `scripts/lab check`'s code, run as a person runs it: its exit status and what it printed. */
export function runCheck(stackName: string): Promise<{ status: number; output: string }> {
    return new Promise((resolve) => {
        execFile(
            process.execPath,
            [path.join(PROJECT_ROOT, "bin", "scripts", "automation.js"), "check", "--stack", stackName],
            { timeout: 180_000 },
            (error, stdout, stderr) => {
                const status = error ? (typeof error.code === "number" ? error.code : -1) : 0;
                resolve({ status, output: `${stdout}${stderr}` });
            },
        );
    });
}

/** The repair: only the drifted machines' facts resources updated (they ran their steps), nothing else changed. */
export function repairProblems(result: Pick<OperationResult, "steps">, changes: readonly HandChange[]): string[] {
    const drifted = new Set(changes.map((change) => `${change.machine}-facts`));
    const changed = changedSteps(result);
    const problems = changed
        .filter((step) => !(step.op === "update" && step.type === GUEST_FACTS_TYPE && drifted.has(step.name)))
        .map((step) => `unexpected ${step.op} of ${step.type} ${step.name}`);
    for (const name of drifted) {
        if (!changed.some((step) => step.op === "update" && step.name === name)) {
            problems.push(`${name} was not updated: its machine's steps did not run again`);
        }
    }
    return problems;
}
