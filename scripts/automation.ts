// Runs the lab program through the Automation API's inline mode: the engine
// talks to this process's own language server, so no Node.js language host
// is needed. The stack config comes from Pulumi.<stack>.yaml in the project
// as it would for `pulumi up`. Used by scripts/lab and the e2e harness.
import * as auto from "@pulumi/pulumi/automation";
import * as path from "path";
import { lab } from "../program";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
export const PROJECT_NAME = "lvs-dr-lab";

export type Operation = "up" | "preview" | "refresh" | "destroy";

/** One resource step the engine took, as seen in its events. */
export interface ResourceStep {
    urn: string;
    type: string;
    op: string;
}

export interface OperationResult {
    operation: Operation;
    seconds: number;
    /** Counts per kind of change, as the engine's summary gives them. */
    changes: auto.OpMap;
    steps: ResourceStep[];
}

/** Opens (or creates) a stack of this project, with the program inline. */
export async function openStack(stackName: string): Promise<auto.Stack> {
    return auto.LocalWorkspace.createOrSelectStack(
        { stackName, projectName: PROJECT_NAME, program: async () => lab() },
        { workDir: PROJECT_ROOT, envVars: pulumiEnvironment() },
    );
}

/** The backend and passphrase every run uses unless the caller set its own. */
export function pulumiEnvironment(): Record<string, string> {
    return {
        PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? "file:///var/lib/lvs-dr-lab/state",
        PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "lvs-dr-lab",
        PULUMI_SKIP_UPDATE_CHECK: "true",
    };
}

/**
 * Runs one operation, streaming the engine's progress to stdout, and returns
 * what it changed. Each resource step is recorded so callers can check that
 * e.g. scaling created and updated only what it had to.
 */
export async function runOperation(
    stack: auto.Stack,
    operation: Operation,
    onOutput: (text: string) => void = (text) => process.stdout.write(text),
): Promise<OperationResult> {
    const steps: ResourceStep[] = [];
    const onEvent = (event: auto.EngineEvent): void => {
        const metadata = event.resOutputsEvent?.metadata;
        if (metadata) {
            steps.push({ urn: metadata.urn, type: metadata.type, op: metadata.op });
        }
    };
    const started = Date.now();
    let changes: auto.OpMap = {};
    switch (operation) {
        case "up": {
            const result = await stack.up({ onOutput, onEvent, color: "never" });
            changes = result.summary.resourceChanges ?? {};
            break;
        }
        case "preview": {
            const result = await stack.preview({ onOutput, onEvent, color: "never" });
            changes = result.changeSummary;
            break;
        }
        case "refresh": {
            const result = await stack.refresh({ onOutput, onEvent, color: "never" });
            changes = result.summary.resourceChanges ?? {};
            break;
        }
        case "destroy": {
            const result = await stack.destroy({ onOutput, onEvent, color: "never" });
            changes = result.summary.resourceChanges ?? {};
            break;
        }
    }
    return { operation, seconds: (Date.now() - started) / 1000, changes, steps };
}

/** The stack's outputs as plain values, secrets included (for local tools only). */
export async function plainOutputs(stack: auto.Stack): Promise<Record<string, unknown>> {
    const outputs = await stack.outputs();
    return Object.fromEntries(Object.entries(outputs).map(([key, output]) => [key, output.value]));
}

const USAGE = `usage: node bin/scripts/automation.js <up|preview|refresh|destroy|outputs|remove> [--stack NAME]

Runs the lab program on a stack through the Automation API (inline mode).
  --stack NAME   stack to use (default: dev; config from Pulumi.NAME.yaml)
Environment: PULUMI_BACKEND_URL (default file:///var/lib/lvs-dr-lab/state),
PULUMI_CONFIG_PASSPHRASE (default "lvs-dr-lab").`;

async function main(argv: string[]): Promise<number> {
    const [operation, ...rest] = argv;
    if (operation === undefined || operation === "--help" || operation === "-h") {
        console.log(USAGE);
        return operation === undefined ? 64 : 0;
    }
    let stackName = "dev";
    for (let i = 0; i < rest.length; i++) {
        if (rest[i] === "--stack" && rest[i + 1]) {
            stackName = rest[++i];
        } else {
            console.error(`unknown argument "${rest[i]}"\n${USAGE}`);
            return 64;
        }
    }
    const stack = await openStack(stackName);
    if (operation === "outputs") {
        console.log(JSON.stringify(await plainOutputs(stack), undefined, 2));
        return 0;
    }
    if (operation === "remove") {
        await stack.workspace.removeStack(stackName);
        console.error(`removed stack ${stackName}`);
        return 0;
    }
    if (!["up", "preview", "refresh", "destroy"].includes(operation)) {
        console.error(`unknown operation "${operation}"\n${USAGE}`);
        return 64;
    }
    const result = await runOperation(stack, operation as Operation);
    console.error(`${operation} of stack ${stackName} took ${result.seconds.toFixed(1)} s: ${JSON.stringify(result.changes)}`);
    return 0;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(error instanceof Error ? error.message : String(error));
            process.exit(1);
        },
    );
}
