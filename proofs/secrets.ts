// No secret of the lab in reach of a guest user: on every machine, as
// `nobody`, the lab's secrets (the console password and each machine's hash
// of it, the VRRP password, the operator's private key) are looked for where
// any user reads: /proc/cmdline, the kernel log, the journal, every
// process's command line, the usual file trees (proofs/secrets-search.sh).
// The machine's own name is looked for the same way and must be found: a
// search that finds nothing proves nothing.
import * as fs from "fs";
import * as path from "path";
import { bashLiteral } from "../components/guestConfig";
import { runCommand } from "../components/libvirt";
import { openStack, PROJECT_ROOT, revealedResources } from "../scripts/automation";
import type { RevealedResource } from "../scripts/drift";
import { LabMachine, topologyFromOutputs } from "../scripts/tools/topology";
import { commandLineOrExit, errorText, labOutputs, runMain, SshAccess, sshArgs } from "./kit";

const SEARCH_SCRIPT = path.join(PROJECT_ROOT, "proofs", "secrets-search.sh");

/** The secrets the state holds: generated passwords, and every SHA-512 crypt hash handed to a guest. */
export function stateSecrets(resources: readonly RevealedResource[]): string[] {
    const secrets = new Set<string>();
    for (const resource of resources) {
        const outputs = resource.outputs ?? {};
        if (resource.type === "random:index/randomPassword:RandomPassword" && typeof outputs.result === "string") {
            secrets.add(outputs.result);
        }
        // The hashes, wherever they travel (a domain's fw_cfg, a NoCloud seed's user-data).
        for (const hash of JSON.stringify(outputs).match(/\$6\$[./0-9A-Za-z=$]+/g) ?? []) {
            secrets.add(hash);
        }
    }
    return [...secrets].filter((secret) => secret.length >= 8);
}

/** The private key's longest base64 line: a part of it no other file holds by chance. */
export function privateKeyNeedle(keyText: string): string | undefined {
    const lines = keyText
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => /^[A-Za-z0-9+/=]{40,}$/.test(line));
    return lines.sort((a, b) => b.length - a.length)[0];
}

/** The guest script: the canary and secrets as read-only variables, then proofs/secrets-search.sh. */
export function renderSearch(canary: string, secrets: readonly string[]): string {
    return [
        "#!/bin/bash",
        `readonly CANARY=${bashLiteral(canary)}`,
        "# shellcheck disable=SC2016 # literal values: a hash holds $",
        `readonly SECRETS=(${secrets.map(bashLiteral).join(" ")})`,
        fs.readFileSync(SEARCH_SCRIPT, "utf8"),
    ].join("\n");
}

/** What one machine's search printed, judged: the canary seen, no secret anywhere. */
export function searchProblems(machine: string, printed: string): string[] {
    const lines = printed.split("\n").filter((line) => line !== "");
    const leaks = lines.filter((line) => line.startsWith("secret ")).map((line) => line.slice("secret ".length));
    return [
        ...(lines.some((line) => line.startsWith("canary "))
            ? []
            : [`${machine}: the search did not find the machine's own name either, so it proves nothing`]),
        ...leaks.map((place) => `${machine}: a secret of the lab is readable by a guest user in ${place}`),
    ];
}

/** Searches every machine at once; the problems found. */
export async function secretsCheck(
    machines: readonly Pick<LabMachine, "name" | "sshAddress">[],
    access: SshAccess,
    secrets: readonly string[],
): Promise<string[]> {
    const results = await Promise.all(
        machines.map(async (machine) => {
            const run = await runCommand("ssh", sshArgs(access, machine.sshAddress, "sudo -n -u nobody bash -s", 30), {
                input: renderSearch(machine.name, secrets),
                timeoutMs: 180_000,
            });
            if (run.code !== 0) {
                return [`${machine.name}: the search did not run (exit ${run.code}): ${run.stderr.trim().slice(0, 300)}`];
            }
            const problems = searchProblems(machine.name, run.stdout);
            console.log(`secrets: ${machine.name}: ${problems.length === 0 ? "no secret readable by a guest user" : `${problems.length} problem(s)`}`);
            return problems;
        }),
    );
    return results.flat();
}

const USAGE = `usage: node bin/proofs/secrets.js [--stack NAME]

On every machine of the running lab, as the unprivileged user nobody, looks
for the lab's secrets where any guest user reads; exit 1 if one is found.`;

async function main(argv: string[]): Promise<number> {
    const line = commandLineOrExit(argv, {}, USAGE);
    if (typeof line === "number") {
        return line;
    }
    const stack = await openStack(line.stack);
    const out = await labOutputs(stack);
    if (!out.directors) {
        console.error(`stack ${line.stack} has no outputs: is the lab up? (scripts/lab up --stack ${line.stack})`);
        return 2;
    }
    const secrets = stateSecrets(await revealedResources(stack));
    const keyNeedle = privateKeyNeedle(fs.readFileSync(out.ssh.privateKeyPath, "utf8"));
    if (keyNeedle !== undefined) {
        secrets.push(keyNeedle);
    }
    if (secrets.length === 0) {
        console.error("secrets: the state holds no secret to look for (no console password?)");
        return 1;
    }
    const { machines } = topologyFromOutputs(out, line.stack);
    console.log(`secrets: looking for ${secrets.length} secrets on ${machines.length} machines, as nobody`);
    let problems: string[];
    try {
        problems = await secretsCheck(machines, out.ssh, secrets);
    } catch (error) {
        problems = [errorText(error)];
    }
    for (const problem of problems) {
        console.error(`secrets: FAIL: ${problem}`);
    }
    console.log(problems.length === 0 ? "secrets: PASS" : "secrets: FAIL");
    return problems.length === 0 ? 0 : 1;
}

runMain("secrets", module, () => main(process.argv.slice(2)));
