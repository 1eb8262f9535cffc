// The end-to-end test: the dev topology on a fresh stack, for real. Runs
// inside the lab host's namespace (scripts/e2e.sh puts it there). Phases:
// up, smoke, a no-op up, scale to N+1 and back (smoke each time, nothing else
// replaced), destroy, and proof that nothing of the lab is left in libvirt.
import * as auto from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { openStack, OperationResult, plainOutputs, PROJECT_ROOT, runOperation } from "./automation";
import { smokeTest, SmokeInputs } from "./smoke";

interface Phase {
    name: string;
    seconds: number;
    ok: boolean;
    detail: string;
}

const phases: Phase[] = [];

async function phase<T>(name: string, body: () => Promise<T>, check: (value: T) => string[] = () => []): Promise<T> {
    console.log(`\n=== e2e: ${name}`);
    const started = Date.now();
    let value: T;
    try {
        value = await body();
    } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        phases.push({ name, seconds: (Date.now() - started) / 1000, ok: false, detail });
        throw new Error(`phase "${name}" failed: ${detail}`);
    }
    const problems = check(value);
    const seconds = (Date.now() - started) / 1000;
    phases.push({ name, seconds, ok: problems.length === 0, detail: problems.join("; ") });
    console.log(`=== e2e: ${name}: ${seconds.toFixed(1)} s${problems.length ? ` FAILED: ${problems.join("; ")}` : ""}`);
    if (problems.length) {
        throw new Error(`phase "${name}" failed: ${problems.join("; ")}`);
    }
    return value;
}

/** Resource steps other than `same`, as "op type name" lines. */
export function changedSteps(result: OperationResult): { op: string; type: string; name: string }[] {
    return result.steps
        .filter((step) => step.op !== "same")
        .map((step) => ({ op: step.op, type: step.type, name: step.urn.split("::").pop() ?? step.urn }));
}

/**
 * What scaling may touch: creating or deleting the one added server's own
 * resources, and updating the director's IPVS step in place. Anything else
 * (a replace, or a change to another machine) is a problem.
 */
export function scalingProblems(result: OperationResult, serverName: string, directorName: string): string[] {
    const problems: string[] = [];
    for (const step of changedSteps(result)) {
        const ownedByServer = step.name === serverName || step.name.startsWith(`${serverName}-`);
        if ((step.op === "create" || step.op === "delete") && ownedByServer) {
            continue;
        }
        if (step.op === "update" && step.name === `${directorName}-ipvs`) {
            continue;
        }
        // Dynamic providers are configured with the whole stack config, so
        // their provider shows as updated when any setting changes; it is no
        // machine and nothing is replaced by it.
        if (step.op === "update" && step.type.startsWith("pulumi:providers:")) {
            continue;
        }
        problems.push(`unexpected ${step.op} of ${step.type} ${step.name}`);
    }
    if (!changedSteps(result).some((step) => step.op === "update" && step.name === `${directorName}-ipvs`)) {
        problems.push("the director's IPVS table was not updated");
    }
    return problems;
}

/** libvirt objects whose names start with the lab's prefix. */
export function leftovers(uri: string, pool: string, prefix: string): string[] {
    const virsh = (...args: string[]): string[] => {
        try {
            return execFileSync("virsh", ["-c", uri, ...args], { encoding: "utf8" })
                .split("\n")
                .map((line) => line.trim())
                .filter((line) => line !== "");
        } catch {
            return [];
        }
    };
    const found = [
        ...virsh("list", "--all", "--name").map((name) => `domain ${name}`),
        ...virsh("net-list", "--all", "--name").map((name) => `network ${name}`),
        ...virsh("vol-list", pool)
            .slice(2)
            .map((line) => `volume ${line.split(/\s+/)[0]}`),
    ];
    return found.filter((entry) => entry.split(" ")[1].startsWith(prefix));
}

async function setRealServerCount(stack: auto.Stack, count: number): Promise<void> {
    await stack.setConfig("lvs-dr-lab:realServerCount", { value: String(count) });
}

async function main(): Promise<number> {
    const stackName = process.env.LVSLAB_E2E_STACK ?? "e2e";
    const requests = Number(process.env.LVSLAB_E2E_REQUESTS ?? "200");
    const stack = await openStack(stackName);
    const started = Date.now();
    const baseCount = Number((await stack.getConfig("lvs-dr-lab:realServerCount")).value);
    // Every smoke phase reads the outputs afresh: scaling changes them.
    const smokePhase = (name: string) =>
        phase(name, async () => smokeTest((await plainOutputs(stack)) as unknown as SmokeInputs, requests), (report) => report.problems);

    try {
        await phase("clean start (destroy leftovers of an earlier run)", () => runOperation(stack, "destroy"));
        await phase("up from nothing", () => runOperation(stack, "up"));
        // What the stack made in libvirt, to prove after destroy that it is gone.
        const { libvirt } = (await plainOutputs(stack)) as unknown as { libvirt: { uri: string; pool: string; prefix: string } };
        await smokePhase("smoke");
        await phase("no-op up", () => runOperation(stack, "up"), (result) => {
            const changed = changedSteps(result);
            return changed.length === 0 ? [] : changed.map((step) => `${step.op} ${step.type} ${step.name}`);
        });
        const added = `web${baseCount + 1}`;
        await setRealServerCount(stack, baseCount + 1);
        await phase(`scale to ${baseCount + 1} real servers`, () => runOperation(stack, "up"), (result) =>
            scalingProblems(result, added, "director"),
        );
        await smokePhase(`smoke with ${baseCount + 1}`);
        await setRealServerCount(stack, baseCount);
        await phase(`scale back to ${baseCount}`, () => runOperation(stack, "up"), (result) => scalingProblems(result, added, "director"));
        await smokePhase(`smoke with ${baseCount}`);
        await phase("destroy", () => runOperation(stack, "destroy"));
        await phase("nothing left", async () => leftovers(libvirt.uri, libvirt.pool, libvirt.prefix), (left) =>
            left.map((entry) => `${entry} is still there`),
        );
    } finally {
        const results = {
            stack: stackName,
            when: new Date().toISOString(),
            totalSeconds: (Date.now() - started) / 1000,
            domainType: (await stack.getConfig("lvs-dr-lab:domainType").catch(() => ({ value: "kvm" }))).value,
            passed: phases.length > 0 && phases.every((p) => p.ok),
            phases,
        };
        const file = path.join(PROJECT_ROOT, "bench", "results", "e2e.json");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${JSON.stringify(results, undefined, 2)}\n`);
        console.log("\n=== e2e summary");
        for (const p of phases) {
            console.log(`  ${p.ok ? "ok  " : "FAIL"} ${p.name.padEnd(52)} ${p.seconds.toFixed(1).padStart(7)} s${p.detail ? `  ${p.detail}` : ""}`);
        }
        console.log(`  total ${results.totalSeconds.toFixed(1)} s; written to ${path.relative(PROJECT_ROOT, file)}`);
    }
    const passed = phases.filter((p) => p.ok).length;
    console.log(`e2e: ${passed} passed, ${phases.length - passed} failed`);
    return phases.every((p) => p.ok) ? 0 : 1;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(`e2e: ${error instanceof Error ? error.message : String(error)}`);
            const passed = phases.filter((p) => p.ok).length;
            console.log(`e2e: ${passed} passed, ${phases.length - passed} failed`);
            process.exit(1);
        },
    );
}
