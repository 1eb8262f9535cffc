// An Automation API operation result made of (op, type, name) steps, for the
// tests of the verdicts that read one.
import { OperationResult } from "../../scripts/automation";

export const COMMAND = "command:remote:Command";

export function operationResult(...steps: [op: string, type: string, name: string][]): OperationResult {
    return {
        operation: "up",
        seconds: 1,
        changes: {},
        steps: steps.map(([op, type, name]) => ({ op, type, urn: `urn:pulumi:e2e::lvs-dr-lab::${type}::${name}`, startSecond: 0, seconds: 0 })),
    };
}
