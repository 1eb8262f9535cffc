// A stack as the proofs read it: its outputs (the program's own type), the
// steps an operation took and what an in-place change may touch, the names
// in its state, and where its libvirt objects live even when `up` failed
// before it had outputs.
import { GUEST_FACTS_TYPE } from "../../components/facts";
import * as auto from "@pulumi/pulumi/automation";
import type { LabOutputValues } from "../../components/program";
import { OperationResult, plainOutputs, resourcesOf } from "../../scripts/automation";

/**
 * The stack's outputs as plain values. A stack that was never up has none:
 * every field is then missing, which callers check (`!outputs.vipUrl`).
 */
export async function labOutputs(stack: auto.Stack): Promise<LabOutputValues> {
    return (await plainOutputs(stack)) as unknown as LabOutputValues;
}

/** The path of the export on the NFS store, from the `nfsExport` output ("192.168.7.250:/opt/wwwroot"). */
export function exportPathOf(nfsExport: string): string {
    const colon = nfsExport.indexOf(":");
    const exportPath = nfsExport.slice(colon + 1);
    if (colon < 1 || !exportPath.startsWith("/")) {
        throw new Error(`nfsExport "${nfsExport}" is not address:/path`);
    }
    return exportPath;
}

/** A resource's name: the last part of its URN. */
export function resourceNameOf(urn: string): string {
    return urn.split("::").pop() ?? urn;
}

/** The names (last URN part) of the resources in the stack's state. */
export async function resourceNames(stack: auto.Stack): Promise<string[]> {
    return resourcesOf(await stack.exportStack()).map((r) => resourceNameOf(r.urn));
}

/** A resource step other than `same`: what it did, its type and its name. */
export interface ChangedStep {
    op: string;
    type: string;
    name: string;
}

/**
 * Resource steps that changed something: not `same`, and not the `refresh`
 * step an up that refreshes first takes for every resource (what the refresh
 * found shows in the steps after it).
 */
export function changedSteps(result: Pick<OperationResult, "steps">): ChangedStep[] {
    return result.steps
        .filter((step) => step.op !== "same" && step.op !== "refresh")
        .map((step) => ({ op: step.op, type: step.type, name: resourceNameOf(step.urn) }));
}

/**
 * What an in-place change may touch: create or delete the resources of
 * `ownedBy` (a server being added or removed), update the `updatable` steps
 * in place; every step in `required` must have been updated. Anything else
 * (a replace, or a change to another machine) is a problem.
 */
export function inPlaceProblems(result: Pick<OperationResult, "steps">, allowed: { ownedBy?: string; updatable: string[]; required: string[] }): string[] {
    const problems: string[] = [];
    const changed = changedSteps(result);
    for (const step of changed) {
        const owned = allowed.ownedBy !== undefined && (step.name === allowed.ownedBy || step.name.startsWith(`${allowed.ownedBy}-`));
        if ((step.op === "create" || step.op === "delete") && owned) {
            continue;
        }
        if (step.op === "update" && allowed.updatable.includes(step.name)) {
            continue;
        }
        // Dynamic providers are configured with the whole stack config, so
        // their provider shows as updated when any setting changes; it is no
        // machine and nothing is replaced by it.
        if (step.op === "update" && step.type.startsWith("pulumi:providers:")) {
            continue;
        }
        // A machine's facts are read again whenever what the lab wants of it
        // changed: no machine, nothing on a guest changed by it.
        if (step.op === "update" && step.type === GUEST_FACTS_TYPE) {
            continue;
        }
        problems.push(`unexpected ${step.op} of ${step.type} ${step.name}`);
    }
    for (const name of allowed.required) {
        if (!changed.some((step) => step.op === "update" && step.name === name)) {
            problems.push(`${name} was not updated`);
        }
    }
    return problems;
}

/** Scaling: the one server's own resources come or go, every director's table is updated in place. */
export function scalingProblems(result: Pick<OperationResult, "steps">, serverName: string, directorNames: string[]): string[] {
    const tables = directorNames.map((name) => `${name}-lb`);
    return inPlaceProblems(result, { ownedBy: serverName, updatable: tables, required: tables });
}

/** Where the stack's libvirt objects live and how their names start. */
export type LibvirtTarget = Pick<LabOutputValues["libvirt"], "uri" | "pool" | "prefix">;

/**
 * The libvirt name prefix recorded in an exported stack state, for when `up`
 * failed before the stack had outputs: the foundation component's
 * `libvirtPrefix` output, else `namePrefix`-the random suffix (the
 * component records its outputs only once all of them resolved).
 * Undefined if neither is there: nothing of the stack was named yet.
 */
export function prefixFromDeployment(deployment: unknown, namePrefix: string): string | undefined {
    const resources = (deployment as { resources?: unknown } | undefined)?.resources;
    if (!Array.isArray(resources)) {
        return undefined;
    }
    const list = resources as { urn?: string; type?: string; outputs?: Record<string, unknown> }[];
    for (const resource of list) {
        const prefix = resource?.outputs?.libvirtPrefix;
        if (typeof prefix === "string" && prefix !== "") {
            return prefix;
        }
    }
    for (const resource of list) {
        const suffix = resource?.outputs?.result;
        if (
            resource?.type === "random:index/randomString:RandomString" &&
            (resource.urn ?? "").endsWith("-suffix") &&
            typeof suffix === "string" &&
            suffix !== ""
        ) {
            return `${namePrefix}-${suffix}`;
        }
    }
    return undefined;
}

/** The stack's libvirt target: from its outputs, else from its state and config; undefined if nothing of it was ever named. */
export async function libvirtTargetOf(stack: auto.Stack): Promise<LibvirtTarget | undefined> {
    const outputs = (await plainOutputs(stack).catch(() => ({}))) as Partial<Pick<LabOutputValues, "libvirt">>;
    if (outputs.libvirt?.prefix) {
        return outputs.libvirt;
    }
    const config = async (key: string, fallback: string): Promise<string> =>
        (await stack.getConfig(`lvs-dr-lab:${key}`).catch(() => ({ value: fallback }))).value;
    const state = await stack.exportStack().catch(() => undefined);
    const prefix = prefixFromDeployment(state?.deployment, await config("namePrefix", "lvslab"));
    if (prefix === undefined) {
        return undefined;
    }
    return { uri: await config("libvirtUri", "qemu:///system"), pool: await config("storagePool", "default"), prefix };
}
