import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSha512CryptHash, saltFor, sha512Crypt } from "../../components/sha512Crypt";

// Expected values: glibc's crypt(3) on this project's build host (Python's
// crypt.crypt and `openssl passwd -6` agree), the first from the
// specification's own examples.
describe("sha512Crypt", () => {
    it("gives glibc's hash for the default rounds, which the hash does not spell out", () => {
        assert.equal(
            sha512Crypt("Hello world!", "saltstring"),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        );
        assert.equal(sha512Crypt("abc", "ab"), "$6$ab$RdcSJ6.cmoJsCkxRzmR96c5j3/AINL7TbD4dJKzhBzBMKc7U8t3.2jf5vUMxSJ79Nnrd6P40M2J6epfXFJV2b0");
        assert.equal(sha512Crypt("", "x"), "$6$x$QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0");
    });

    it("gives glibc's hash for other rounds and a 16-character salt, a password longer than a digest", () => {
        assert.equal(
            sha512Crypt("Hello world!", "saltstringsaltst", 10000),
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
        );
        assert.equal(
            sha512Crypt("a very much longer text to encrypt.  This one even stretches over morethan one line.", "ab12345678901234", 1400),
            "$6$rounds=1400$ab12345678901234$s6pZdQ4424LbowP9epKn72XNmr91Pj.K252NYeX/d43Ku8jo2HN5CHj/fv8Sn33zWovf/D0q.IRqc0APhJn/X.",
        );
    });

    it("refuses a salt crypt would cut or misread, and rounds out of range", () => {
        assert.throws(() => sha512Crypt("pw", "saltstringsaltstr"), /1 to 16 characters/);
        assert.throws(() => sha512Crypt("pw", "salt$"), /1 to 16 characters/);
        assert.throws(() => sha512Crypt("pw", ""), /1 to 16 characters/);
        assert.throws(() => sha512Crypt("pw", "salt", 999), /rounds are 1000/);
    });
});

describe("isSha512CryptHash", () => {
    it("takes what sha512Crypt makes, with or without rounds, and nothing else", () => {
        assert.equal(isSha512CryptHash(sha512Crypt("pw", "salt")), true);
        assert.equal(isSha512CryptHash(sha512Crypt("pw", "saltstringsaltst", 10000)), true);
        assert.equal(isSha512CryptHash("pw"), false);
        assert.equal(isSha512CryptHash(`${sha512Crypt("pw", "salt")}\nmore`), false);
        assert.equal(isSha512CryptHash(sha512Crypt("pw", "salt").slice(0, -1)), false);
        assert.equal(isSha512CryptHash("$5$salt$" + "a".repeat(43)), false);
    });
});

describe("saltFor", () => {
    it("is 16 salt characters, the same for the same words and another for others", () => {
        const salt = saltFor("lvs-dr-lab console", "lvslab-dev-web1");
        assert.match(salt, /^[./0-9A-Za-z]{16}$/);
        assert.equal(saltFor("lvs-dr-lab console", "lvslab-dev-web1"), salt);
        assert.notEqual(saltFor("lvs-dr-lab console", "lvslab-dev-web2"), salt);
        assert.notEqual(saltFor("lvs-dr-lab console", "lvslab-dev-", "web1"), salt);
    });
});
