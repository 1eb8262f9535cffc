// Property values as the Pulumi engine hands them to a provider built on
// @pulumi/pulumi/provider: plain JSON from a protobuf Struct, in which secrets,
// unknowns and output values are encoded with the SDK's signature constants.
// The provider server accepts secrets (configure returns acceptSecrets=true),
// so providers must look through the wrappers to use values and put them back
// on anything they return.
import { specialOutputValueSig, specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";

export type PropertyValue = null | boolean | number | string | PropertyValue[] | PropertyMap;
export interface PropertyMap {
    [key: string]: PropertyValue;
}

/** A secret as the engine encodes it: `{<sigKey>: <secretSig>, value}`. */
export interface SecretValue extends PropertyMap {
    [specialSigKey]: typeof specialSecretSig;
    value: PropertyValue;
}

export function isObject(v: PropertyValue | undefined): v is PropertyMap {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isSecret(v: PropertyValue | undefined): v is SecretValue {
    return isObject(v) && v[specialSigKey] === specialSecretSig;
}

/** Output values only reach Construct/Call, but decoding them costs nothing and keeps us safe if that changes. */
function isOutputValue(v: PropertyValue | undefined): v is PropertyMap {
    return isObject(v) && v[specialSigKey] === specialOutputValueSig;
}

/** Wraps a value as a secret (never double-wraps). */
export function secret(v: PropertyValue): PropertyValue {
    return isSecret(v) ? v : { [specialSigKey]: specialSecretSig, value: v };
}

export function secretIf(condition: boolean, v: PropertyValue): PropertyValue {
    return condition ? secret(v) : v;
}

/** Removes one level of secret wrapping. */
export function unwrapSecret(v: PropertyValue): PropertyValue {
    if (isSecret(v)) {
        return v.value;
    }
    if (isOutputValue(v)) {
        return v.value === undefined ? unknownValue : v.value;
    }
    return v;
}

/** Removes every secret wrapper, at any depth, leaving the plain value to compute with. */
export function reveal(v: PropertyValue): PropertyValue {
    const top = unwrapSecret(v);
    if (Array.isArray(top)) {
        return top.map(reveal);
    }
    if (isObject(top)) {
        const out: PropertyMap = {};
        for (const [k, e] of Object.entries(top)) {
            out[k] = reveal(e);
        }
        return out;
    }
    return top;
}

/** True if the value is, or contains, a secret. */
export function containsSecret(v: PropertyValue | undefined): boolean {
    if (v === undefined) {
        return false;
    }
    if (isSecret(v) || (isOutputValue(v) && v.secret === true)) {
        return true;
    }
    if (Array.isArray(v)) {
        return v.some(containsSecret);
    }
    if (isObject(v)) {
        return Object.values(v).some(containsSecret);
    }
    return false;
}

/** True if the value is, or contains, a value not known yet (only during previews). */
export function containsUnknown(v: PropertyValue | undefined): boolean {
    if (v === undefined) {
        return false;
    }
    if (v === unknownValue || (isOutputValue(v) && v.value === undefined)) {
        return true;
    }
    if (Array.isArray(v)) {
        return v.some(containsUnknown);
    }
    if (isObject(v)) {
        return Object.values(v).some(containsUnknown);
    }
    return false;
}

/** Applies fn to the value inside a secret and wraps the result again, so secrecy survives the edit. */
export function mapSecret(v: PropertyValue, fn: (inner: PropertyValue) => PropertyValue): PropertyValue {
    return isSecret(v) ? secret(fn(v.value)) : fn(v);
}

/** Structural equality of the revealed values: a value that only became (or stopped being) secret is unchanged. */
export function sameValue(a: PropertyValue | undefined, b: PropertyValue | undefined): boolean {
    return deepEqual(a === undefined ? undefined : reveal(a), b === undefined ? undefined : reveal(b));
}

function deepEqual(a: PropertyValue | undefined, b: PropertyValue | undefined): boolean {
    if (a === b) {
        return true;
    }
    if (Array.isArray(a) || Array.isArray(b)) {
        return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((e, i) => deepEqual(e, b[i]));
    }
    if (isObject(a) && isObject(b)) {
        const ka = Object.keys(a).filter((k) => a[k] !== undefined);
        const kb = Object.keys(b).filter((k) => b[k] !== undefined);
        return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
    }
    return false;
}

/**
 * Structural equality in which secretness counts, as in the engine's own
 * PropertyValue.DeepEquals: a value that became (or stopped being) secret has
 * changed. A member that is null counts as absent.
 */
export function identicalValue(a: PropertyValue | undefined, b: PropertyValue | undefined): boolean {
    const absent = (v: PropertyValue | undefined) => v === undefined || v === null;
    if (absent(a) || absent(b)) {
        return absent(a) && absent(b);
    }
    if (isSecret(a) || isSecret(b)) {
        return isSecret(a) && isSecret(b) && identicalValue(a.value, b.value);
    }
    if (Array.isArray(a) || Array.isArray(b)) {
        return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((e, i) => identicalValue(e, b[i]));
    }
    if (isObject(a) && isObject(b)) {
        const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
        return [...keys].every((k) => identicalValue(a[k], b[k]));
    }
    return a === b;
}

export interface ChangeOptions {
    /** A change of secretness alone is a change (the official `command` provider's diff); otherwise it is not. */
    secretness?: boolean;
}

/**
 * Names of the given keys whose values differ between the old state and the new inputs.
 * An unknown new value counts as a change: the engine must plan for it.
 */
export function changedKeys(olds: PropertyMap, news: PropertyMap, keys: readonly string[], opts: ChangeOptions = {}): string[] {
    const same = opts.secretness ? identicalValue : sameValue;
    return keys.filter((k) => containsUnknown(news[k]) || !same(olds[k], news[k]));
}

/** A copy with every undefined member dropped: protobuf Structs cannot carry undefined. */
export function compact(m: Record<string, PropertyValue | undefined>): PropertyMap {
    const out: PropertyMap = {};
    for (const [k, v] of Object.entries(m)) {
        if (v !== undefined) {
            out[k] = v;
        }
    }
    return out;
}

/** The resource name is the last `::`-separated part of a URN. */
export function nameFromUrn(urn: string): string {
    const parts = urn.split("::");
    return parts[parts.length - 1] ?? "";
}
