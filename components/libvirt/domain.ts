// libvirt domain (virtual machine) as a Pulumi dynamic resource: defined and
// started; destroyed and undefined on delete.

import * as pulumi from "@pulumi/pulumi";
import { promises as fsp } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
    CheckAnswer,
    DiffAnswer,
    ReadAnswer,
    Failure,
    checkAbsolutePath,
    checkInteger,
    checkName,
    checkOneOf,
    checkString,
    isUnknown,
    normalizeMac,
    replacingDiff,
    sameKnown,
} from "./checks";
import { runOnHost, sshRouteOf } from "./hostShell";
import { isLocalUri, isNotFound, parseInfo, virsh, virshError, virshOk } from "./virsh";
import { firmwareConfigNameProblem, NicSpec, renderDomainXml } from "./xml";

export interface DomainArgs {
    /** libvirt connection URI, e.g. "qemu:///system". Required. */
    connectionUri: pulumi.Input<string>;
    /** libvirt domain name. Required. */
    name: pulumi.Input<string>;
    /** "kvm" (hardware virtualisation) or "qemu" (software emulation, TCG). Required. */
    domainType: pulumi.Input<"kvm" | "qemu">;
    /** Number of virtual CPUs. Required. */
    vcpus: pulumi.Input<number>;
    /** Memory in MiB. Required. */
    memoryMiB: pulumi.Input<number>;
    /** The VM's disk (a qcow2 overlay), attached as virtio disk vda. Required. */
    diskPath: pulumi.Input<string>;
    /** Format of diskPath. Default: "qcow2". */
    diskFormat?: pulumi.Input<string>;
    /** The NoCloud seed ISO, attached as a read-only cdrom (IDE hdc). Default: none. */
    cloudInitPath?: pulumi.Input<string>;
    /**
     * A kernel to boot directly instead of the disk's boot loader (libvirt
     * `<kernel>`), with its initramfs and command line. Default: none (boot
     * from the disk). A kernel needs a command line.
     */
    kernelPath?: pulumi.Input<string>;
    initrdPath?: pulumi.Input<string>;
    kernelCmdline?: pulumi.Input<string>;
    /**
     * QEMU fw_cfg entries, name ("opt/...") to text (libvirt `<sysinfo
     * type='fwcfg'>`): what the guest's root reads under
     * /sys/firmware/qemu_fw_cfg/by_name and its users cannot (a secret's
     * place, unlike the world-readable command line). Default: none.
     */
    firmwareConfig?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** virtio NICs, in this order (the guest sees them as its 1st, 2nd, ... NIC). Required. */
    nics: pulumi.Input<pulumi.Input<{ network: pulumi.Input<string>; mac: pulumi.Input<string>; mtu?: pulumi.Input<number> }>[]>;
    /**
     * File the serial console is also written to (by virtlogd; `virsh console`
     * still works). Default: /var/log/libvirt/qemu/NAME-console.log. Removed
     * when the domain is deleted (over ssh for a qemu+ssh URI).
     */
    consoleLogPath?: pulumi.Input<string>;
    /**
     * CPU: "host-passthrough", "host-model", "maximum" (all qemu can do), or a
     * named model such as "qemu64". Default: "host-passthrough" for kvm,
     * "qemu64" for qemu (a model TCG emulates fully).
     */
    cpuModel?: pulumi.Input<string>;
}

/** The inputs as the provider sees them (resolved; check() fills the defaults). */
export interface DomainInputs {
    connectionUri: string;
    name: string;
    domainType: "kvm" | "qemu";
    vcpus: number;
    memoryMiB: number;
    diskPath: string;
    diskFormat?: string;
    cloudInitPath?: string;
    kernelPath?: string;
    initrdPath?: string;
    kernelCmdline?: string;
    /** fw_cfg entries (DomainSpec.firmwareConfig). */
    firmwareConfig?: Record<string, string>;
    nics: NicSpec[];
    consoleLogPath?: string;
    cpuModel?: string;
}

/** What the provider stores: the inputs plus what libvirt reports. */
export interface DomainOutputs extends DomainInputs {
    uuid: string;
    /** libvirt's state, e.g. "running", "shut off" (read back). */
    state: string;
    /** False once the domain is seen shut off (a refresh); the next update starts it. */
    running: boolean;
}

const KIND = "Domain";
/** Every input replaces: a changed disk, NIC, CPU or memory needs a new definition and a fresh boot anyway. */
const DOMAIN_KEYS = [
    "connectionUri",
    "name",
    "domainType",
    "vcpus",
    "memoryMiB",
    "diskPath",
    "diskFormat",
    "cloudInitPath",
    "kernelPath",
    "initrdPath",
    "kernelCmdline",
    "firmwareConfig",
    "nics",
    "consoleLogPath",
    "cpuModel",
] as const;

/** Where the serial console goes unless consoleLogPath says otherwise (beside libvirt's own NAME.log). */
export function defaultConsoleLogPath(name: string): string {
    return `/var/log/libvirt/qemu/${name}-console.log`;
}

export function defaultCpuModel(domainType: "kvm" | "qemu"): string {
    return domainType === "kvm" ? "host-passthrough" : "qemu64";
}

export function checkDomain(news: DomainInputs): CheckAnswer<DomainInputs> {
    const failures: Failure[] = [];
    checkString(failures, "connectionUri", news.connectionUri);
    checkName(failures, "name", news.name);
    checkOneOf(failures, "domainType", news.domainType, ["kvm", "qemu"]);
    checkInteger(failures, "vcpus", news.vcpus, 1, 256);
    checkInteger(failures, "memoryMiB", news.memoryMiB, 16, 4 * 1024 * 1024);
    checkAbsolutePath(failures, "diskPath", news.diskPath);
    checkAbsolutePath(failures, "cloudInitPath", news.cloudInitPath, true);
    checkAbsolutePath(failures, "kernelPath", news.kernelPath, true);
    checkAbsolutePath(failures, "initrdPath", news.initrdPath, true);
    checkString(failures, "kernelCmdline", news.kernelCmdline, true);
    const firmwareConfig: unknown = news.firmwareConfig;
    if (firmwareConfig !== undefined && !isUnknown(firmwareConfig)) {
        if (firmwareConfig === null || typeof firmwareConfig !== "object" || Array.isArray(firmwareConfig)) {
            failures.push({ property: "firmwareConfig", reason: 'firmwareConfig must be an object of entry name ("opt/...") to text' });
        } else {
            for (const [name, text] of Object.entries(firmwareConfig)) {
                const problem = firmwareConfigNameProblem(name);
                if (problem !== undefined) {
                    failures.push({ property: "firmwareConfig", reason: problem });
                }
                checkString(failures, `firmwareConfig["${name}"]`, text);
            }
        }
    }
    const given = (value: unknown): boolean => value !== undefined && value !== "";
    if (given(news.kernelPath) !== given(news.kernelCmdline)) {
        failures.push({ property: "kernelCmdline", reason: "kernelPath and kernelCmdline go together: a kernel booted directly needs its command line" });
    }
    if (given(news.initrdPath) && !given(news.kernelPath)) {
        failures.push({ property: "initrdPath", reason: "initrdPath needs kernelPath (an initramfs for the kernel booted directly)" });
    }
    checkAbsolutePath(failures, "consoleLogPath", news.consoleLogPath, true);
    checkString(failures, "diskFormat", news.diskFormat, true);
    checkString(failures, "cpuModel", news.cpuModel, true);

    let nics = news.nics;
    if (!isUnknown(nics)) {
        if (!Array.isArray(nics)) {
            failures.push({ property: "nics", reason: "nics must be a list of { network, mac }" });
        } else {
            const seen = new Set<string>();
            nics = nics.map((nic, i) => {
                if (isUnknown(nic) || nic === null || typeof nic !== "object") {
                    return nic;
                }
                checkName(failures, `nics[${i}].network`, nic.network);
                if (isUnknown(nic.mac)) {
                    return nic;
                }
                const mac = typeof nic.mac === "string" ? normalizeMac(nic.mac) : undefined;
                if (!mac) {
                    failures.push({
                        property: `nics[${i}].mac`,
                        reason: `nics[${i}].mac ${JSON.stringify(nic.mac)} is not a unicast MAC address such as 52:54:00:12:34:56`,
                    });
                    return nic;
                }
                if (seen.has(mac)) {
                    failures.push({ property: `nics[${i}].mac`, reason: `nics[${i}].mac ${mac} is used twice in this domain` });
                }
                seen.add(mac);
                checkInteger(failures, `nics[${i}].mtu`, nic.mtu, 68, 65535, true);
                return { network: nic.network, mac, ...(nic.mtu !== undefined ? { mtu: nic.mtu } : {}) };
            });
        }
    }
    const filled: DomainInputs = {
        ...news,
        nics,
        diskFormat: news.diskFormat ?? "qcow2",
        cpuModel: news.cpuModel ?? (isUnknown(news.domainType) ? undefined : defaultCpuModel(news.domainType)),
        consoleLogPath:
            news.consoleLogPath ?? (isUnknown(news.name) || typeof news.name !== "string" ? undefined : defaultConsoleLogPath(news.name)),
    };
    // A default that derives from a value still unknown (in a preview) is left
    // out, not set to undefined: the engine's protobuf Struct refuses undefined.
    const inputs = Object.fromEntries(Object.entries(filled).filter(([, value]) => value !== undefined)) as DomainInputs;
    return { inputs, failures };
}

export function diffDomain(olds: DomainOutputs, news: DomainInputs): DiffAnswer {
    const d = replacingDiff({ ...olds }, { ...news }, DOMAIN_KEYS, (o, n) => sameKnown(o, n, ["connectionUri", "name"]));
    if (!d.changes && olds.running === false) {
        // Shut off behind our back (seen by a refresh): start it in place.
        return { changes: true, replaces: [], deleteBeforeReplace: false };
    }
    return d;
}

async function domainInfo(uri: string, ref: string, name: string): Promise<Record<string, string> | undefined> {
    const r = await virsh(uri, ["dominfo", ref]);
    if (r.code === 0) {
        return parseInfo(r.stdout);
    }
    if (isNotFound(r)) {
        return undefined;
    }
    throw virshError(KIND, name, ["dominfo"], r);
}

function isRunningState(state: string | undefined): boolean {
    return state !== undefined && state !== "shut off" && state !== "crashed";
}

function outputsFrom(inputs: DomainInputs, info: Record<string, string>): DomainOutputs {
    const state = info["State"] ?? "unknown";
    return { ...inputs, name: info["Name"] ?? inputs.name, uuid: info["UUID"] ?? "", state, running: isRunningState(state) };
}

/** The full spec for the renderer, defaults applied (check() normally did that already). */
function specOf(inputs: DomainInputs) {
    return {
        ...inputs,
        diskFormat: inputs.diskFormat ?? "qcow2",
        cpuModel: inputs.cpuModel ?? defaultCpuModel(inputs.domainType),
        consoleLogPath: inputs.consoleLogPath ?? defaultConsoleLogPath(inputs.name),
    };
}

export async function createDomain(inputs: DomainInputs): Promise<{ id: string; outs: DomainOutputs }> {
    const uri = inputs.connectionUri;
    const name = inputs.name;
    const spec = specOf(inputs);
    const dir = await fsp.mkdtemp(join(tmpdir(), "lvslab-dom-"));
    try {
        const file = join(dir, "domain.xml");
        await fsp.writeFile(file, renderDomainXml(spec));
        await virshOk(KIND, name, uri, ["define", file, "--validate"]);
    } finally {
        await fsp.rm(dir, { recursive: true, force: true });
    }
    try {
        await virshOk(KIND, name, uri, ["start", name]);
        const info = await domainInfo(uri, name, name);
        if (!info) {
            throw new Error(`libvirt ${KIND} "${name}": vanished right after it was started`);
        }
        const outs = outputsFrom(spec, info);
        return { id: outs.uuid, outs };
    } catch (e) {
        // Create must leave nothing behind when it fails.
        // Keep the logs: they tell why the start failed.
        await removeDomain(uri, name, name, undefined, false).catch(() => undefined);
        throw e;
    }
}

export async function readDomain(
    id: string,
    props: DomainOutputs,
): Promise<ReadAnswer<DomainOutputs>> {
    const info = await domainInfo(props.connectionUri, id, props.name);
    if (!info) {
        return { id: "" };
    }
    return { id, props: outputsFrom(props, info) };
}

export async function updateDomain(id: string, news: DomainInputs): Promise<{ outs: DomainOutputs }> {
    const uri = news.connectionUri;
    const now = await domainInfo(uri, id, news.name);
    if (!now) {
        throw new Error(`libvirt ${KIND} "${news.name}": not found (uuid ${id}); run a refresh to recreate it`);
    }
    if (!isRunningState(now["State"])) {
        await virshOk(KIND, news.name, uri, ["start", id]);
    }
    const info = await domainInfo(uri, id, news.name);
    return { outs: outputsFrom({ ...specOf(news) }, info ?? now) };
}

/**
 * destroy (if running) then undefine with its managed save, snapshot and
 * checkpoint metadata and nvram; a domain already gone is fine. Removes the
 * console log (and libvirt's NAME.log): directly when the URI is local, over
 * ssh when it is qemu+ssh.
 */
export async function removeDomain(
    uri: string,
    ref: string,
    name: string,
    consoleLogPath: string | undefined,
    removeLogs = true,
): Promise<void> {
    const info = await domainInfo(uri, ref, name);
    if (info) {
        if (info["State"] !== "shut off") {
            const r = await virsh(uri, ["destroy", ref]);
            if (r.code !== 0 && !isNotFound(r)) {
                const again = await domainInfo(uri, ref, name);
                if (again && again["State"] !== "shut off") {
                    throw virshError(KIND, name, ["destroy"], r);
                }
            }
        }
        if (info["Persistent"] !== "no") {
            const args = ["undefine", ref, "--managed-save", "--snapshots-metadata", "--checkpoints-metadata", "--nvram"];
            const r = await virsh(uri, args);
            if (r.code !== 0 && !isNotFound(r)) {
                throw virshError(KIND, name, args, r);
            }
        }
    }
    const files = [consoleLogPath ?? defaultConsoleLogPath(name), `/var/log/libvirt/qemu/${name}.log`];
    if (removeLogs && isLocalUri(uri)) {
        await Promise.all(files.map((f) => fsp.rm(f, { force: true }).catch(() => undefined)));
    } else if (removeLogs && sshRouteOf(uri)) {
        // A remote host's logs go the way libvirt reaches it; a host that
        // refuses is not worth failing the delete for.
        await runOnHost(uri, ["rm", "-f", "--", ...files]).catch(() => undefined);
    }
}

export async function deleteDomain(id: string, props: DomainOutputs): Promise<void> {
    await removeDomain(props.connectionUri, id || props.name, props.name, props.consoleLogPath);
}

/** The dynamic provider: thin wrappers over the functions above. */
export const domainProvider: pulumi.dynamic.ResourceProvider<DomainInputs, DomainOutputs> = {
    check: async (_olds, news) => checkDomain(news),
    diff: async (_id, olds, news) => diffDomain(olds, news),
    create: async (inputs) => createDomain(inputs),
    read: async (id, props) => readDomain(id, props as DomainOutputs),
    update: async (id, _olds, news) => updateDomain(id, news),
    delete: async (id, props) => deleteDomain(id, props),
};

/** Type token: `pulumi-nodejs:dynamic/libvirt:Domain`. */
export const DOMAIN_TYPE = "pulumi-nodejs:dynamic/libvirt:Domain";

/** A libvirt domain, defined and started. */
export class Domain extends pulumi.dynamic.Resource {
    /** libvirt domain name. */
    declare public readonly name: pulumi.Output<string>;
    /** libvirt's UUID of the domain (also the resource id). */
    declare public readonly uuid: pulumi.Output<string>;
    declare public readonly connectionUri: pulumi.Output<string>;
    declare public readonly domainType: pulumi.Output<"kvm" | "qemu">;
    declare public readonly vcpus: pulumi.Output<number>;
    declare public readonly memoryMiB: pulumi.Output<number>;
    declare public readonly diskPath: pulumi.Output<string>;
    declare public readonly diskFormat: pulumi.Output<string>;
    declare public readonly cloudInitPath: pulumi.Output<string | undefined>;
    declare public readonly kernelPath: pulumi.Output<string | undefined>;
    declare public readonly initrdPath: pulumi.Output<string | undefined>;
    declare public readonly kernelCmdline: pulumi.Output<string | undefined>;
    declare public readonly nics: pulumi.Output<NicSpec[]>;
    /** Where the serial console is written (the default filled in). */
    declare public readonly consoleLogPath: pulumi.Output<string>;
    declare public readonly cpuModel: pulumi.Output<string>;

    constructor(name: string, args: DomainArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            domainProvider,
            name,
            {
                diskFormat: undefined,
                cloudInitPath: undefined,
                kernelPath: undefined,
                initrdPath: undefined,
                kernelCmdline: undefined,
                consoleLogPath: undefined,
                cpuModel: undefined,
                ...args,
                uuid: undefined,
                state: undefined,
                running: undefined,
            },
            opts,
            "libvirt",
            "Domain",
        );
    }
}
