// A throwaway OpenSSH server for the command provider's tests: its own config,
// host key, authorized keys and pid file in a temporary directory, listening
// on 127.0.0.1 only, run as a child and stopped by its PID. Starting it must
// not fail silently: a test that cannot reach sshd has to fail, not skip.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const sshdPath = "/usr/sbin/sshd";

export interface TestSshd {
    port: number;
    /** The account the server lets us in as (whoever runs the tests). */
    user: string;
    /** An unencrypted private key it accepts. */
    privateKey: string;
    /** An encrypted private key it accepts, and its passphrase. */
    encryptedKey: string;
    keyPassphrase: string;
    /** The server's host public key, "type base64". */
    hostPublicKey: string;
    /** A public key that is not the host's. */
    userPublicKey: string;
    /** A private scratch directory commands run on the server can write to. */
    scratch: string;
    stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (and, unless reused, is closed now). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const addr = srv.address();
            const port = typeof addr === "object" && addr !== null ? addr.port : 0;
            srv.close(() => resolve(port));
        });
    });
}

function keygen(file: string, passphrase: string): void {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "lvs-dr-lab-test", "-f", file], { stdio: "ignore" });
}

/** Resolves when the server sends its SSH banner; bounded by `deadline`. */
async function waitForBanner(port: number, child: ChildProcess, log: () => string, deadline: number): Promise<void> {
    while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before listening:\n${log()}`);
        }
        const banner = await new Promise<string>((resolve) => {
            const sock = net.connect(port, "127.0.0.1");
            let got = "";
            const done = (s: string) => {
                sock.destroy();
                resolve(s);
            };
            sock.setTimeout(1000, () => done(got));
            sock.on("data", (d) => {
                got += d.toString();
                if (got.includes("\n")) {
                    done(got);
                }
            });
            sock.on("error", () => done(""));
        });
        if (banner.startsWith("SSH-2.0-")) {
            return;
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`sshd did not answer on 127.0.0.1:${port} in time:\n${log()}`);
}

/** Keys, authorized_keys and sshd_config in `dir`, for a server on a free port. */
async function prepare(dir: string) {
    const scratch = path.join(dir, "scratch");
    fs.mkdirSync(scratch);
    const hostKey = path.join(dir, "host_key");
    const userKey = path.join(dir, "user_key");
    const encKey = path.join(dir, "user_key_enc");
    const keyPassphrase = "correct horse battery";
    keygen(hostKey, "");
    keygen(userKey, "");
    keygen(encKey, keyPassphrase);
    const authorized = path.join(dir, "authorized_keys");
    fs.writeFileSync(authorized, fs.readFileSync(`${userKey}.pub`, "utf8") + fs.readFileSync(`${encKey}.pub`, "utf8"), { mode: 0o600 });
    const port = await freePort();
    const config = path.join(dir, "sshd_config");
    fs.writeFileSync(
        config,
        [
            `Port ${port}`,
            "ListenAddress 127.0.0.1",
            `HostKey ${hostKey}`,
            `AuthorizedKeysFile ${authorized}`,
            `PidFile ${path.join(dir, "sshd.pid")}`,
            "UsePAM no",
            // The temp directory lives under world-writable /tmp, which StrictModes rejects.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "AcceptEnv LAB_* PULUMI_COMMAND_*",
            "PrintMotd no",
            "PrintLastLog no",
            "LogLevel ERROR",
            "",
        ].join("\n"),
    );
    return { scratch, config, port, hostKey, userKey, encKey, keyPassphrase };
}

export async function startSshd(): Promise<TestSshd> {
    if (!fs.existsSync(sshdPath)) {
        throw new Error(
            `${sshdPath} is missing: install openssh-server without starting a system sshd ` +
                "(with a /usr/sbin/policy-rc.d that exits 101 in place): " +
                "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server",
        );
    }
    // sshd refuses to start without its privilege separation directory (normally made by its init script).
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-sshd-"));
    let prepared: Awaited<ReturnType<typeof prepare>>;
    try {
        prepared = await prepare(dir);
    } catch (e) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
    }
    const { scratch, config, port, hostKey, userKey, encKey, keyPassphrase } = prepared;
    const child = spawn(sshdPath, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr?.on("data", (d: Buffer) => {
        log += d.toString();
    });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const stop = async () => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
            process.kill(child.pid, "SIGTERM");
            const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
            if (!killed) {
                process.kill(child.pid, "SIGKILL");
                await exited;
            }
        }
        fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
        await waitForBanner(port, child, () => log, Date.now() + 15000);
    } catch (e) {
        await stop();
        throw e;
    }
    return {
        port,
        user: os.userInfo().username,
        privateKey: fs.readFileSync(userKey, "utf8"),
        encryptedKey: fs.readFileSync(encKey, "utf8"),
        keyPassphrase,
        hostPublicKey: fs.readFileSync(`${hostKey}.pub`, "utf8").split(" ").slice(0, 2).join(" "),
        userPublicKey: fs.readFileSync(`${userKey}.pub`, "utf8").split(" ").slice(0, 2).join(" "),
        scratch,
        stop,
    };
}
