// SHA-512 crypt ("$6$", glibc's crypt(3) and Debian's chpasswd), so the lab
// hands its guests a password hash instead of the password: a guest sets it
// with `chpasswd -e` (direct boot) or cloud-init's `type: hash`, and spends no
// emulated second hashing. The algorithm is Ulrich Drepper's "Unix crypt
// using SHA-256 and SHA-512" specification.
import * as crypto from "crypto";

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** The specification's default; a hash with it does not spell out its rounds. */
const DEFAULT_ROUNDS = 5000;
const MAX_SALT_LENGTH = 16;

function sha512(...parts: Buffer[]): Buffer {
    const hash = crypto.createHash("sha512");
    for (const part of parts) {
        hash.update(part);
    }
    return hash.digest();
}

/** `length` bytes of `block` repeated. */
function repeated(block: Buffer, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let at = 0; at < length; at += block.length) {
        block.copy(out, at, 0, Math.min(block.length, length - at));
    }
    return out;
}

/** The digest's bytes in the specification's order, six bits a character. */
function encode(digest: Buffer): string {
    const groups: [number, number, number][] = [];
    for (let i = 0; i < 21; i++) {
        // Each group takes one byte from each third of the first 63, rotating which third leads.
        const [a, b, c] = [i, i + 21, i + 42];
        groups.push(i % 3 === 0 ? [a, b, c] : i % 3 === 1 ? [b, c, a] : [c, a, b]);
    }
    let out = "";
    const chars = (value: number, count: number): void => {
        for (let n = 0; n < count; n++) {
            out += ITOA64[value & 0x3f];
            value >>= 6;
        }
    };
    for (const [high, middle, low] of groups) {
        chars((digest[high] << 16) | (digest[middle] << 8) | digest[low], 4);
    }
    chars(digest[63], 2);
    return out;
}

/** The "$6$SALT$HASH" of `password`; the salt is at most 16 characters of [./0-9A-Za-z]. */
export function sha512Crypt(password: string, salt: string, rounds: number = DEFAULT_ROUNDS): string {
    if (!/^[./0-9A-Za-z]{1,16}$/.test(salt)) {
        throw new Error(`a SHA-512 crypt salt is 1 to ${MAX_SALT_LENGTH} characters of ./0-9A-Za-z, not ${JSON.stringify(salt)}`);
    }
    if (!Number.isInteger(rounds) || rounds < 1000 || rounds > 999_999_999) {
        throw new Error(`SHA-512 crypt rounds are 1000 to 999999999, not ${rounds}`);
    }
    const key = Buffer.from(password, "utf8");
    const saltBytes = Buffer.from(salt, "ascii");
    const alternate = sha512(key, saltBytes, key);
    const first: Buffer[] = [key, saltBytes, repeated(alternate, key.length)];
    for (let bits = key.length; bits > 0; bits >>= 1) {
        first.push(bits & 1 ? alternate : key);
    }
    let digest = sha512(...first);
    const keySequence = repeated(sha512(...Array<Buffer>(key.length).fill(key)), key.length);
    const saltSequence = repeated(sha512(...Array<Buffer>(16 + digest[0]).fill(saltBytes)), saltBytes.length);
    for (let round = 0; round < rounds; round++) {
        const parts: Buffer[] = [round % 2 === 1 ? keySequence : digest];
        if (round % 3 !== 0) {
            parts.push(saltSequence);
        }
        if (round % 7 !== 0) {
            parts.push(keySequence);
        }
        parts.push(round % 2 === 1 ? digest : keySequence);
        digest = sha512(...parts);
    }
    const roundsWord = rounds === DEFAULT_ROUNDS ? "" : `rounds=${rounds}$`;
    return `$6$${roundsWord}${salt}$${encode(digest)}`;
}

/** Whether `text` is a whole SHA-512 crypt hash as sha512Crypt makes them ("$6$[rounds=N$]SALT$HASH"). */
export function isSha512CryptHash(text: string): boolean {
    return /^\$6\$(rounds=[0-9]+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/.test(text);
}

/** A salt that is no secret and the same for the same words: 16 characters from their SHA-256. */
export function saltFor(...words: string[]): string {
    const digest = crypto.createHash("sha256").update(words.join("\0")).digest();
    let salt = "";
    for (let i = 0; i < MAX_SALT_LENGTH; i++) {
        salt += ITOA64[digest[i] & 0x3f];
    }
    return salt;
}
