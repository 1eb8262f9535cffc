// A machine's observed facts as a Pulumi resource: what its steps set, read
// back over SSH (one login), so that `refresh` sees a machine changed by hand
// and `up` puts it back. The official `command` provider has no read
// (pulumi-command issue 432); this dynamic provider reads with the system's
// ssh client, under the project's plugins and the official ones alike.
//
//   create  after the machine's steps: reads until the facts are as wanted
//           (a bounded settle), else fails naming what is not.
//   read    (refresh) one login: the live facts become `observed`; a machine
//           that does not answer is marked unreachable, its facts kept.
//   diff    a change when the inputs changed, or when `observed` (from the
//           last refresh) differs from `wanted` on a reachable machine.
//   update  a drifted machine's steps run again (remove, then apply), after
//           waiting for its SSH as on first boot; then reads until as wanted.
//   delete  nothing: reading leaves nothing behind.
import * as pulumi from "@pulumi/pulumi";
import * as fsp from "fs/promises";
import * as os from "os";
import * as path from "path";
import { guestSshOptions } from "../guestSsh";
import { runCommand, RunResult } from "../libvirt";
import { FACTS_COMMAND } from "./reader";
import { describeDrift, driftOf, Facts, parseFacts } from "./wanted";

/** One step of the machine, as the remote commands its Command resource runs. */
export interface RepairStep {
    /** The step's resource name ("web1-forwarding"). */
    name: string;
    /** Its `create` command (apply). */
    apply: string;
    /** Its `delete` command (remove). */
    remove: string;
}

export interface GuestFactsInputs {
    /** The machine's name, for messages. */
    machine: string;
    /** The address the lab host reaches it on. */
    host: string;
    /** The SSH login user. */
    user: string;
    /** The SSH private key (a secret). */
    privateKey: string;
    /** The script that prints the facts (cloud-init/facts.sh rendered), run as root from standard input. */
    reader: string;
    /** What the lab wants, by fact name. */
    wanted: Facts;
    /** The machine's steps, in order: what `up` runs again when it drifted. */
    steps: RepairStep[];
    /** Standard input of the steps (the director's VRRP password, a secret); empty for none. */
    stepsStdin: string;
}

export interface GuestFactsOutputs extends GuestFactsInputs {
    /** The facts as last read: after create or update, or by the last refresh. */
    observed: Facts;
    /** Whether the machine answered the last read. */
    reachable: boolean;
}

/** How long create and update wait for the facts to settle as wanted. */
const SETTLE_MS = 90_000;
/** How long a repair waits for the guest's SSH (a guest still booting), as the steps do. */
const REPAIR_DIAL_MS = 600_000;
/** ssh's exit status when it could not connect. */
const SSH_CONNECT_FAILED = 255;

/** Runs a command on the guest with the lab's key; the key lives in a private temporary file for the call. */
async function onGuest(inputs: GuestFactsInputs, command: string, stdin: string, connectTimeoutSeconds: number, timeoutMs: number): Promise<RunResult> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "lvslab-facts-"));
    try {
        const keyFile = path.join(dir, "key");
        await fsp.writeFile(keyFile, inputs.privateKey.endsWith("\n") ? inputs.privateKey : `${inputs.privateKey}\n`, { mode: 0o600 });
        return await runCommand("ssh", [...guestSshOptions(keyFile, connectTimeoutSeconds), `${inputs.user}@${inputs.host}`, command], {
            input: stdin,
            timeoutMs,
        });
    } finally {
        await fsp.rm(dir, { recursive: true, force: true });
    }
}

/** A second try, this long after a login that failed, before a machine reads as unreachable. */
const READ_RETRY_MS = 2000;

/**
 * One read: the live facts, or undefined when the machine does not answer.
 * A login that fails is tried once more: on a loaded host a running guest's
 * sshd can miss one connect bound, and "unreachable" must mean stopped or
 * rebooting, not slow.
 */
export async function readLive(inputs: GuestFactsInputs): Promise<Facts | undefined> {
    let result = await onGuest(inputs, FACTS_COMMAND, inputs.reader, 10, 60_000);
    if (result.timedOut || result.code === SSH_CONNECT_FAILED) {
        await new Promise((resolve) => setTimeout(resolve, READ_RETRY_MS));
        result = await onGuest(inputs, FACTS_COMMAND, inputs.reader, 20, 60_000);
    }
    if (result.timedOut || result.code === SSH_CONNECT_FAILED) {
        return undefined;
    }
    if (result.code !== 0) {
        return { reader: `failed (exit ${result.code}): ${result.stderr.trim().split("\n").pop() ?? ""}` };
    }
    return parseFacts(result.stdout);
}

/** Reads until the facts are as wanted or the bound passes; the last read, undefined if it never answered. */
async function settle(inputs: GuestFactsInputs): Promise<Facts | undefined> {
    const deadline = Date.now() + SETTLE_MS;
    let live: Facts | undefined;
    for (;;) {
        live = (await readLive(inputs)) ?? live;
        if ((live && driftOf(inputs.wanted, live).length === 0) || Date.now() >= deadline) {
            return live;
        }
        await new Promise((resolve) => setTimeout(resolve, 3000));
    }
}

/** The outputs once the facts are as wanted; otherwise an error naming every fact that is not. */
async function settled(inputs: GuestFactsInputs, after: string): Promise<GuestFactsOutputs> {
    const live = await settle(inputs);
    if (!live) {
        throw new Error(`${inputs.machine} (${inputs.host}) did not answer SSH for ${SETTLE_MS / 1000} s ${after}`);
    }
    const drift = driftOf(inputs.wanted, live);
    if (drift.length > 0) {
        throw new Error(`${inputs.machine} does not show what the lab wants ${after}:\n  ${describeDrift(drift).join("\n  ")}`);
    }
    return { ...inputs, observed: live, reachable: true };
}

/** The machine's facts once it answers SSH, waiting as a first boot does; an error naming it if it never does. */
async function answered(inputs: GuestFactsInputs): Promise<Facts> {
    const deadline = Date.now() + REPAIR_DIAL_MS;
    for (;;) {
        const live = await readLive(inputs);
        if (live) {
            return live;
        }
        if (Date.now() >= deadline) {
            throw new Error(`${inputs.machine} (${inputs.host}) did not answer SSH for ${REPAIR_DIAL_MS / 1000} s; is it running? (scripts/lab node list)`);
        }
        await new Promise((resolve) => setTimeout(resolve, 3000));
    }
}

/** Runs one of the machine's commands, waiting for its SSH first as a first boot does. */
async function runStepCommand(inputs: GuestFactsInputs, step: string, command: string): Promise<void> {
    const deadline = Date.now() + REPAIR_DIAL_MS;
    for (;;) {
        const result = await onGuest(inputs, command, inputs.stepsStdin, 30, 900_000);
        if (result.code === 0) {
            return;
        }
        if (result.code !== SSH_CONNECT_FAILED || Date.now() >= deadline) {
            const said = `${result.stderr}${result.stdout}`.trim().split("\n").slice(-5).join("\n  ");
            throw new Error(`${inputs.machine}: step ${step} failed while putting it back (exit ${result.code}):\n  ${said}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
    }
}

/** Whether the last read found the machine as the lab wants it (an unreachable one is not drift). */
function drifted(props: GuestFactsOutputs): boolean {
    return props.reachable !== false && driftOf(props.wanted, props.observed ?? {}).length > 0;
}

function sameInputs(olds: GuestFactsInputs, news: GuestFactsInputs): boolean {
    const keys: (keyof GuestFactsInputs)[] = ["machine", "host", "user", "privateKey", "reader", "wanted", "steps", "stepsStdin"];
    return keys.every((key) => JSON.stringify(olds[key]) === JSON.stringify(news[key]));
}

export const guestFactsProvider: pulumi.dynamic.ResourceProvider<GuestFactsInputs, GuestFactsOutputs> = {
    async create(inputs) {
        return { id: `${inputs.machine}-facts`, outs: await settled(inputs, "after its steps") };
    },
    async read(id, props) {
        if (!props) {
            throw new Error(`facts ${id}: nothing to read without the resource's state (import is not supported)`);
        }
        const live = await readLive(props);
        return { id, props: live ? { ...props, observed: live, reachable: true } : { ...props, reachable: false } };
    },
    async diff(_id, olds, news) {
        // A machine the refresh could not reach is no drift, but up waits for it (below).
        return { changes: !sameInputs(olds, news) || drifted(olds) || olds.reachable === false };
    },
    async update(_id, olds, news) {
        // Stopped or rebooting at the refresh: wait for it as a first boot does (up starts a stopped domain first).
        const live = olds.reachable === false ? await answered(news) : undefined;
        if (drifted(olds) || (live !== undefined && driftOf(news.wanted, live).length > 0)) {
            for (const step of news.steps) {
                await runStepCommand(news, step.name, step.remove);
                await runStepCommand(news, step.name, step.apply);
            }
            return { outs: await settled(news, "after its steps ran again") };
        }
        return { outs: await settled(news, "after its steps") };
    },
    async delete() {
        // Reading leaves nothing on the guest.
    },
};

/** Type token: `pulumi-nodejs:dynamic/guest:Facts`. */
export const GUEST_FACTS_TYPE = "pulumi-nodejs:dynamic/guest:Facts";

export interface GuestFactsArgs {
    machine: pulumi.Input<string>;
    host: pulumi.Input<string>;
    user: pulumi.Input<string>;
    privateKey: pulumi.Input<string>;
    reader: pulumi.Input<string>;
    wanted: pulumi.Input<Facts>;
    steps: pulumi.Input<pulumi.Input<RepairStep>[]>;
    stepsStdin: pulumi.Input<string>;
}

/** A machine's facts: wanted, and as last observed on the guest. */
export class GuestFacts extends pulumi.dynamic.Resource {
    declare public readonly wanted: pulumi.Output<Facts>;
    declare public readonly observed: pulumi.Output<Facts>;
    declare public readonly reachable: pulumi.Output<boolean>;

    constructor(name: string, args: GuestFactsArgs, opts?: pulumi.CustomResourceOptions) {
        super(guestFactsProvider, name, { ...args, observed: undefined, reachable: undefined }, opts, "guest", "Facts");
    }
}
