// Continuous requests to the VIP while something is broken on purpose: one
// request at a time, each on a new connection with a short timeout, until
// stopped (and never longer than its bound). What the e2e drills judge.
import { BackgroundRequests, get } from "./kit";

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

/** When the failed requests from `eventAt` on started, in seconds after it ("1.2, 2.6"; "none"), for the logs. Pure. */
export function failureTimes(samples: readonly ProbeSample[], eventAt: number): string {
    const times = samples.filter((sample) => !sample.ok && sample.at >= eventAt).map((sample) => ((sample.at - eventAt) / 1000).toFixed(1));
    return times.length > 0 ? times.join(", ") : "none";
}

/**
 * Starts the probe: a GET of `url` every `pauseMs` (each on a new connection,
 * given `timeoutMs`), a sample each, judged against the expected page and
 * tagged with the identity header; never longer than `limitMs`.
 */
export function startLoadProbe(
    url: string,
    header: string,
    expectedPage: string,
    options: { limitMs?: number; pauseMs?: number; timeoutMs?: number } = {},
): BackgroundRequests<ProbeSample> {
    const timeoutMs = options.timeoutMs ?? 1000;
    const probe = new BackgroundRequests<ProbeSample>(
        async () => {
            const at = Date.now();
            try {
                const answer = await get(url, header, timeoutMs);
                return { at, ok: answer.status === 200 && answer.body.trim() === expectedPage, server: answer.server };
            } catch {
                return { at, ok: false };
            }
        },
        options.pauseMs ?? 100,
        options.limitMs ?? 300_000,
    );
    probe.start();
    return probe;
}
