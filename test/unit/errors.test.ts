// Errors a person can read (scripts/errors.ts, the checks in
// scripts/automation.ts): one test per user-caused failure (refused config,
// missing image, libvirt not answering, a locked stack, a subnet or address
// already in use), each asserting the single message that names the cause and
// the fix, from the engine's and virsh's own words. The same failures run
// for real through the Pulumi CLI in test/live/errorsCli.test.ts.
import { RunError } from "@pulumi/pulumi/errors";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../components/config";
import { diagnoseVirshError, RunResult, virshError } from "../../components/libvirt";
import { parseSubnet, Subnet } from "../../components/net";
import { checkLibvirtAnswers, rawConfigFrom, unlockStack } from "../../scripts/automation";
import {
    describeFailure,
    explainEngineOutput,
    FailureContext,
    fileBackendDir,
    LabError,
    lockVerdict,
    ownBridges,
    parseLockContent,
    parseLockLines,
    parseProcNetRoute,
    stackLockDirs,
    subnetClashes,
    withoutStackLines,
} from "../../scripts/errors";
import { refused, SEED_RAW } from "../helpers/seed";
import { assertOneClearMessage, exitedPid, occurrences } from "../helpers/messages";
import { makeTempDir, runTool } from "../helpers/tools";

const DEV: FailureContext = { stack: "dev", operation: "up", libvirtUri: "qemu:///system", publicSubnet: "172.16.16.0/24", storageSubnet: "192.168.7.0/24" };

/**
 * An Automation API CommandError as the SDK builds it for a failed command
 * (automation/cmd.js): stdout empty, stderr its own "Command failed" line,
 * then the engine's stderr and stdout (the class itself is built only by the SDK).
 */
function commandError(engineText: string): Error & { commandResult: { stdout: string; stderr: string; code: number } } {
    const stderr = `Command failed with exit code 255: pulumi up --yes --skip-preview --color never --exec-kind auto.inline --stack dev --non-interactive\n${engineText}`;
    return Object.assign(new Error(`code: -2\n stdout: \n stderr: ${stderr}\n err?: Error: ${stderr}\n`), {
        name: "CommandError",
        commandResult: { stdout: "", stderr, code: -2 },
    });
}

/** virsh's result as the providers see it, and the error virshError builds from it (newlines folded, as in the engine's output). */
function virshFailure(kind: string, name: string, args: string[], stderr: string): string {
    const r: RunResult = { code: 1, stdout: "", stderr, timedOut: false };
    return virshError(kind, name, args, r).message;
}

// The texts below are the tools' own. virsh 9.0 against a socket nobody
// listens on (what `virsh -c 'qemu:///system?socket=/nowhere' list` prints;
// the run further down checks it against the real virsh):
const VIRSH_NO_DAEMON =
    "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n";
// libvirt's network driver (bridge_driver.c, networkCheckRouteCollision and
// networkBridgeNameValidate), as virsh net-start / net-define print them:
const VIRSH_SUBNET_IN_USE = "error: Failed to start network lvslab-ab12cd-public\nerror: internal error: Network is already in use by interface virbr0\n";
const VIRSH_BRIDGE_IN_USE =
    "error: Failed to define network from /tmp/lvslab-net-x/network.xml\nerror: internal error: bridge name 'lvab12cd-s' already in use.\n";
const VIRSH_DNSMASQ_PORT =
    "error: Failed to start network lvslab-ab12cd-public\nerror: internal error: Child process (VIR_BRIDGE_NAME=lvab12cd-p /usr/sbin/dnsmasq --conf-file=/var/lib/libvirt/dnsmasq/lvslab-ab12cd-public.conf --leasefile-ro --dhcp-script=/usr/lib/libvirt/libvirt_leaseshelper) unexpected exit status 2: \ndnsmasq: failed to create listening socket for 172.16.16.1: Address already in use\n";
// pkg/backend/diy/lock.go's checkForLock, as Pulumi 3.274.1 prints it for a
// file backend:
const ENGINE_LOCKED =
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
    "  file:///var/lib/lvs-dr-lab/state/.pulumi/locks/organization/lvs-dr-lab/dev/5b1d3f3e-5c6d-4b8e-9b1a-2f4c6d8e0a1b.json?no_tmp_dir=true: created by root@labhost (pid 48213) at 2025-11-29T16:52:07Z";
// The inline program's refusal as the engine reported it before this change.
const CONFIG_PROBLEMS = ["vip: 10.9.9.9 is outside publicSubnet 172.16.16.0/24 (or is its network/broadcast address); pick a host address inside it"];

describe("a refused configuration", () => {
    it("is a pulumi RunError, so the Pulumi CLI prints just its message (no 'Unhandled exception', no stack)", () => {
        const error = new ConfigError(CONFIG_PROBLEMS);
        assert.ok(RunError.isInstance(error));
        assert.ok(error instanceof ConfigError);
    });

    it("is one message listing every problem, each with its key and fix", () => {
        const text = describeFailure(new ConfigError(CONFIG_PROBLEMS), DEV);
        assertOneClearMessage(text, ["1 problem(s); nothing was created", "vip: 10.9.9.9 is outside publicSubnet", "pick a host address inside it"]);
    });

    it("reads the stack's config the way the program does: this project's keys, namespace removed", () => {
        const raw = rawConfigFrom({
            "lvs-dr-lab:vip": { value: "10.9.9.9", secret: false },
            "lvs-dr-lab:realServers": { value: '[{"name":"web1"}]', secret: false },
            "other:vip": { value: "1.2.3.4", secret: false },
        });
        assert.deepEqual(raw, { vip: "10.9.9.9", realServers: '[{"name":"web1"}]' });
    });
});

describe("a missing base image", () => {
    it("is refused before anything is created, naming baseImage and scripts/lab image", () => {
        const problems = refused(SEED_RAW, { homeDir: "/root", fileExists: (file) => file !== SEED_RAW.baseImage });
        const text = describeFailure(new ConfigError(problems), DEV);
        assertOneClearMessage(text, [`baseImage: no file at ${SEED_RAW.baseImage}`, "scripts/lab image", "pulumi config set baseImage"]);
    });

    it("that cannot be downloaded (a URL) names baseImage, the URL and the fix", () => {
        const engine = commandError(
            '  pulumi-nodejs:dynamic/libvirt:Volume (lab-base-image):\n    error: libvirt Volume "lvslab-ab12cd-base.qcow2": download of https://example.org/debian-12.qcow2 failed: HTTP 404 Not Found\n',
        );
        assertOneClearMessage(describeFailure(engine, DEV), [
            "the base image https://example.org/debian-12.qcow2 (config key baseImage) could not be downloaded: HTTP 404 Not Found",
            "scripts/lab image",
        ]);
    });

    it("that vanished after validation (qemu-img's own words) names baseImage and scripts/lab image", () => {
        const missing = path.join(os.tmpdir(), `lvslab-no-such-image-${process.pid}.qcow2`);
        const run = runTool("qemu-img", ["info", "--output=json", missing], "apt-get install qemu-utils");
        assert.notEqual(run.status, 0);
        const text = `libvirt Volume "lvslab-ab12cd-base.qcow2": qemu-img info ${missing} failed: ${run.stderr.trim()}`;
        assertOneClearMessage(describeFailure(new Error(text), DEV), [
            `the base image ${missing} (config key baseImage) cannot be read: No such file or directory`,
            "scripts/lab image",
        ]);
    });
});

describe("libvirt not answering", () => {
    it("a provider's virsh failure names the URI, the socket, and scripts/lab host start / libvirtUri", () => {
        const provider = virshFailure("Network", "lvslab-ab12cd-public", ["net-define"], VIRSH_NO_DAEMON);
        const engine = commandError(`Diagnostics:\n  pulumi-nodejs:dynamic/libvirt:Network (lab-public):\n    error: ${provider}\n`);
        assertOneClearMessage(describeFailure(engine, DEV), [
            "libvirt is not answering at qemu:///system (/var/run/libvirt/libvirt-sock: No such file or directory)",
            "scripts/lab host start",
            "pulumi config set libvirtUri URI --stack dev",
        ]);
    });

    it("a connection lost mid-run is the same failure", () => {
        assert.deepEqual(diagnoseVirshError("error: Cannot recv data: Connection reset by peer"), {
            kind: "unreachable",
            reason: "Cannot recv data: Connection reset by peer",
        });
        assert.deepEqual(diagnoseVirshError("error: End of file while reading data: Input/output error"), {
            kind: "unreachable",
            reason: "End of file while reading data",
        });
    });

    it("permission denied on the socket says to run as root, not to start libvirt", () => {
        const text =
            explainEngineOutput(
                "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied",
                DEV,
            )?.message ?? "";
        assert.match(text, /refuses this user .*Permission denied/);
        assert.match(text, /run the lab as root/);
    });

    it("is found before the engine runs, from the real virsh's words (a socket nobody listens on)", async () => {
        const { dir, cleanup } = makeTempDir("errors-virsh");
        try {
            const uri = `qemu:///system?socket=${dir}/libvirt-sock`;
            const error = await checkLibvirtAnswers(uri, { stack: "dev", operation: "up" }).then(
                () => assert.fail("virsh answered through a socket that does not exist"),
                (e: unknown) => e,
            );
            assert.ok(error instanceof LabError, String(error));
            assertOneClearMessage(describeFailure(error, DEV), [
                `libvirt is not answering at ${uri} (${dir}/libvirt-sock: No such file or directory)`,
                "scripts/lab host start",
            ]);
        } finally {
            cleanup();
        }
    });
});

describe("a locked stack", () => {
    it("names the holder and the fix, scripts/lab unlock", () => {
        const text = describeFailure(commandError(ENGINE_LOCKED), DEV);
        assertOneClearMessage(text, [
            "stack dev is locked by another pulumi run: pid 48213 (root@labhost) since 2025-11-29T16:52:07Z",
            "scripts/lab unlock --stack dev",
        ]);
        assert.doesNotMatch(text, /pulumi cancel/, "the engine's own advice deletes every lock, live or not");
    });

    it("parses every lock the engine lists", () => {
        const two = `${ENGINE_LOCKED}\n  file:///s/.pulumi/locks/organization/lvs-dr-lab/dev/x.json: created by lab@other (pid 7) at 2025-11-30T01:02:03Z\n`;
        assert.deepEqual(
            parseLockLines(two).map((lock) => [lock.pid, lock.user, lock.host]),
            [
                [48213, "root", "labhost"],
                [7, "lab", "other"],
            ],
        );
    });

    it("removes a lock only when its process is gone, on this host", () => {
        const lock = parseLockContent('{"pid":42,"username":"root","hostname":"labhost","timestamp":"2025-11-29T16:52:07.1+00:00"}');
        assert.deepEqual(lock, { pid: 42, username: "root", hostname: "labhost", timestamp: "2025-11-29T16:52:07.1+00:00" });
        assert.equal(lockVerdict(lock, { hostname: "labhost", isRunning: () => false }), "stale");
        assert.equal(lockVerdict(lock, { hostname: "labhost", isRunning: () => true }), "held");
        assert.equal(lockVerdict(lock, { hostname: "elsewhere", isRunning: () => false }), "other-host");
        assert.equal(lockVerdict(parseLockContent("not json"), { hostname: "labhost", isRunning: () => false }), "unreadable");
    });

    it("finds the lock directory of a file backend, project-scoped and legacy", () => {
        assert.equal(fileBackendDir("file:///var/lib/lvs-dr-lab/state", "/root"), "/var/lib/lvs-dr-lab/state");
        assert.equal(fileBackendDir("file://~/state", "/home/x"), "/home/x/state");
        assert.equal(fileBackendDir("https://api.pulumi.com", "/root"), undefined);
        assert.deepEqual(stackLockDirs("/s", "lvs-dr-lab", "dev"), ["/s/.pulumi/locks/organization/lvs-dr-lab/dev", "/s/.pulumi/locks/dev"]);
    });

    it("unlock clears a dead process's lock and refuses a live one's", async () => {
        const { dir, cleanup } = makeTempDir("errors-unlock");
        try {
            const lockDir = stackLockDirs(dir, "lvs-dr-lab", "dev")[0];
            fs.mkdirSync(lockDir, { recursive: true });
            const deadPid = await exitedPid();
            const lockOf = (pid: number): string => JSON.stringify({ pid, username: "root", hostname: os.hostname(), timestamp: "2025-11-29T16:52:07Z" });
            fs.writeFileSync(path.join(lockDir, "dead.json"), lockOf(deadPid));
            fs.writeFileSync(path.join(lockDir, "live.json"), lockOf(process.pid));
            const error = (() => {
                try {
                    unlockStack("dev", `file://${dir}`);
                } catch (e) {
                    return e;
                }
                return assert.fail("a live process's lock was accepted");
            })();
            assert.ok(error instanceof LabError);
            assertOneClearMessage(describeFailure(error, DEV), [
                `removed the lock of pid ${deadPid}`,
                `pid ${process.pid} (root@${os.hostname()})`,
                "is still running",
                `kill ${process.pid}`,
            ]);
            assert.deepEqual(fs.readdirSync(lockDir), ["live.json"]);
            fs.rmSync(path.join(lockDir, "live.json"));
            assert.deepEqual(unlockStack("dev", `file://${dir}`), ["stack dev is not locked"]);
        } finally {
            cleanup();
        }
    });
});

describe("a subnet or address already in use", () => {
    it("a subnet routed through another interface names publicSubnet, its range, the interface and the fix", () => {
        const provider = virshFailure("Network", "lvslab-ab12cd-public", ["net-start"], VIRSH_SUBNET_IN_USE);
        assertOneClearMessage(describeFailure(commandError(`    error: ${provider}\n`), DEV), [
            "publicSubnet 172.16.16.0/24 is already in use on the lab host: interface virbr0 has a route for it",
            "network lvslab-ab12cd-public",
            "pulumi config set publicSubnet CIDR --stack dev",
        ]);
    });

    it("the storage network's clash names storageSubnet, and another lab's bridge says so", () => {
        const text = virshFailure(
            "Network",
            "lvslab-ab12cd-storage",
            ["net-start"],
            VIRSH_SUBNET_IN_USE.replace("virbr0", "lvzz99yy-s").replace("public", "storage"),
        );
        const message = describeFailure(new Error(text), DEV);
        assertOneClearMessage(message, ["storageSubnet 192.168.7.0/24", "lvzz99yy-s (the bridge of another lab stack)", "scripts/lab destroy --stack OTHER"]);
    });

    it("a bridge name already taken names the bridge and how to remove it", () => {
        const text = virshFailure("Network", "lvslab-ab12cd-storage", ["net-define"], VIRSH_BRIDGE_IN_USE);
        assertOneClearMessage(describeFailure(new Error(text), DEV), [
            "bridge lvab12cd-s already exists",
            "network lvslab-ab12cd-storage",
            "ip link delete lvab12cd-s",
        ]);
    });

    it("an address libvirt's dnsmasq cannot bind names the address and the fix", () => {
        const text = virshFailure("Network", "lvslab-ab12cd-public", ["net-start"], VIRSH_DNSMASQ_PORT);
        assertOneClearMessage(describeFailure(new Error(text), DEV), [
            "network lvslab-ab12cd-public needs is already in use",
            "failed to create listening socket for 172.16.16.1: Address already in use",
            "ss -lnptu",
            "pulumi config set publicSubnet CIDR",
        ]);
    });

    it("reads /proc/net/route (little-endian words) as `ip route` shows it", () => {
        const sample =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
            "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
            "virbr0\t001010AC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
            "lvab12cd-s\t0007A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        const routes = parseProcNetRoute(sample, "LE");
        assert.deepEqual(routes[1], { iface: "virbr0", destination: 0xac101000, mask: 0xffffff00 });
        const subnets = [
            { key: "publicSubnet" as const, subnet: subnet("172.16.16.0/24") },
            { key: "storageSubnet" as const, subnet: subnet("192.168.7.0/24") },
        ];
        assert.deepEqual(subnetClashes(routes, subnets, new Set(["lvab12cd-s", "lvab12cd-p"])), [
            { key: "publicSubnet", cidr: "172.16.16.0/24", iface: "virbr0" },
        ]);
        assert.deepEqual(
            subnetClashes(routes, [{ key: "publicSubnet", subnet: subnet("172.16.0.0/16") }], new Set()),
            [],
            "only the same range clashes, as in libvirt",
        );
    });

    it("parses this host's real /proc/net/route to the routes `ip route` lists", () => {
        const shown = runTool("ip", ["-4", "-o", "route", "show", "table", "main"], "apt-get install iproute2");
        assert.equal(shown.status, 0, shown.stderr);
        const parsed = parseProcNetRoute(fs.readFileSync("/proc/net/route", "utf8"), os.endianness());
        const subnetRoutes = shown.stdout.split("\n").flatMap((line) => {
            const m = /^(\d+\.\d+\.\d+\.\d+\/\d+) dev (\S+)/.exec(line);
            return m ? [{ cidr: m[1], iface: m[2] }] : [];
        });
        assert.ok(subnetRoutes.length > 0, `no subnet route on this host:\n${shown.stdout}`);
        for (const route of subnetRoutes) {
            const s = subnet(route.cidr);
            assert.ok(
                parsed.some((p) => p.iface === route.iface && p.destination === s.network && p.mask === (0xffffffff << (32 - s.prefixLength)) >>> 0),
                `${route.cidr} dev ${route.iface} is missing from the parse: ${JSON.stringify(parsed)}`,
            );
        }
    });

    it("counts this stack's own bridges, from its networks and its name suffix, as its own", () => {
        const bridges = ownBridges([
            {
                urn: "urn:pulumi:dev::lvs-dr-lab::lvslab:index:Foundation$random:index/randomString:RandomString::lab-suffix",
                type: "random:index/randomString:RandomString",
                outputs: { result: "ab12cd" },
            },
            {
                urn: "urn:pulumi:dev::lvs-dr-lab::lvslab:index:Foundation$pulumi-nodejs:dynamic/libvirt:Network::lab-public",
                type: "pulumi-nodejs:dynamic/libvirt:Network",
                outputs: { bridgeName: "lvold000-p" },
            },
        ]);
        assert.deepEqual([...bridges].sort(), ["lvab12cd-p", "lvab12cd-s", "lvold000-p"]);
    });
});

describe("anything else", () => {
    it("an unknown engine failure adds only what the engine did not stream, without stack lines", () => {
        // As the SDK builds it (execa's message): its own line, the engine's stderr, then its stdout.
        const streamed =
            "Updating (dev):\n\nDiagnostics:\n  pulumi:pulumi:Stack (lvs-dr-lab-dev):\n    error: something odd happened\n        at Object.<anonymous> (/x/y.js:1:1)\n";
        const context = { ...DEV, streamed };
        const text = describeFailure(commandError(`error: update failed\n${streamed}`), context);
        assertOneClearMessage(text, ["error: pulumi up of stack dev failed: update failed"]);
        assert.equal(occurrences(text, "something odd happened"), 0, "repeats what the engine streamed");
        assert.equal(describeFailure(commandError(streamed), context), "error: pulumi up of stack dev failed; the engine's diagnostics above say why");
        assert.equal(withoutStackLines("a\n    at f (x.js:1:1)\nb"), "a\nb");
    });

    it("the passphrase that does not open the stack says which variable to set", () => {
        const text = describeFailure(commandError("error: incorrect passphrase\n"), DEV);
        assertOneClearMessage(text, ["PULUMI_CONFIG_PASSPHRASE does not open stack dev's secrets", "lvs-dr-lab"]);
    });
});

function subnet(cidr: string): Subnet {
    const parsed = parseSubnet(cidr);
    assert.ok(typeof parsed !== "string", parsed as string);
    return parsed;
}
