// The guest-side reader, rendered and run in bash with a fake ipvsadm, and
// the facts resource's own decisions: when a refresh's reading is a change,
// and what an unreachable machine reads as.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { FACTS_COMMAND, guestFactsProvider, GuestFactsOutputs, NO_READER_PARAMS, parseFacts, renderFactsReader } from "../../../components/facts";
import { makeTempDir, runTool, SHELLCHECK_HINT } from "../../helpers/tools";

const IPVSADM_LN = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  172.16.16.172:80 rr
  -> 172.16.16.177:80             Route   1      0          0
  -> 172.16.16.178:80             Route   0      2          5
TCP  172.16.16.172:8080 wrr persistent 300
  -> 192.168.7.177:8080           Masq    3      0          0
`;

/** Runs the rendered director reader with a fake ipvsadm that prints `table`. */
function readDirector(table: string, fails = false): Record<string, string> {
    const tmp = makeTempDir("facts-reader");
    try {
        const bin = path.join(tmp.dir, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(tmp.dir, "table"), table);
        fs.writeFileSync(path.join(bin, "ipvsadm"), `#!/bin/sh\ncat '${path.join(tmp.dir, "table")}'\nexit ${fails ? 2 : 0}\n`, { mode: 0o755 });
        const script = path.join(tmp.dir, "reader.sh");
        fs.writeFileSync(script, renderFactsReader({ ...NO_READER_PARAMS, ROLE: "director", NICS: "lo", VIP: "172.16.16.172", PORTS: "80" }));
        const run = runTool("bash", [script], "apt-get install bash", { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` } });
        assert.equal(run.status, 0, run.stderr);
        return parseFacts(run.stdout);
    } finally {
        tmp.cleanup();
    }
}

describe("the facts reader (cloud-init/facts.sh)", () => {
    it("reads every virtual service with its scheduler and persistence, and every real server with its method and weight", () => {
        const facts = readDirector(IPVSADM_LN);
        const ipvs = Object.fromEntries(Object.entries(facts).filter(([name]) => name.startsWith("ipvs TCP")));
        assert.deepEqual(ipvs, {
            "ipvs TCP 172.16.16.172:80": "rr",
            "ipvs TCP 172.16.16.172:80 -> 172.16.16.177:80": "Route weight 1",
            "ipvs TCP 172.16.16.172:80 -> 172.16.16.178:80": "Route weight 0",
            "ipvs TCP 172.16.16.172:8080": "wrr persistent 300",
            "ipvs TCP 172.16.16.172:8080 -> 192.168.7.177:8080": "Masq weight 3",
        });
        assert.ok("send_redirects lo" in facts && "ip_forward" in facts, "the kernel settings are read too");
    });

    it("says the table could not be read rather than reading it as empty", () => {
        const facts = readDirector("Can't initialize ipvs: Protocol not available\n", true);
        assert.match(facts["ipvs table"], /^unreadable: Can't initialize ipvs/);
    });

    it("passes shellcheck as rendered, values with quotes and dollars included", () => {
        const tmp = makeTempDir("facts-shellcheck");
        try {
            const script = path.join(tmp.dir, "reader.sh");
            fs.writeFileSync(
                script,
                renderFactsReader({ ...NO_READER_PARAMS, ROLE: "real-server", PAGE_CONTENT: `it's $HOME \`x\``, EXPORT_PATH: "/srv/a b" }),
            );
            const run = runTool("shellcheck", ["-s", "bash", script], SHELLCHECK_HINT);
            assert.equal(run.status, 0, run.stdout + run.stderr);
        } finally {
            tmp.cleanup();
        }
    });

    it("runs as root from its standard input", () => {
        assert.equal(FACTS_COMMAND, "sudo bash -s");
    });
});

const STATE: GuestFactsOutputs = {
    machine: "web3",
    host: "127.0.0.1",
    user: "lab",
    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n",
    reader: "true",
    wanted: { "arp_ignore all": "1" },
    steps: [{ name: "web3-forwarding", apply: "apply", remove: "remove" }],
    stepsStdin: "",
    observed: { "arp_ignore all": "1" },
    reachable: true,
};

describe("the facts resource", () => {
    const diff = guestFactsProvider.diff as NonNullable<typeof guestFactsProvider.diff>;

    it("is no change on a machine as wanted, a change when a refresh found it drifted", async () => {
        assert.equal((await diff("web3-facts", STATE, STATE)).changes, false);
        const drifted = { ...STATE, observed: { "arp_ignore all": "0" } };
        assert.equal((await diff("web3-facts", drifted, STATE)).changes, true);
    });

    it("takes an unreachable machine for unreachable, not for drift, and has up wait for it (a change)", async () => {
        const unreachable = { ...STATE, observed: { "arp_ignore all": "0" }, reachable: false };
        assert.equal((await diff("web3-facts", unreachable, STATE)).changes, true);
        assert.equal((await diff("web3-facts", STATE, STATE)).changes, false);
    });

    it("is a change when what the lab wants or the steps changed", async () => {
        assert.equal((await diff("web3-facts", STATE, { ...STATE, wanted: { "arp_ignore all": "0" } })).changes, true);
        assert.equal((await diff("web3-facts", STATE, { ...STATE, steps: [{ name: "web3-forwarding", apply: "apply2", remove: "remove" }] })).changes, true);
    });

    it("tries a failed login once more before it calls a machine unreachable: a slow sshd is not a stopped machine", async () => {
        const tmp = makeTempDir("facts-retry");
        const savedPath = process.env.PATH;
        try {
            // A fake ssh: the first login fails as ssh does (255), the next one reads.
            const count = path.join(tmp.dir, "logins");
            fs.writeFileSync(
                path.join(tmp.dir, "ssh"),
                `#!/bin/sh\ncat >/dev/null\necho x >> '${count}'\n[ "$(wc -l < '${count}')" -gt 1 ] || exit 255\nprintf 'arp_ignore all\\t1\\n'\n`,
                { mode: 0o755 },
            );
            process.env.PATH = `${tmp.dir}:${savedPath ?? ""}`;
            const read = guestFactsProvider.read as NonNullable<typeof guestFactsProvider.read>;
            const result = await read("web3-facts", { ...STATE, observed: {} });
            assert.equal(result.props?.reachable, true);
            assert.deepEqual(result.props?.observed, { "arp_ignore all": "1" });
            assert.equal(fs.readFileSync(count, "utf8").split("\n").filter(Boolean).length, 2, "two logins");
        } finally {
            process.env.PATH = savedPath;
            tmp.cleanup();
        }
    });

    it("reads a machine that does not let it in as unreachable, keeping its last facts (the loopback, with no key it takes)", async () => {
        const read = guestFactsProvider.read as NonNullable<typeof guestFactsProvider.read>;
        // ssh exits 255 whether nothing listens here or the key is refused.
        const result = await read("web3-facts", STATE);
        assert.equal(result.props?.reachable, false);
        assert.deepEqual(result.props?.observed, STATE.observed);
    });
});
