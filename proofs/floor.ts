// The bench's floors: the lab's six guests made straight with the libvirt
// layer's own functions (no Pulumi engine, no guest steps), started at once
// and timed until each accepts SSH, then removed. Two kinds:
//   image    the lab's image booted the way the lab boots it (firstBoot);
//   minimal  the same kernel and initramfs straight into a minimal userspace
//            (the image's /usr/local/lib/lvslab/minimal-init as init=): NICs
//            from the kernel command line, then sshd. What the machine allows.
import { randomBytes } from "crypto";
import * as fs from "fs";
import { bootFilesOf, LabConfig } from "../components/config";
import {
    CONSOLE_PASSWORD_FW_CFG,
    DIRECT_BOOT_ARGS,
    GUEST_DOMAIN,
    GuestNic,
    instanceIdFor,
    keyAndNicWords,
    renderKernelCmdline,
    renderMetaData,
    renderNetworkConfig,
    renderUserData,
} from "../components/guestConfig";
import { createCloudInitDisk, createDomain, createNetwork, createVolume } from "../components/libvirt";
import { saltFor, sha512Crypt } from "../components/sha512Crypt";
import { macFor } from "../components/net";
import { PUBLIC_NETWORK_INDEX, STORAGE_NETWORK_INDEX } from "../components/nics";
import { openStack, validatedConfig } from "../scripts/automation";
import { commandLineOrExit, errorText, guestCpuSeconds, leftovers, runMain, SshAccess, sshAccessOf, sshRun, sweep, waitForSsh } from "./kit";

interface FloorMachine {
    hostname: string;
    sshAddress: string;
    nics: (GuestNic & { network: string })[];
}

export type FloorKind = "image" | "minimal";

/** The minimal floor's userspace, in the lab image. */
export const MINIMAL_INIT = "/usr/local/lib/lvslab/minimal-init";

/** The minimal floor's command line: the lab's kernel words, init= and only the NICs and root's key. */
export function minimalCmdline(sshPublicKey: string, nics: readonly GuestNic[]): string {
    return [...DIRECT_BOOT_ARGS, `init=${MINIMAL_INIT}`, ...keyAndNicWords(sshPublicKey, nics)].join(" ");
}

export interface FloorResult {
    kind: FloorKind;
    /** How the guests got their identity: cloud-init, the kernel command line, or minimal-init. */
    boot: string;
    prefix: string;
    /** From the first virsh call to the last guest accepting SSH. */
    seconds: number;
    /** Networks, base image import, overlays, seeds and domains defined and started. */
    defineSeconds: number;
    /** Seconds from the start until each guest accepted SSH (null: never within the bound). */
    sshSeconds: Record<string, number | null>;
    /** CPU seconds each guest's qemu had used when it accepted SSH: what its boot costs the machine. */
    cpuSecondsAtSsh: Record<string, number>;
    teardownSeconds: number;
    left: string[];
    /** For each guest asked for, once its boot finished: `systemd-analyze`, the critical chain to sshd and the slowest units. */
    bootReports: Record<string, string>;
}

/** What `systemd-analyze` says about a guest's boot, once it has finished (at most 5 min). */
export function bootReport(access: SshAccess, host: string): Promise<string> {
    // As root: without dbus, only root reaches systemd (its private socket).
    const script = [
        "sudo timeout 300 systemctl is-system-running --wait >/dev/null",
        "sudo systemd-analyze",
        "sudo systemd-analyze critical-chain --no-pager ssh.service",
        "sudo systemd-analyze blame --no-pager | head -n 25",
    ].join("; ");
    return sshRun(access, host, `{ ${script}; } 2>&1`, 360_000).catch((error: unknown) => `no report: ${errorText(error)}`);
}

/** How a floor's libvirt objects are named: its prefix, its bridges' suffix, its two networks. */
interface FloorNames {
    prefix: string;
    suffix: string;
    publicNet: string;
    storageNet: string;
}

/** The floor's guests: the lab's machines, with their NICs on the floor's own networks. */
function floorMachines(config: LabConfig, names: FloorNames): FloorMachine[] {
    const pub = (address: string): GuestNic & { network: string } => ({
        name: "eth0",
        network: names.publicNet,
        mac: macFor(PUBLIC_NETWORK_INDEX, address),
        address,
        prefixLength: config.publicSubnet.prefixLength,
        gateway: config.publicHostIp,
    });
    const sto = (address: string, name: "eth0" | "eth1"): GuestNic & { network: string } => ({
        name,
        network: names.storageNet,
        mac: macFor(STORAGE_NETWORK_INDEX, address),
        address,
        prefixLength: config.storageSubnet.prefixLength,
    });
    return [
        ...config.directors.map((director) => ({
            hostname: director.name,
            sshAddress: director.publicIp,
            nics: [pub(director.publicIp), sto(director.storageIp, "eth1")],
        })),
        { hostname: config.nfs.name, sshAddress: config.nfs.storageIp, nics: [sto(config.nfs.storageIp, "eth0")] },
        ...config.realServers.map((server) => ({
            hostname: server.name,
            sshAddress: server.publicIp,
            nics: [pub(server.publicIp), sto(server.storageIp, "eth1")],
        })),
    ];
}

/**
 * Defines and starts the floor with the libvirt layer's own functions: both
 * networks, the base image, each guest's overlay and its first boot (the
 * kernel command line, minimal-init's, or a cloud-init seed), its domain.
 */
async function defineFloor(config: LabConfig, kind: FloorKind, names: FloorNames, machines: readonly FloorMachine[], sshPublicKey: string): Promise<void> {
    const uri = config.libvirtUri;
    const pool = config.storagePool;
    const { prefix, suffix } = names;
    // Beside the image whatever firstBoot says: the minimal floor boots them too.
    const bootFiles = bootFilesOf(config.baseImage);
    await Promise.all([
        createNetwork({
            connectionUri: uri,
            name: names.publicNet,
            bridgeName: `lf${suffix}-p`,
            mode: "nat",
            hostAddress: config.publicHostIp,
            prefixLength: config.publicSubnet.prefixLength,
        }),
        createNetwork({
            connectionUri: uri,
            name: names.storageNet,
            bridgeName: `lf${suffix}-s`,
            mode: "isolated",
            hostAddress: config.storageHostIp,
            prefixLength: config.storageSubnet.prefixLength,
        }),
    ]);
    const base = await createVolume({ connectionUri: uri, pool, name: `${prefix}-base.qcow2`, source: config.baseImage });
    const direct = kind === "minimal" || config.firstBoot.method === "kernel";
    const [kernel, initrd] = direct
        ? await Promise.all([
              createVolume({ connectionUri: uri, pool, name: `${prefix}-vmlinuz`, source: bootFiles.kernel }),
              createVolume({ connectionUri: uri, pool, name: `${prefix}-initrd`, source: bootFiles.initrd }),
          ])
        : [undefined, undefined];
    // A throw-away console password, handed to the guests as the lab hands its own: a hash.
    const consolePasswordHash = sha512Crypt(randomBytes(10).toString("hex"), saltFor("floor", prefix));
    await Promise.all(
        machines.map(async (machine) => {
            const disk = await createVolume({
                connectionUri: uri,
                pool,
                name: `${prefix}-${machine.hostname}.qcow2`,
                backingVolumePath: base.outs.path,
                capacityGiB: config.vm.diskGiB,
            });
            const identity = { hostname: machine.hostname, domain: GUEST_DOMAIN, sshUser: config.sshUser, sshPublicKey, consolePasswordHash };
            let firstBoot:
                { cloudInitPath: string } | { kernelPath: string; initrdPath: string; kernelCmdline: string; firmwareConfig: Record<string, string> };
            if (kernel && initrd) {
                const kernelCmdline =
                    kind === "minimal" ? minimalCmdline(sshPublicKey, machine.nics) : renderKernelCmdline({ ...identity, nics: machine.nics });
                firstBoot = {
                    kernelPath: kernel.outs.path,
                    initrdPath: initrd.outs.path,
                    kernelCmdline,
                    firmwareConfig: { [CONSOLE_PASSWORD_FW_CFG]: consolePasswordHash },
                };
            } else {
                const networkConfig = renderNetworkConfig(machine.nics);
                const seed = await createCloudInitDisk({
                    connectionUri: uri,
                    pool,
                    name: `${prefix}-${machine.hostname}-seed.iso`,
                    userData: renderUserData(identity),
                    metaData: renderMetaData(machine.hostname, instanceIdFor(machine.hostname, networkConfig, sshPublicKey, config.sshUser)),
                    networkConfig,
                });
                firstBoot = { cloudInitPath: seed.outs.path };
            }
            await createDomain({
                connectionUri: uri,
                name: `${prefix}-${machine.hostname}`,
                domainType: config.domainType,
                vcpus: config.vm.vcpus,
                memoryMiB: config.vm.memoryMiB,
                diskPath: disk.outs.path,
                ...firstBoot,
                nics: machine.nics.map((nic) => ({ network: nic.network, mac: nic.mac })),
            });
        }),
    );
}

/**
 * A floor: the lab's six guests made straight with the libvirt layer's own
 * functions (virsh underneath, no Pulumi engine, no guest steps), started all
 * at once, timed until each accepts SSH; then removed. The minimal floor
 * needs the image's kernel and initramfs beside it (image/build.sh).
 */
export async function floor(config: LabConfig, sshBoundSeconds: number, kind: FloorKind = "image", reportOn: readonly string[] = []): Promise<FloorResult> {
    const uri = config.libvirtUri;
    const pool = config.storagePool;
    const suffix = randomBytes(3).toString("hex");
    const prefix = `lvsfloor-${kind === "minimal" ? "m" : "i"}${suffix}`;
    const names: FloorNames = { prefix, suffix, publicNet: `${prefix}-public`, storageNet: `${prefix}-storage` };
    const boot = kind === "minimal" ? "minimal-init" : config.firstBoot.method === "kernel" ? "kernel command line" : "cloud-init";
    const sshPublicKey = fs.readFileSync(`${config.sshKeyPath}.pub`, "utf8").trim();
    const machines = floorMachines(config, names);
    const started = Date.now();
    const sshSeconds: Record<string, number | null> = {};
    const cpuSecondsAtSsh: Record<string, number> = {};
    const bootReports: Record<string, string> = {};
    let defineSeconds = 0;
    let result: FloorResult | undefined;
    try {
        await defineFloor(config, kind, names, machines, sshPublicKey);
        defineSeconds = (Date.now() - started) / 1000;
        console.log(`floor (${kind}, ${boot}): ${machines.length} guests defined and started in ${defineSeconds.toFixed(1)} s; waiting for SSH`);
        const deadline = Date.now() + sshBoundSeconds * 1000;
        // minimal-init lets only root in (there is no other user in the image).
        const access = { ...sshAccessOf(config), ...(kind === "minimal" ? { user: "root" } : {}) };
        await Promise.all(
            machines.map(async (machine) => {
                const seconds = await waitForSsh(access, machine.sshAddress, started, deadline);
                sshSeconds[machine.hostname] = seconds ?? null;
                if (seconds !== undefined) {
                    const domain = `${prefix}-${machine.hostname}`;
                    cpuSecondsAtSsh[machine.hostname] = guestCpuSeconds(uri, domain)[domain];
                }
                console.log(`floor (${kind}): ${machine.hostname} ${seconds === undefined ? "never accepted SSH" : `accepted SSH at ${seconds.toFixed(1)} s`}`);
            }),
        );
    } finally {
        const seconds = (Date.now() - started) / 1000;
        // minimal-init has no systemd to ask; the report is taken after the timing.
        if (kind === "image") {
            for (const machine of machines.filter((m) => reportOn.includes(m.hostname) && sshSeconds[m.hostname])) {
                bootReports[machine.hostname] = await bootReport(sshAccessOf(config), machine.sshAddress);
            }
        }
        const teardownStarted = Date.now();
        await sweep(uri, pool, prefix);
        const left = leftovers(uri, pool, prefix);
        result = {
            kind,
            boot,
            prefix,
            seconds,
            defineSeconds,
            sshSeconds,
            cpuSecondsAtSsh,
            teardownSeconds: (Date.now() - teardownStarted) / 1000,
            left,
            bootReports,
        };
    }
    return result;
}

/**
 * `node bin/proofs/floor.js [minimal|image] [--stack S] [--report NAME,...]`,
 * inside the lab host (`scripts/lab host exec`): one floor alone, for
 * measuring a change to the boot without a whole bench; `--report` adds each
 * named guest's `systemd-analyze` once its boot has finished.
 */
async function main(): Promise<number> {
    const usage = "usage: floor.js [minimal|image] [--stack NAME] [--report NAME,...]";
    const line = commandLineOrExit(process.argv.slice(2), { report: "value" }, usage, { positionals: true });
    if (typeof line === "number") {
        return line;
    }
    const reportOn = line.values.report === undefined ? [] : line.values.report.split(",");
    const [kind = "minimal", ...more] = line.positionals;
    if ((kind !== "minimal" && kind !== "image") || more.length > 0) {
        console.error(usage);
        return 2;
    }
    const stackName = line.stack;
    const result = await floor(await validatedConfig(await openStack(stackName)), 1500, kind, reportOn);
    const { bootReports, ...figures } = result;
    console.log(JSON.stringify(figures, undefined, 2));
    for (const [hostname, report] of Object.entries(bootReports)) {
        console.log(`\n=== ${hostname}: its boot\n${report}`);
    }
    const booted = Object.values(result.sshSeconds).every((seconds) => seconds !== null);
    return booted && result.left.length === 0 ? 0 : 1;
}

runMain("floor", module, main);
