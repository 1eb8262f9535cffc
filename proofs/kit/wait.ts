// Waiting, always bounded: a pause, a poll until something holds, and
// requests repeated in the background while something else runs.

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `test` every `intervalMs` until it holds; returns when it did (ms since the epoch), or undefined after `limitMs`. */
export async function waitFor(test: () => Promise<boolean>, limitMs: number, intervalMs = 1000): Promise<number | undefined> {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
        if (await test().catch(() => false)) {
            return Date.now();
        }
        await delay(intervalMs);
    }
    return undefined;
}

/**
 * Requests one after the other in the background, each made by `request`
 * (which never rejects: what went wrong is in its sample), until stopped and
 * never longer than `limitMs`. What the drills judge while they break things.
 */
export class BackgroundRequests<T> {
    readonly samples: T[] = [];
    private running = false;
    private loop: Promise<void> = Promise.resolve();

    constructor(
        private readonly request: () => Promise<T>,
        private readonly pauseMs: number,
        private readonly limitMs: number,
    ) {}

    start(): void {
        this.running = true;
        const deadline = Date.now() + this.limitMs;
        this.loop = (async () => {
            while (this.running && Date.now() < deadline) {
                this.samples.push(await this.request());
                await delay(this.pauseMs);
            }
        })();
    }

    async stop(): Promise<T[]> {
        this.running = false;
        await this.loop;
        return this.samples;
    }
}
