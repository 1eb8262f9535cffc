// `scripts/lab impair`: Linux's netem queueing discipline on the host side of
// one machine's NIC (its tap, inside the lab host); a rate limit alone uses
// tbf, which kernels without netem (this project's CI machines) still have. A tap's transmit queue is
// what the guest receives, so the impairment applies to frames going to the
// machine on that link; that is enough to make it miss health checks, VRRP
// adverts or client packets.

export interface Impairment {
    delayMs?: number;
    jitterMs?: number;
    lossPercent?: number;
    /** netem's rate, e.g. "1mbit", "500kbit". */
    rate?: string;
}

function nonNegative(name: string, value: number | undefined): void {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
        throw new Error(`${name} must be a number of 0 or more (got ${value})`);
    }
}

/** Checks an impairment and says what is wrong with it, naming the option. */
export function checkImpairment(impairment: Impairment): void {
    const { delayMs, jitterMs, lossPercent, rate } = impairment;
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
        throw new Error(`--rate "${rate}" is not a rate tc understands: a number and bit, kbit, mbit, gbit (bits/s) or bps, kbps, mbps, gbps (bytes/s), e.g. 10mbit`);
    }
}

/** tc's arguments that put the impairment on a device (replacing any root qdisc there). */
export function netemArgs(device: string, impairment: Impairment): string[] {
    checkImpairment(impairment);
    if (impairment.delayMs === undefined && impairment.lossPercent === undefined && impairment.rate !== undefined) {
        // A token bucket: the burst lets a full-size frame through, the latency bounds the queue.
        return ["qdisc", "replace", "dev", device, "root", "tbf", "rate", impairment.rate, "burst", "32kbit", "latency", "400ms"];
    }
    const args = ["qdisc", "replace", "dev", device, "root", "netem"];
    if (impairment.delayMs !== undefined) {
        args.push("delay", `${impairment.delayMs}ms`);
        if (impairment.jitterMs !== undefined) {
            args.push(`${impairment.jitterMs}ms`);
        }
    }
    if (impairment.lossPercent !== undefined) {
        args.push("loss", `${impairment.lossPercent}%`);
    }
    if (impairment.rate !== undefined) {
        args.push("rate", impairment.rate);
    }
    return args;
}

export function clearArgs(device: string): string[] {
    return ["qdisc", "del", "dev", device, "root"];
}

export function showArgs(device: string): string[] {
    return ["-s", "qdisc", "show", "dev", device];
}

/** Deleting a root qdisc that is not there is no failure: the link is already clear. */
export function alreadyClear(tcError: string): boolean {
    return /Cannot delete qdisc with handle of zero|No such file or directory|Invalid handle/i.test(tcError);
}

/** The netem or tbf line of `tc qdisc show`, if the device has one. */
export function netemInShow(showText: string): string | undefined {
    return showText.split("\n").find((line) => /\bqdisc (netem|tbf)\b/.test(line))?.trim();
}

/** tc's words when the kernel lacks the qdisc, turned into what to do. */
export function explainTcFailure(tcError: string, impairment: Impairment): string | undefined {
    if (/Specified qdisc kind is unknown/i.test(tcError)) {
        const rateOnly = impairment.rate !== undefined ? "" : " (--rate alone works: it uses tbf)";
        return `this host's kernel has no netem (sch_netem, CONFIG_NET_SCH_NETEM), which --delay, --jitter and --loss need${rateOnly}`;
    }
    return undefined;
}
