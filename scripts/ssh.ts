// Runs a command on a lab guest with the operator key from the stack
// outputs. Host keys are not checked: the guests are new on every run and
// reachable only inside the lab host's namespace.
import { execFile } from "child_process";
import { promisify } from "util";

const execFileAsync = promisify(execFile);

export interface SshAccess {
    user: string;
    privateKeyPath: string;
}

export async function sshRun(access: SshAccess, host: string, command: string, timeoutMs = 60_000): Promise<string> {
    const { stdout } = await execFileAsync(
        "ssh",
        [
            "-i", access.privateKeyPath,
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10",
            `${access.user}@${host}`,
            command,
        ],
        { timeout: timeoutMs },
    );
    return stdout;
}
