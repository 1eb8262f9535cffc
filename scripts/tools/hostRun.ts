// Where the tools' commands run. virsh, and ssh to a guest, run on this
// machine (virsh reaches a remote libvirtd through its own URI). tcpdump, tc,
// nft and the few file commands around them run on the host the machine runs
// on, named by its libvirt URI: here for a local URI, over ssh for a qemu+ssh
// one, the way libvirt's own transport reaches it (components/libvirt's
// runOnHost). Everything that leaves the process goes through one ToolIo, so
// a test can stand in for virsh, ssh and the terminal.
import { isLocalUri, runCommand, runOnHost, RunResult, sshRouteOf } from "../../components/libvirt/host";
import type { LabMachine } from "./topology";

/** The limits and input of one command. */
export interface RunLimits {
    timeoutMs?: number;
    /** Bytes for the command's standard input (over ssh, they cross with it). */
    input?: string;
}

/** Runs a program on this machine. */
export type CommandRunner = (file: string, args: string[], options: RunLimits) => Promise<RunResult>;

/** Runs argv on the host behind a libvirt URI. */
export type HostRunner = (uri: string, argv: string[], options: RunLimits) => Promise<RunResult>;

/** Everything a tool does outside its own process. */
export interface ToolIo {
    /** virsh, ssh to a guest: on this machine. */
    command: CommandRunner;
    /** tcpdump, tc, nft, base64, rm: on a lab host, by its libvirt URI. */
    host: HostRunner;
    /** Standard output and standard error. */
    out: (text: string) => void;
    err: (text: string) => void;
}

/**
 * Why commands cannot be run on the host of `uri`, or undefined when they
 * can: a local URI runs them here, a qemu+ssh one over ssh. Any other
 * transport (qemu+tcp, qemu+tls) reaches libvirtd alone, not a shell.
 */
export function hostRunRefusal(uri: string): string | undefined {
    if (isLocalUri(uri) || sshRouteOf(uri) !== undefined) {
        return undefined;
    }
    return `its libvirt URI ${uri} is neither local nor qemu+ssh, so tcpdump, tc and nft cannot be run on that host (libvirt has no API for them): use a qemu+ssh URI for it`;
}

/** runOnHost, after refusing a URI it would wrongly run here. */
export const realHostRunner: HostRunner = (uri, argv, options) => {
    const refusal = hostRunRefusal(uri);
    return refusal === undefined ? runOnHost(uri, argv, options) : Promise.reject(new Error(refusal));
};

export const REAL_IO: ToolIo = {
    command: runCommand,
    host: realHostRunner,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
};

/** A lab host as a place to run commands: its name in the lab, its libvirt URI and the runner. */
export interface OnHost {
    name: string;
    uri: string;
    run: HostRunner;
}

/** The host a machine runs on. */
export function hostOfMachine(machine: LabMachine, io: Pick<ToolIo, "host"> = REAL_IO): OnHost {
    return { name: machine.host, uri: machine.libvirtUri, run: io.host };
}

/** True when the host is not this machine (its commands go over ssh). */
export function isRemote(on: OnHost | undefined): boolean {
    return on !== undefined && !isLocalUri(on.uri);
}

/** " on host b" for a remote host, nothing for this one: what messages add. */
export function onWords(on: OnHost | undefined): string {
    return isRemote(on) && on !== undefined ? ` on host ${on.name}` : "";
}

/** Runs argv on the host (`undefined`: this machine, as the tools always did). */
export function runThere(on: OnHost | undefined, argv: string[], options: RunLimits): Promise<RunResult> {
    return on === undefined ? runCommand(argv[0], argv.slice(1), options) : on.run(on.uri, argv, options);
}

/** The words of a failed command: its last lines, and for ssh's own failure (255), that the host was not reached. */
export function failureWords(result: RunResult, on?: OnHost): string {
    const words = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-3).join(" ");
    if (isRemote(on) && on !== undefined && result.code === 255) {
        return `host ${on.name} not reached over ssh (${on.uri}): ${words}`;
    }
    return words;
}

/** Throws with the command's own words (and the host, when remote) unless it succeeded in time; returns its output. */
export function checked(argv: string[], result: RunResult, timeoutMs: number, on?: OnHost): string {
    if (result.timedOut) {
        throw new Error(`${argv.join(" ")}${onWords(on)}: no answer within ${timeoutMs / 1000} s`);
    }
    if (result.code !== 0) {
        throw new Error(`${argv.join(" ")}${onWords(on)} failed (exit ${result.code}): ${failureWords(result, on)}`);
    }
    return result.stdout;
}

/** runThere, then `checked`. */
export async function runCheckedThere(on: OnHost | undefined, argv: string[], timeoutMs: number, input?: string): Promise<string> {
    return checked(argv, await runThere(on, argv, { timeoutMs, input }), timeoutMs, on);
}
