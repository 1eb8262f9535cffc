// Drift, as a person reads it: each machine's facts from the stack's state
// (wanted, and as the last refresh observed them) or read live over SSH
// (`scripts/lab check`), each fact ok or drifted with both values.
import { compareFacts, Facts, FactVerdict, GUEST_FACTS_TYPE, GuestFactsOutputs, readLive } from "../components/facts";

/** A resource of an exported state, its secrets revealed. */
export interface RevealedResource {
    type: string;
    outputs?: Record<string, unknown>;
}

/** One machine's facts held against what the lab wants. */
export interface MachineFacts {
    machine: string;
    host: string;
    /** Whether it answered (live), or answered the last refresh (recorded). */
    reachable: boolean;
    facts: FactVerdict[];
    drifted: number;
}

/** Directors first, then the real servers, then the rest; web2 before web10. */
function machineOrder(a: GuestFactsOutputs, b: GuestFactsOutputs): number {
    const rank = (name: string): number => (name.startsWith("director") ? 0 : name.startsWith("web") ? 1 : 2);
    return rank(a.machine) - rank(b.machine) || a.machine.localeCompare(b.machine, "en", { numeric: true });
}

/** The facts resources of a state (their reader logs in with the lab's key, a secret revealed), in machine order. */
export function factsResourcesOf(resources: readonly RevealedResource[]): GuestFactsOutputs[] {
    return resources
        .filter((resource) => resource.type === GUEST_FACTS_TYPE)
        .map((resource) => (resource.outputs ?? {}) as unknown as GuestFactsOutputs)
        .sort(machineOrder);
}

function judged(resource: GuestFactsOutputs, observed: Facts | undefined): MachineFacts {
    const facts = observed ? compareFacts(resource.wanted, observed) : [];
    return {
        machine: resource.machine,
        host: resource.host,
        reachable: observed !== undefined,
        facts,
        drifted: facts.filter((fact) => !fact.ok).length,
    };
}

/** What the state says: the facts as the last create, update or refresh read them. */
export function recordedFacts(resources: readonly RevealedResource[]): MachineFacts[] {
    return factsResourcesOf(resources).map((resource) => judged(resource, resource.reachable === false ? undefined : resource.observed));
}

/** What the machines say now: one SSH login each, all at once. */
export async function liveFacts(resources: readonly RevealedResource[]): Promise<MachineFacts[]> {
    return Promise.all(factsResourcesOf(resources).map(async (resource) => judged(resource, await readLive(resource))));
}

/** Every fact of every machine, drifted ones with both values; a line for a machine that did not answer. */
export function factsTable(machines: readonly MachineFacts[], everyFact: boolean): string[] {
    const lines: string[] = [];
    for (const machine of machines) {
        if (!machine.reachable) {
            lines.push(`${machine.machine} (${machine.host}): UNREACHABLE, its facts not read (stopped or rebooting?)`);
            continue;
        }
        lines.push(
            `${machine.machine} (${machine.host}): ${machine.drifted === 0 ? "as wanted" : `${machine.drifted} drifted`}, ${machine.facts.length} facts`,
        );
        for (const fact of machine.facts) {
            if (!fact.ok) {
                lines.push(`  DRIFTED  ${fact.name}: wanted ${fact.wanted}, live ${fact.live}`);
            } else if (everyFact) {
                lines.push(`  ok       ${fact.name} = ${fact.live}`);
            }
        }
    }
    return lines;
}

/** One line for status and refresh: all as wanted, or who drifted. */
export function driftSummary(machines: readonly MachineFacts[]): string {
    const drifted = machines.filter((machine) => machine.reachable && machine.drifted > 0);
    const unreachable = machines.filter((machine) => !machine.reachable);
    const parts: string[] = [];
    if (drifted.length > 0) {
        parts.push(
            `drifted: ${drifted.map((machine) => `${machine.machine} (${machine.drifted})`).join(", ")}; scripts/lab check shows each fact, scripts/lab up puts them back`,
        );
    }
    if (unreachable.length > 0) {
        parts.push(`unreachable: ${unreachable.map((machine) => machine.machine).join(", ")}`);
    }
    return parts.length === 0 ? `facts: every machine as wanted (${machines.length} machine${machines.length === 1 ? "" : "s"})` : `facts: ${parts.join("; ")}`;
}

/** check's exit status: 0 as wanted, 1 drift, 3 a machine not read (and no drift). */
export function checkStatus(machines: readonly MachineFacts[]): number {
    if (machines.some((machine) => machine.drifted > 0)) {
        return 1;
    }
    return machines.some((machine) => !machine.reachable) ? 3 : 0;
}
