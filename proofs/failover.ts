// The failover drill, shared by the e2e (directors on one host) and the
// spread lab (the BACKUP on another host): under continuous requests the
// MASTER's keepalived is stopped, the BACKUP must take the VIP and requests
// succeed again within FAILOVER_LIMIT_SECONDS; started again, the MASTER takes
// the VIP back, likewise.
import type { LabOutputValues } from "../components/program";
import { delay, sshRun, waitFor, watchVip } from "./kit";
import { ProbeSample, startLoadProbe, summarizeProbe } from "./probe";

/** A failover must serve again within this many seconds ("within a few seconds"). */
export const FAILOVER_LIMIT_SECONDS = 10;

/** The outputs the drill reads; `directors` has the MASTER first, the BACKUP second. */
export type FailoverInputs = Pick<LabOutputValues, "vip" | "vipUrl" | "identityHeader" | "expectedPage" | "ssh" | "directors">;

/** Waits (bounded) until the probe's last `count` requests all succeeded. */
async function waitForSteadySuccess(samples: readonly ProbeSample[], since: number, count: number, limitMs: number): Promise<void> {
    await waitFor(async () => {
        const recent = samples.filter((sample) => sample.at >= since).slice(-count);
        return recent.length === count && recent.every((sample) => sample.ok);
    }, limitMs);
}

const seconds = (from: number, to: number | undefined): string => (to === undefined ? "never" : `${((to - from) / 1000).toFixed(1)} s`);

/**
 * The MASTER's keepalived stopped under load: the BACKUP takes the VIP and
 * requests succeed again within FAILOVER_LIMIT_SECONDS; started again, the
 * MASTER takes the VIP back, likewise.
 */
export async function failoverDrill(out: FailoverInputs): Promise<{ problems: string[]; measured: Record<string, number | undefined> }> {
    const [master, backup] = out.directors;
    const problems: string[] = [];
    const probe = startLoadProbe(out.vipUrl, out.identityHeader, out.expectedPage);
    const masterHolds = watchVip(out, master.publicIp);
    const backupHolds = watchVip(out, backup.publicIp);
    await delay(3000);
    const stoppedAt = Date.now();
    await sshRun(out.ssh, master.publicIp, "sudo systemctl stop keepalived");
    const movedAt = await backupHolds.until(true, stoppedAt, 30_000);
    await waitForSteadySuccess(probe.samples, stoppedAt, 20, 60_000);
    const away = summarizeProbe(probe.samples, stoppedAt);
    const startedAt = Date.now();
    await sshRun(out.ssh, master.publicIp, "sudo systemctl start keepalived");
    const backAt = await waitFor(async () => masterHolds.current === true && backupHolds.current === false, 60_000, 100);
    await waitForSteadySuccess(probe.samples, startedAt, 20, 60_000);
    masterHolds.stop();
    backupHolds.stop();
    const samples = await probe.stop();
    const back = summarizeProbe(
        samples.filter((sample) => sample.at >= startedAt),
        startedAt,
    );
    const awayFailures = samples.filter((sample) => !sample.ok && sample.at >= stoppedAt && sample.at < startedAt).length;
    console.log(
        `failover drill: MASTER's keepalived stopped: VIP on ${backup.name} after ${seconds(stoppedAt, movedAt)}, ` +
            `${awayFailures} request(s) failed (an outage of ${away.outageSeconds.toFixed(1)} s), serving again ${away.recoveredAfterSeconds.toFixed(1)} s after the stop command; ` +
            `started again: VIP back on ${master.name} after ${seconds(startedAt, backAt)}, ${back.failedAfterEvent} request(s) failed ` +
            `(an outage of ${back.outageSeconds.toFixed(1)} s); ${samples.length} requests in all`,
    );
    const measured = {
        vipMovedAfterSeconds: movedAt === undefined ? undefined : (movedAt - stoppedAt) / 1000,
        failedRequestsOnFailover: awayFailures,
        servingAgainAfterSeconds: away.recoveredAfterSeconds,
        outageOnFailoverSeconds: away.outageSeconds,
        vipBackAfterSeconds: backAt === undefined ? undefined : (backAt - startedAt) / 1000,
        failedRequestsOnFailback: back.failedAfterEvent,
        servingAgainAfterFailbackSeconds: back.recoveredAfterSeconds,
        outageOnFailbackSeconds: back.outageSeconds,
        requests: samples.length,
    };
    if (movedAt === undefined) {
        problems.push(`the VIP never moved to ${backup.name}`);
    }
    if (away.outageSeconds > FAILOVER_LIMIT_SECONDS) {
        problems.push(`requests failed for ${away.outageSeconds.toFixed(1)} s when the MASTER stopped (limit ${FAILOVER_LIMIT_SECONDS} s)`);
    }
    if (backAt === undefined) {
        problems.push(`the VIP never moved back to ${master.name}`);
    }
    if (back.outageSeconds > FAILOVER_LIMIT_SECONDS) {
        problems.push(`requests failed for ${back.outageSeconds.toFixed(1)} s when the MASTER returned (limit ${FAILOVER_LIMIT_SECONDS} s)`);
    }
    return { problems, measured };
}
