// The `random` provider: RandomString, RandomPassword and RandomId. Every
// input forces replacement, as in the official provider, so a value is made
// once on create and then only carried along in the state.
import type * as provider from "@pulumi/pulumi/provider";
import { packageVersion } from "../common/engine";
import { changedKeys, compact, containsUnknown, isObject, PropertyMap, PropertyValue, reveal, secret } from "../common/props";
import { generateId, generateString, StringParams } from "./generate";

export const randomStringType = "random:index/randomString:RandomString";
export const randomPasswordType = "random:index/randomPassword:RandomPassword";
export const randomIdType = "random:index/randomId:RandomId";

const stringInputKeys = [
    "keepers",
    "length",
    "lower",
    "minLower",
    "minNumeric",
    "minSpecial",
    "minUpper",
    "number",
    "numeric",
    "overrideSpecial",
    "special",
    "upper",
] as const;
const idInputKeys = ["byteLength", "keepers", "prefix"] as const;

const classFlags = ["upper", "lower", "numeric", "special"] as const;
const minimums = ["minUpper", "minLower", "minNumeric", "minSpecial"] as const;

type Kind = "string" | "password" | "id";
type Failure = provider.CheckFailure;

function kindOf(urn: string): Kind {
    const type = (urn.split("::")[2] ?? "").split("$").pop();
    switch (type) {
        case randomStringType:
            return "string";
        case randomPasswordType:
            return "password";
        case randomIdType:
            return "id";
        default:
            throw new Error(`this random provider implements ${randomStringType}, ${randomPasswordType} and ${randomIdType}, not ${type}`);
    }
}

/** A revealed input, or undefined when absent or not known yet. */
function knownValue(v: PropertyValue | undefined): PropertyValue | undefined {
    if (v === undefined || v === null || containsUnknown(v)) {
        return undefined;
    }
    return reveal(v);
}

function checkWholeNumber(news: PropertyMap, key: string, min: number, failures: Failure[]): number | undefined {
    const v = knownValue(news[key]);
    if (v === undefined) {
        return undefined;
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
        failures.push({ property: key, reason: `${key} must be a whole number of at least ${min}` });
        return undefined;
    }
    return v;
}

function checkKeepers(news: PropertyMap, failures: Failure[]): void {
    const v = knownValue(news.keepers);
    if (v !== undefined && !isObject(v)) {
        failures.push({ property: "keepers", reason: "keepers must be a map" });
    }
}

function checkStringInputs(news: PropertyMap, failures: Failure[]): PropertyMap {
    const out: Record<string, PropertyValue | undefined> = { ...news };
    for (const flag of ["upper", "lower", "special"]) {
        out[flag] = news[flag] ?? true;
    }
    // `number` is the deprecated spelling of `numeric`; the two always agree in the state.
    const number = news.number;
    const numeric = news.numeric;
    if (
        number !== undefined &&
        numeric !== undefined &&
        knownValue(number) !== undefined &&
        knownValue(numeric) !== undefined &&
        knownValue(number) !== knownValue(numeric)
    ) {
        failures.push({ property: "numeric", reason: "number and numeric must agree (number is deprecated: set only numeric)" });
    }
    out.numeric = numeric ?? number ?? true;
    out.number = number ?? numeric ?? true;
    for (const m of minimums) {
        out[m] = news[m] ?? 0;
    }
    const checked = compact(out);
    for (const flag of [...classFlags, "number"]) {
        const v = knownValue(checked[flag]);
        if (v !== undefined && typeof v !== "boolean") {
            failures.push({ property: flag, reason: `${flag} must be true or false` });
        }
    }
    const length = checkWholeNumber(checked, "length", 1, failures);
    if (news.length === undefined || news.length === null) {
        failures.push({ property: "length", reason: "length is required" });
    }
    const mins = minimums.map((m) => checkWholeNumber(checked, m, 0, failures));
    if (length !== undefined && mins.every((m) => m !== undefined)) {
        const sum = mins.reduce<number>((a, m) => a + (m ?? 0), 0);
        if (length < sum) {
            failures.push({ property: "length", reason: `length (${length}) must be at least minUpper + minLower + minNumeric + minSpecial (${sum})` });
        }
    }
    if (classFlags.every((f) => knownValue(checked[f]) === false)) {
        failures.push({ property: "special", reason: "at least one of upper, lower, numeric and special must be true" });
    }
    const override = knownValue(checked.overrideSpecial);
    if (override !== undefined && typeof override !== "string") {
        failures.push({ property: "overrideSpecial", reason: "overrideSpecial must be a string" });
    }
    checkKeepers(checked, failures);
    return checked;
}

function checkIdInputs(news: PropertyMap, failures: Failure[]): PropertyMap {
    if (news.byteLength === undefined || news.byteLength === null) {
        failures.push({ property: "byteLength", reason: "byteLength is required" });
    }
    checkWholeNumber(news, "byteLength", 1, failures);
    const prefix = knownValue(news.prefix);
    if (prefix !== undefined && typeof prefix !== "string") {
        failures.push({ property: "prefix", reason: "prefix must be a string" });
    }
    checkKeepers(news, failures);
    return news;
}

function num(props: PropertyMap, key: string): number {
    const v = reveal(props[key] ?? null);
    if (typeof v !== "number") {
        throw new Error(`${key} must be a number`);
    }
    return v;
}

function bool(props: PropertyMap, key: string, fallback: boolean): boolean {
    const v = reveal(props[key] ?? null);
    return typeof v === "boolean" ? v : fallback;
}

export function stringParams(props: PropertyMap): StringParams {
    const override = reveal(props.overrideSpecial ?? null);
    return {
        length: num(props, "length"),
        upper: bool(props, "upper", true),
        lower: bool(props, "lower", true),
        numeric: bool(props, "numeric", bool(props, "number", true)),
        special: bool(props, "special", true),
        minUpper: props.minUpper === undefined ? 0 : num(props, "minUpper"),
        minLower: props.minLower === undefined ? 0 : num(props, "minLower"),
        minNumeric: props.minNumeric === undefined ? 0 : num(props, "minNumeric"),
        minSpecial: props.minSpecial === undefined ? 0 : num(props, "minSpecial"),
        overrideSpecial: typeof override === "string" ? override : undefined,
    };
}

/** Keepers that are absent and keepers that are an empty map mean the same: nothing to keep. */
function normalizeKeepers(m: PropertyMap): PropertyMap {
    const k = m.keepers === undefined ? undefined : reveal(m.keepers);
    if (k === null || (isObject(k) && Object.keys(k).length === 0)) {
        const rest = { ...m };
        delete rest.keepers;
        return rest;
    }
    return m;
}

export class RandomProvider implements provider.Provider {
    readonly version: string;

    constructor() {
        this.version = packageVersion("@pulumi/random");
    }

    async check(urn: string, _olds: PropertyMap, news: PropertyMap): Promise<provider.CheckResult> {
        const failures: Failure[] = [];
        const inputs = kindOf(urn) === "id" ? checkIdInputs(news, failures) : checkStringInputs(news, failures);
        return { inputs, failures };
    }

    async diff(_id: string, urn: string, olds: PropertyMap, news: PropertyMap): Promise<provider.DiffResult> {
        const keys = kindOf(urn) === "id" ? idInputKeys : stringInputKeys;
        // Every input forces a new value, keepers included: that is what keepers are for.
        const replaces = changedKeys(normalizeKeepers(olds), normalizeKeepers(news), keys);
        return { changes: replaces.length > 0, replaces };
    }

    async create(urn: string, inputs: PropertyMap): Promise<provider.CreateResult> {
        const kind = kindOf(urn);
        if (kind === "id") {
            const byteLength = num(inputs, "byteLength");
            const prefix = reveal(inputs.prefix ?? null);
            const { id, ...encodings } = generateId(byteLength, typeof prefix === "string" ? prefix : "");
            return { id, outs: { ...inputs, ...encodings } };
        }
        const result = generateString(stringParams(inputs));
        if (kind === "password") {
            // The official provider's ID for passwords is a constant, so the value never shows in a URN or ID.
            return { id: "none", outs: { ...inputs, result: secret(result) } };
        }
        return { id: result, outs: { ...inputs, result } };
    }

    async update(_id: string, urn: string, olds: PropertyMap, news: PropertyMap): Promise<provider.UpdateResult> {
        // Not reached in practice (every change replaces); keep the generated values if it is.
        const computed = kindOf(urn) === "id" ? ["b64Std", "b64Url", "dec", "hex"] : ["result"];
        const outs: PropertyMap = { ...news };
        for (const k of computed) {
            if (olds[k] !== undefined) {
                outs[k] = olds[k];
            }
        }
        return { outs };
    }

    async delete(): Promise<void> {
        // Nothing exists outside the state.
    }

    async read(id: string, _urn: string, props?: PropertyMap): Promise<provider.ReadResult> {
        return { id, props };
    }
}
