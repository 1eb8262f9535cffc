// What a provider process needs from its surroundings: the engine address it
// was started with (to send per-resource log lines back) and the version to
// report, taken from the SDK package it stands in for.
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { LogRequest, LogSeverity } from "@pulumi/pulumi/proto/engine_pb";

export type Severity = "debug" | "info" | "warning" | "error";

/** Where a provider sends messages about a resource. */
export interface ResourceLogger {
    /** Queues a message; `ephemeral` messages are status lines the CLI shows while the step runs. */
    log(severity: Severity, message: string, urn: string, ephemeral?: boolean): void;
    /** Resolves once every queued message was delivered (or given up on). */
    flush(): Promise<void>;
}

/** A logger that drops everything (tests, or no engine to talk to). */
export const silentLogger: ResourceLogger = {
    log: () => undefined,
    flush: () => Promise.resolve(),
};

/**
 * The engine address among a plugin's arguments. The engine may put
 * `--logtostderr`, `-v=N` and `--tracing <endpoint>` before it; this skips
 * them the way the SDK's own provider argument parser does.
 */
export function engineAddressFromArgs(args: readonly string[]): string | undefined {
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a === "--logtostderr" || a.startsWith("-v=")) {
            continue;
        }
        if (a === "--tracing") {
            i++;
            continue;
        }
        return a;
    }
    return undefined;
}

const severities: Record<Severity, LogSeverity> = {
    debug: LogSeverity.DEBUG,
    info: LogSeverity.INFO,
    warning: LogSeverity.WARNING,
    error: LogSeverity.ERROR,
};

/** Bound on waiting for log delivery so a stuck engine connection cannot hang a resource operation. */
const flushTimeoutMs = 5000;

/**
 * A logger that sends messages to the engine's Log RPC, attached to the
 * resource's URN, as the official providers do. Without an address it
 * writes to stderr, which the engine shows as plugin output.
 */
export function engineLogger(engineAddress: string | undefined): ResourceLogger {
    if (!engineAddress) {
        return {
            log: (severity, message) => process.stderr.write(`${severity}: ${message}\n`),
            flush: () => Promise.resolve(),
        };
    }
    // The SDK keeps its engine client in its runtime settings; pointing them at
    // our engine gives us that client without depending on gRPC ourselves.
    pulumi.runtime.resetOptions("", "", -1, engineAddress, "", false, "");
    const engine = pulumi.runtime.getEngine();
    if (!engine) {
        return engineLogger(undefined);
    }
    let last: Promise<void> = Promise.resolve();
    return {
        log(severity, message, urn, ephemeral = false) {
            const req = new LogRequest();
            req.setSeverity(severities[severity]);
            req.setMessage(message);
            req.setUrn(urn);
            req.setEphemeral(ephemeral);
            // Chained so messages arrive in order.
            last = last.then(
                () =>
                    new Promise<void>((resolve) => {
                        engine.log(req, (err) => {
                            if (err && severity !== "debug") {
                                process.stderr.write(`${severity}: ${message}\n`);
                            }
                            resolve();
                        });
                    }),
            );
        },
        async flush() {
            let timer: NodeJS.Timeout | undefined;
            const timeout = new Promise<void>((resolve) => {
                timer = setTimeout(resolve, flushTimeoutMs);
            });
            await Promise.race([last, timeout]);
            clearTimeout(timer);
        },
    };
}

/** The version of an installed npm package (the SDK a plugin stands in for reports the same one). */
export function packageVersion(packageName: string): string {
    const file = require.resolve(`${packageName}/package.json`);
    const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
    if (typeof parsed === "object" && parsed !== null && "version" in parsed && typeof parsed.version === "string") {
        return parsed.version;
    }
    throw new Error(`${file} has no version`);
}
