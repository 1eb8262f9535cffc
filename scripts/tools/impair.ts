// `scripts/lab impair`: impairments on one machine's link, built from what
// Linux already has. Where the lab host's kernel has netem, one netem qdisc
// on the machine's tap (host side) does all of it: the tap's transmit queue
// is what the guest receives. Where it has none (this project's CI machines
// run such a kernel), each part goes where it can still be done:
//   --loss   nftables in the lab host's bridge family, `numgen random`,
//            on frames leaving the bridge for that tap (what the guest receives);
//   --rate   tbf on the tap (every kernel has it);
//   --delay  netem inside the guest (Debian's kernel has it) on the NIC with
//            that MAC: the frames the machine sends.
// `--proto` (loss of one IP protocol only, e.g. vrrp for a split brain) is
// always nftables: netem alone cannot pick frames.

export interface Impairment {
    delayMs?: number;
    jitterMs?: number;
    lossPercent?: number;
    /** tc's rate, e.g. "1mbit", "500kbit". */
    rate?: string;
    /** Drop only this IP protocol (a name nft knows: vrrp, tcp, udp, icmp). */
    proto?: string;
}

/** Where each part of an impairment is put. */
export interface ImpairmentPlan {
    /** tc arguments for the tap's root qdisc (netem or tbf). */
    hostQdisc?: string[];
    /** An nftables ruleset (a table of its own for the tap) that drops frames. */
    hostDrop?: string;
    /** tc arguments (after the device) for netem inside the guest. */
    guestNetem?: string[];
}

function nonNegative(name: string, value: number | undefined): void {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
        throw new Error(`${name} must be a number of 0 or more (got ${value})`);
    }
}

/** nft names an IP protocol with lower-case letters and digits. */
const PROTOCOL = /^[a-z][a-z0-9-]*$/;

/** Checks an impairment and says what is wrong with it, naming the option. */
export function checkImpairment(impairment: Impairment): void {
    const { delayMs, jitterMs, lossPercent, rate, proto } = impairment;
    if (delayMs === undefined && jitterMs === undefined && lossPercent === undefined && rate === undefined) {
        throw new Error("say what to do: --delay MS, --jitter MS, --loss PCT, --rate R (or --show, --clear)");
    }
    nonNegative("--delay", delayMs);
    nonNegative("--jitter", jitterMs);
    if (jitterMs !== undefined && delayMs === undefined) {
        throw new Error("--jitter varies a delay: give --delay too");
    }
    if (lossPercent !== undefined && (!Number.isFinite(lossPercent) || lossPercent < 0 || lossPercent > 100)) {
        throw new Error(`--loss is a percentage, 0 to 100 (got ${lossPercent})`);
    }
    if (rate !== undefined && !/^\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/i.test(rate)) {
        throw new Error(
            `--rate "${rate}" is not a rate tc understands: a number and bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps, gbps (bytes/s), e.g. 10mbit`,
        );
    }
    if (proto !== undefined && (lossPercent === undefined || !PROTOCOL.test(proto))) {
        throw new Error(
            lossPercent === undefined
                ? "--proto says which frames --loss drops: give --loss too"
                : `--proto "${proto}" is not an IP protocol name (vrrp, tcp, udp, icmp, ...)`,
        );
    }
}

function delayWords(impairment: Impairment): string[] {
    if (impairment.delayMs === undefined) {
        return [];
    }
    return ["delay", `${impairment.delayMs}ms`, ...(impairment.jitterMs !== undefined ? [`${impairment.jitterMs}ms`] : [])];
}

function tbfArgs(device: string, rate: string): string[] {
    // A token bucket: the burst lets a full-size frame through, the latency bounds the queue.
    return ["qdisc", "replace", "dev", device, "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"];
}

/** The nftables table that holds a tap's drop rule (one table per tap, so clearing one touches no other). */
export function dropTable(device: string): string {
    return `lvslab_impair_${device.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/**
 * A ruleset that replaces the tap's table in one transaction (declare, delete,
 * declare again: nft refuses to delete a table that does not exist). Frames
 * the bridge forwards to the tap and frames the lab host itself sends there.
 */
export function dropRuleset(device: string, lossPercent: number, proto?: string): string {
    const table = dropTable(device);
    const match = [
        `oifname "${device}"`,
        ...(proto ? [`ip protocol ${proto}`] : []),
        ...(lossPercent < 100 ? [`numgen random mod 100 < ${Math.round(lossPercent)}`] : []),
    ].join(" ");
    const chain = (hook: string): string =>
        [`    chain ${hook} {`, `        type filter hook ${hook} priority 0; policy accept;`, `        ${match} counter drop`, "    }"].join("\n");
    return [`table bridge ${table}`, `delete table bridge ${table}`, `table bridge ${table} {`, chain("forward"), chain("output"), "}", ""].join("\n");
}

/**
 * Where each part goes: all in one netem on the tap when the host has netem
 * (and no --proto), else loss in nftables, rate in tbf, delay in the guest.
 */
export function planImpairment(device: string, impairment: Impairment, hostHasNetem: boolean): ImpairmentPlan {
    checkImpairment(impairment);
    const { lossPercent, rate, proto } = impairment;
    const delay = delayWords(impairment);
    if (hostHasNetem && proto === undefined && (delay.length > 0 || lossPercent !== undefined)) {
        const args = ["qdisc", "replace", "dev", device, "root", "netem", ...delay];
        if (lossPercent !== undefined) {
            args.push("loss", `${lossPercent}%`);
        }
        if (rate !== undefined) {
            args.push("rate", rate);
        }
        return { hostQdisc: args };
    }
    const plan: ImpairmentPlan = {};
    if (lossPercent !== undefined) {
        plan.hostDrop = dropRuleset(device, lossPercent, proto);
    }
    if (delay.length > 0 && hostHasNetem) {
        plan.hostQdisc = ["qdisc", "replace", "dev", device, "root", "netem", ...delay, ...(rate !== undefined ? ["rate", rate] : [])];
    } else {
        if (delay.length > 0) {
            plan.guestNetem = ["root", "netem", ...delay];
        }
        if (rate !== undefined) {
            plan.hostQdisc = tbfArgs(device, rate);
        }
    }
    return plan;
}

export function clearArgs(device: string): string[] {
    return ["qdisc", "del", "dev", device, "root"];
}

export function showArgs(device: string): string[] {
    return ["-s", "qdisc", "show", "dev", device];
}

/** Deleting a root qdisc or a table that is not there is no failure: the link is already clear. */
export function alreadyClear(errorText: string): boolean {
    return /Cannot delete qdisc with handle of zero|No such file or directory|Invalid handle/i.test(errorText);
}

/** The netem or tbf line of `tc qdisc show`, if the device has one. */
export function netemInShow(showText: string): string | undefined {
    return showText
        .split("\n")
        .find((line) => /\bqdisc (netem|tbf)\b/.test(line))
        ?.trim();
}

/** tc's words when a kernel lacks the qdisc. */
export function isUnknownQdisc(tcError: string): boolean {
    return /Specified qdisc kind is unknown/i.test(tcError);
}

/** The drop rule of `nft list table`, with its counters, if there is one. */
export function dropInListing(listing: string): string | undefined {
    return listing
        .split("\n")
        .find((line) => /\bdrop\b/.test(line))
        ?.trim();
}

/**
 * A guest-side shell command: find the NIC with this MAC, then run
 * `tc qdisc VERB dev NIC REST...` on it. Prints the device first.
 */
export function guestTcCommand(mac: string, verb: "replace" | "del" | "show", rest: string[]): string {
    const lower = mac.toLowerCase();
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(lower) || !rest.every((word) => /^[A-Za-z0-9.%]+$/.test(word))) {
        throw new Error(`refusing to build a guest command from ${mac} ${rest.join(" ")}`);
    }
    return [
        `dev=$(ip -o link show | awk -v mac=${lower} '$0 ~ mac { sub(":", "", $2); print $2; exit }')`,
        `[ -n "$dev" ] || { echo "no NIC with MAC ${lower}" >&2; exit 3; }`,
        'echo "$dev"',
        `sudo -n tc ${verb === "show" ? "-s " : ""}qdisc ${verb} dev "$dev"${rest.length > 0 ? ` ${rest.join(" ")}` : ""}`,
    ].join("; ");
}
