// Running a command on the machine behind a libvirt URI: here for a local
// URI, over ssh for a qemu+ssh one, reaching the host the way libvirt's own
// ssh transport does (same user, port, key file and ssh command). The VXLAN
// tunnels and a remote domain's log files need this: libvirt has no API for
// either.
//
// Plain module-level functions, captured by value into the dynamic providers.

import { runCommand, RunOptions, RunResult } from "./virsh";

/** How to reach a libvirt URI's host with ssh: the program and its arguments up to the remote command. */
export interface SshRoute {
    file: string;
    args: string[];
}

/**
 * The ssh route of a qemu+ssh URI, as libvirt's ssh transport builds it:
 * `command` (default ssh), `-p` port, `-l` user, `-i` keyfile, no host key
 * check only when `no_verify=1`; undefined for a URI that is not ssh.
 */
export function sshRouteOf(uri: string): SshRoute | undefined {
    const m = /^[a-z][a-z0-9]*\+ssh:\/\/(?:([^@/?]+)@)?([^:/?]+|\[[^\]]+\])(?::([0-9]+))?(\/[^?]*)?(?:\?(.*))?$/i.exec(uri);
    if (!m) {
        return undefined;
    }
    const [, user, host, port, , query] = m;
    const params = new URLSearchParams(query ?? "");
    const args = ["-T", "-e", "none", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"];
    if (port) {
        args.push("-p", port);
    }
    if (user) {
        args.push("-l", decodeURIComponent(user));
    }
    const keyfile = params.get("keyfile");
    if (keyfile) {
        args.push("-i", keyfile);
    }
    if (params.get("no_verify") === "1") {
        args.push("-o", "StrictHostKeyChecking=no");
    }
    args.push("--", host.replace(/^\[|\]$/g, ""));
    return { file: params.get("command") || "ssh", args };
}

/** Quotes one word for the remote POSIX shell ssh hands the command to. */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Runs argv on the host of `uri`: directly when the URI is not ssh, else through ssh. */
export function runOnHost(uri: string, argv: string[], options: RunOptions = {}): Promise<RunResult> {
    const route = sshRouteOf(uri);
    if (!route) {
        return runCommand(argv[0], argv.slice(1), options);
    }
    return runCommand(route.file, [...route.args, argv.map(shellQuote).join(" ")], options);
}
