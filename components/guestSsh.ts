// ssh's options for a lab guest, shared by the facts resource (which logs in
// from Pulumi's dynamic provider host) and the proofs and tools.

/**
 * ssh's options for a lab guest: the operator key, no prompt, host keys not
 * checked nor kept (the guests are new on every run and reachable only
 * inside the lab host's namespace).
 */
export function guestSshOptions(privateKeyPath: string, connectTimeoutSeconds: number): string[] {
    return [
        "-i",
        privateKeyPath,
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        `ConnectTimeout=${connectTimeoutSeconds}`,
    ];
}
