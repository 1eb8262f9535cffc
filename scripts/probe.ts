// Continuous requests to the VIP while something is broken on purpose: one
// request at a time, each on a new connection with a short timeout, until
// stopped (and never longer than its bound). What the e2e drills judge.
import { get } from "./smoke";

export interface ProbeSample {
    /** Milliseconds since the epoch when the request started. */
    at: number;
    ok: boolean;
    /** The identity header of the server that answered. */
    server?: string;
}

export interface ProbeSummary {
    requests: number;
    failed: number;
    /** Failures after the event (the drill's loss). */
    failedAfterEvent: number;
    /** Seconds from the event to the first success after its last failure; 0 if nothing failed. */
    recoveredAfterSeconds: number;
    /** Seconds from the event to its first and last failure, undefined if none failed. */
    firstFailureAfterSeconds?: number;
    lastFailureAfterSeconds?: number;
    /**
     * Seconds from the first failure after the event to the first success
     * after the last one: how long the service was out, whatever the time it
     * took to break it (an SSH login, a graceful stop).
     */
    outageSeconds: number;
}

/** Judges samples against the moment something was broken. Pure. */
export function summarizeProbe(samples: readonly ProbeSample[], eventAt: number): ProbeSummary {
    const after = samples.filter((sample) => sample.at >= eventAt);
    const failures = after.filter((sample) => !sample.ok);
    const firstFailure = failures.length > 0 ? failures[0].at : undefined;
    const lastFailure = failures.length > 0 ? failures[failures.length - 1].at : undefined;
    const recovery = lastFailure === undefined ? undefined : after.find((sample) => sample.ok && sample.at > lastFailure);
    const since = (from: number | undefined): number =>
        lastFailure === undefined || from === undefined ? 0 : recovery ? (recovery.at - from) / 1000 : Number.POSITIVE_INFINITY;
    return {
        requests: samples.length,
        failed: samples.filter((sample) => !sample.ok).length,
        failedAfterEvent: failures.length,
        recoveredAfterSeconds: since(eventAt),
        firstFailureAfterSeconds: firstFailure === undefined ? undefined : (firstFailure - eventAt) / 1000,
        lastFailureAfterSeconds: lastFailure === undefined ? undefined : (lastFailure - eventAt) / 1000,
        outageSeconds: since(firstFailure),
    };
}

export class LoadProbe {
    readonly samples: ProbeSample[] = [];
    private running = false;
    private loop: Promise<void> = Promise.resolve();

    /**
     * @param url the VIP's URL
     * @param header the identity header to record
     * @param limitMs the longest the probe runs even if nobody stops it
     */
    constructor(
        private readonly url: string,
        private readonly header: string,
        private readonly expectedPage: string,
        private readonly limitMs = 300_000,
        private readonly pauseMs = 100,
        private readonly timeoutMs = 1000,
    ) {}

    start(): void {
        this.running = true;
        const deadline = Date.now() + this.limitMs;
        this.loop = (async () => {
            while (this.running && Date.now() < deadline) {
                const at = Date.now();
                try {
                    const answer = await get(this.url, this.header, this.timeoutMs);
                    this.samples.push({ at, ok: answer.status === 200 && answer.body.trim() === this.expectedPage, server: answer.server });
                } catch {
                    this.samples.push({ at, ok: false });
                }
                await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
            }
        })();
    }

    async stop(): Promise<ProbeSample[]> {
        this.running = false;
        await this.loop;
        return this.samples;
    }
}
