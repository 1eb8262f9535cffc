// Runs `scripts/lab impair` (impair.ts has the pure parts) inside the lab
// host: tc on the tap, nft for drops, and tc in the guest over SSH where the
// host's kernel has no netem. A new impairment replaces the one before in
// every place, so what --show prints is all there is. The tap is on the host
// the machine runs on: tc and nft run there, through its libvirt URI (here
// for this host, over ssh for another host of a spread lab); the guest is
// reached over SSH from here, as always.
import { alreadyClear, clearArgs, dropInListing, dropTable, guestTcCommand, Impairment, isUnknownQdisc, netemInShow, planImpairment, showArgs } from "./impair";
import { hostOfMachine, OnHost, onWords, REAL_IO, runCheckedThere, runThere, ToolIo } from "./hostRun";
import { sshArgs } from "./live";
import { LabMachine, LabTopology, MachineNic } from "./topology";

export interface Link {
    topology: LabTopology;
    machine: LabMachine;
    nic: MachineNic;
    /** The tap on the host's side (on the machine's own host). */
    device: string;
    /** virsh, ssh and the host's shell (REAL_IO unless a test gives another). */
    io?: ToolIo;
}

const TC_TIMEOUT_MS = 10_000;
const GUEST_TIMEOUT_MS = 30_000;

/** Where tc and nft run for this link: the machine's host. */
function hostOf(link: Link): OnHost {
    return hostOfMachine(link.machine, link.io ?? REAL_IO);
}

function where(link: Link): string {
    return `${link.machine.name} ${link.nic.network} (tap ${link.device}${onWords(hostOf(link))})`;
}

async function guestTc(link: Link, verb: "replace" | "del" | "show", rest: string[]): Promise<{ ok: boolean; text: string }> {
    const command = guestTcCommand(link.nic.mac, verb, rest);
    const run = (link.io ?? REAL_IO).command;
    const result = await run("ssh", [...sshArgs(link.topology, link.machine.sshAddress), command], { timeoutMs: GUEST_TIMEOUT_MS });
    const text = result.timedOut ? `no answer over SSH within ${GUEST_TIMEOUT_MS / 1000} s` : `${result.stdout}${result.stderr}`.trim();
    return { ok: result.code === 0 && !result.timedOut, text };
}

/**
 * Removes the impairment from every place; says what was there. `inGuest:
 * false` leaves the guest unasked (a caller that put nothing there saves an
 * SSH round trip).
 */
export async function clearLink(link: Link, options: { quiet?: boolean; inGuest?: boolean } = {}): Promise<string[]> {
    const removed: string[] = [];
    const on = hostOf(link);
    const drop = await runThere(on, ["nft", "delete", "table", "bridge", dropTable(link.device)], { timeoutMs: TC_TIMEOUT_MS });
    if (drop.code === 0) {
        removed.push("the drop rule (nftables)");
    } else if (!alreadyClear(drop.stderr) && drop.stderr.trim() !== "") {
        throw new Error(`nft delete table bridge ${dropTable(link.device)}${onWords(on)} failed: ${drop.stderr.trim()}`);
    }
    const qdisc = await runThere(on, ["tc", ...clearArgs(link.device)], { timeoutMs: TC_TIMEOUT_MS });
    if (qdisc.code === 0) {
        removed.push("the tap's qdisc");
    } else if (!alreadyClear(qdisc.stderr)) {
        throw new Error(`tc ${clearArgs(link.device).join(" ")}${onWords(on)} failed: ${qdisc.stderr.trim()}`);
    }
    if (options.inGuest === false) {
        return removed;
    }
    const shown = await guestTc(link, "show", []);
    if (shown.ok && /\bqdisc netem\b/.test(shown.text)) {
        const deleted = await guestTc(link, "del", ["root"]);
        if (!deleted.ok) {
            throw new Error(`removing netem inside ${link.machine.name} failed: ${deleted.text}`);
        }
        removed.push(`netem inside ${link.machine.name}`);
    } else if (!shown.ok && options.quiet !== true) {
        console.error(`warning: could not look inside ${link.machine.name} for a netem of its own: ${shown.text}`);
    }
    return removed;
}

/**
 * Puts the impairment on the link, after clearing what was there (`inGuest:
 * false`: the caller knows nothing of its own is inside the guest). Resolves
 * once it is in place.
 */
export async function applyImpairment(link: Link, impairment: Impairment, options: { inGuest?: boolean } = {}): Promise<void> {
    await clearLink(link, { quiet: true, inGuest: options.inGuest });
    const on = hostOf(link);
    let plan = planImpairment(link.device, impairment, true);
    if (plan.hostQdisc?.includes("netem")) {
        const tried = await runThere(on, ["tc", ...plan.hostQdisc], { timeoutMs: TC_TIMEOUT_MS });
        if (tried.code === 0) {
            plan = { ...plan, hostQdisc: undefined };
        } else if (isUnknownQdisc(tried.stderr)) {
            plan = planImpairment(link.device, impairment, false);
        } else {
            throw new Error(`tc ${plan.hostQdisc.join(" ")}${onWords(on)} failed: ${tried.timedOut ? "no answer within 10 s" : tried.stderr.trim()}`);
        }
    }
    if (plan.hostQdisc) {
        await runCheckedThere(on, ["tc", ...plan.hostQdisc], TC_TIMEOUT_MS);
    }
    if (plan.hostDrop) {
        await runCheckedThere(on, ["nft", "-f", "-"], TC_TIMEOUT_MS, plan.hostDrop);
    }
    if (plan.guestNetem) {
        const applied = await guestTc(link, "replace", plan.guestNetem);
        if (!applied.ok) {
            throw new Error(
                `netem inside ${link.machine.name} failed (this host's kernel has none, so the delay goes into the guest's own kernel): ${applied.text}`,
            );
        }
    }
}

/** Every place an impairment can be, one line each. */
export async function showLink(link: Link): Promise<string> {
    const lines: string[] = [];
    const on = hostOf(link);
    const qdisc = await runCheckedThere(on, ["tc", ...showArgs(link.device)], TC_TIMEOUT_MS);
    lines.push(`${where(link)} tap: ${netemInShow(qdisc) ?? "no netem or tbf"}`);
    const table = await runThere(on, ["nft", "list", "table", "bridge", dropTable(link.device)], { timeoutMs: TC_TIMEOUT_MS });
    lines.push(`${where(link)} drops: ${table.code === 0 ? (dropInListing(table.stdout) ?? "table without a drop rule") : "none"}`);
    const guest = await guestTc(link, "show", []);
    if (guest.ok) {
        const [device = "?", ...rest] = guest.text.split("\n");
        lines.push(`${link.machine.name} inside (${device}): ${netemInShow(rest.join("\n")) ?? "no netem"}`);
    } else {
        lines.push(`${link.machine.name} inside: not asked (${guest.text})`);
    }
    return `${lines.join("\n")}\n`;
}
