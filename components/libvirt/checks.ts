// Pure input checks and diff helpers shared by the libvirt providers.

import { isIPv4 } from "net";

/**
 * The value the Pulumi engine puts in place of an input that is not known
 * yet (during preview). Checks skip it; diffs treat it as a change.
 */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** A check failure, shaped as Pulumi's CheckFailure. */
export interface Failure {
    property: string;
    reason: string;
}

/** The Pulumi engine's check answer, shaped as Pulumi's CheckResult. */
export interface CheckAnswer<T> {
    inputs: T;
    failures: Failure[];
}

/** The diff answer, shaped as Pulumi's DiffResult. */
export interface DiffAnswer {
    changes: boolean;
    replaces: string[];
    deleteBeforeReplace: boolean;
}

/** The read answer, shaped as Pulumi's ReadResult: id "" and no props when the object is gone. */
export interface ReadAnswer<T> {
    id: string;
    props?: T;
}

export function isUnknown(value: unknown): boolean {
    return value === UNKNOWN;
}

// The check* functions below add to a failure list; each passes unknown
// values (preview) and, where optional, undefined. Plain functions, not a
// class: they are serialized with the providers.

/** A non-empty string with no control characters that virsh will not take for an option. */
export function checkName(failures: Failure[], property: string, value: unknown): void {
    if (isUnknown(value)) {
        return;
    }
    if (typeof value !== "string" || value.length === 0) {
        failures.push({ property, reason: `${property} must be a non-empty string` });
    } else if (value.startsWith("-")) {
        failures.push({ property, reason: `${property} "${value}" must not start with "-" (virsh would read it as an option)` });
    } else if (value.includes("/")) {
        failures.push({ property, reason: `${property} "${value}" must not contain "/"` });
    } else if (/[\s\p{Cc}]/u.test(value)) {
        failures.push({ property, reason: `${property} "${value}" must not contain white space or control characters` });
    }
}

export function checkString(failures: Failure[], property: string, value: unknown, optional = false): void {
    if (isUnknown(value) || (optional && value === undefined)) {
        return;
    }
    if (typeof value !== "string") {
        failures.push({ property, reason: `${property} must be a string` });
    }
}

export function checkAbsolutePath(failures: Failure[], property: string, value: unknown, optional = false): void {
    if (isUnknown(value) || (optional && value === undefined)) {
        return;
    }
    if (typeof value !== "string" || !value.startsWith("/")) {
        failures.push({ property, reason: `${property} must be an absolute path (got ${JSON.stringify(value)})` });
    }
}

export function checkInteger(
    failures: Failure[],
    property: string,
    value: unknown,
    min: number,
    max: number,
    optional = false,
): void {
    if (isUnknown(value) || (optional && value === undefined)) {
        return;
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        failures.push({
            property,
            reason: `${property} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`,
        });
    }
}

export function checkOneOf(failures: Failure[], property: string, value: unknown, allowed: readonly string[]): void {
    if (isUnknown(value)) {
        return;
    }
    if (typeof value !== "string" || !allowed.includes(value)) {
        failures.push({
            property,
            reason: `${property} must be one of ${allowed.map((a) => `"${a}"`).join(", ")} (got ${JSON.stringify(value)})`,
        });
    }
}

/** Linux interface names: at most 15 bytes, no "/", ":" or white space. */
export function bridgeNameProblem(value: string): string | undefined {
    if (value.length === 0 || Buffer.byteLength(value) > 15) {
        return `bridge name "${value}" must be 1 to 15 characters (a Linux interface name)`;
    }
    if (/[/:\s]/.test(value) || value === "." || value === "..") {
        return `bridge name "${value}" must not contain "/", ":" or white space`;
    }
    return undefined;
}

/** Returns a problem with hostAddress/prefixLength as a host on a subnet, if any. */
export function hostAddressProblem(address: string, prefixLength: number): string | undefined {
    if (!isIPv4(address)) {
        return `hostAddress "${address}" is not an IPv4 address`;
    }
    if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 30) {
        return `prefixLength must be a whole number from 1 to 30 (got ${prefixLength})`;
    }
    const n = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
    const hostBits = 32 - prefixLength;
    const host = n % 2 ** hostBits;
    if (host === 0 || host === 2 ** hostBits - 1) {
        return `hostAddress ${address} is the network or broadcast address of ${address}/${prefixLength}; use a host address such as the .1`;
    }
    return undefined;
}

/** Lower-cases a MAC; returns undefined if it is not a unicast MAC. */
export function normalizeMac(mac: string): string | undefined {
    const m = mac.trim().toLowerCase();
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m)) {
        return undefined;
    }
    // The least significant bit of the first octet marks a multicast address.
    return parseInt(m.slice(0, 2), 16) & 1 ? undefined : m;
}

/** Canonical JSON (sorted keys) for comparing plain input values. */
export function canonical(value: unknown): string {
    if (Array.isArray(value)) {
        return `[${value.map(canonical).join(",")}]`;
    }
    if (value !== null && typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
    }
    return value === undefined ? "null" : JSON.stringify(value);
}

/** The keys whose values differ between olds and news (an unknown new value always differs). */
export function changedKeys(
    olds: Readonly<Record<string, unknown>>,
    news: Readonly<Record<string, unknown>>,
    keys: readonly string[],
): string[] {
    return keys.filter((k) => isUnknown(news[k]) || canonical(olds[k]) !== canonical(news[k]));
}

/**
 * A diff where every changed input replaces the object. deleteBeforeReplace
 * when the replacement would clash with the old object (e.g. same name).
 */
export function replacingDiff(
    olds: Readonly<Record<string, unknown>>,
    news: Readonly<Record<string, unknown>>,
    keys: readonly string[],
    clashes: (olds: Readonly<Record<string, unknown>>, news: Readonly<Record<string, unknown>>) => boolean,
): DiffAnswer {
    const replaces = changedKeys(olds, news, keys);
    return {
        changes: replaces.length > 0,
        replaces,
        deleteBeforeReplace: replaces.length > 0 && clashes(olds, news),
    };
}

/** True when every listed key holds the same known value in both. */
export function sameKnown(
    olds: Readonly<Record<string, unknown>>,
    news: Readonly<Record<string, unknown>>,
    keys: readonly string[],
): boolean {
    return keys.every((k) => !isUnknown(news[k]) && canonical(olds[k]) === canonical(news[k]));
}
