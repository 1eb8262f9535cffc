// Value generation for the random provider, following the official provider
// (terraform-provider-random underneath): minimum counts are drawn from their
// character class first, the rest from every enabled class, then the whole is
// shuffled. All randomness comes from node:crypto.
import { randomBytes, randomInt } from "node:crypto";

export const upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
export const lowerChars = "abcdefghijklmnopqrstuvwxyz";
export const numericChars = "0123456789";
/** The official provider's special characters when overrideSpecial is not set. */
export const defaultSpecialChars = "!@#$%&*()-_=+[]{}<>:?";

export interface StringParams {
    length: number;
    upper: boolean;
    minUpper: number;
    lower: boolean;
    minLower: number;
    numeric: boolean;
    minNumeric: number;
    special: boolean;
    minSpecial: number;
    /** Replaces the special characters when non-empty. */
    overrideSpecial?: string;
}

export function specialChars(p: Pick<StringParams, "overrideSpecial">): string {
    return p.overrideSpecial ? p.overrideSpecial : defaultSpecialChars;
}

/** The characters the non-minimum part of the result is drawn from. */
export function allowedChars(p: StringParams): string {
    return (p.upper ? upperChars : "") + (p.lower ? lowerChars : "") + (p.numeric ? numericChars : "") + (p.special ? specialChars(p) : "");
}

function pick(set: string[], count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
        out.push(set[randomInt(set.length)]);
    }
    return out;
}

/**
 * A random string as the official RandomString/RandomPassword make it. Like the
 * official provider, a minimum count draws from its class even when that class
 * is otherwise disabled.
 */
export function generateString(p: StringParams): string {
    const all = Array.from(allowedChars(p));
    if (all.length === 0) {
        throw new Error("the character set is empty: enable at least one of upper, lower, numeric and special");
    }
    const chars = [
        ...pick(Array.from(upperChars), p.minUpper),
        ...pick(Array.from(lowerChars), p.minLower),
        ...pick(Array.from(numericChars), p.minNumeric),
        ...pick(Array.from(specialChars(p)), p.minSpecial),
    ];
    chars.push(...pick(all, Math.max(0, p.length - chars.length)));
    // Fisher-Yates, so the minimum characters do not sit at the front.
    for (let i = chars.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [chars[i], chars[j]] = [chars[j], chars[i]];
    }
    return chars.join("");
}

export interface IdEncodings {
    /** base64url without padding and without prefix: the resource ID. */
    id: string;
    b64Url: string;
    b64Std: string;
    hex: string;
    dec: string;
}

/** The encodings of RandomId: each output is the prefix followed by the bytes in that encoding. */
export function encodeId(bytes: Buffer, prefix = ""): IdEncodings {
    const id = bytes.toString("base64url");
    return {
        id,
        b64Url: prefix + id,
        b64Std: prefix + bytes.toString("base64"),
        hex: prefix + bytes.toString("hex"),
        dec: prefix + BigInt("0x" + bytes.toString("hex")).toString(10),
    };
}

export function generateId(byteLength: number, prefix = ""): IdEncodings {
    return encodeId(randomBytes(byteLength), prefix);
}
