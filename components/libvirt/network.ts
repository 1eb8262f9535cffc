// libvirt network as a Pulumi dynamic resource: defined, started, autostarted.

import * as pulumi from "@pulumi/pulumi";
import { promises as fsp } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
    CheckAnswer,
    DiffAnswer,
    ReadAnswer,
    Failure,
    bridgeNameProblem,
    checkInteger,
    checkName,
    checkOneOf,
    checkString,
    hostAddressProblem,
    isUnknown,
    replacingDiff,
} from "./checks";
import { isNotFound, parseInfo, virsh, virshError, virshOk } from "./virsh";
import { NetworkSpec, renderNetworkXml } from "./xml";

export interface NetworkArgs {
    /** libvirt connection URI, e.g. "qemu:///system". Required. */
    connectionUri: pulumi.Input<string>;
    /** libvirt network name. Required. */
    name: pulumi.Input<string>;
    /** Name of the Linux bridge libvirt creates, at most 15 characters. Required. */
    bridgeName: pulumi.Input<string>;
    /** "nat": `<forward mode='nat'/>`; "isolated": no `<forward>`. Required. */
    mode: pulumi.Input<"nat" | "isolated">;
    /**
     * Address of the host on the bridge, e.g. "172.16.16.1". Required for
     * "nat"; without it an isolated network is a bridge the host has no
     * address on (a lab network's segment on a host other than the gateway).
     */
    hostAddress?: pulumi.Input<string>;
    /** Prefix length of the subnet, e.g. 24. Required with hostAddress. */
    prefixLength?: pulumi.Input<number>;
    /**
     * Run libvirt's dnsmasq as a DNS server on hostAddress. Default: false
     * (no DHCP either, so no dnsmasq runs for the network at all).
     */
    dns?: pulumi.Input<boolean>;
    /** MTU of the bridge and the guests' NICs on it, e.g. 1450 under VXLAN. Default: libvirt's (1500). */
    mtu?: pulumi.Input<number>;
}

/** The inputs as the provider sees them (resolved): the network's spec and where to make it. */
export interface NetworkInputs extends NetworkSpec {
    connectionUri: string;
}

/** What the provider stores: the inputs plus what libvirt reports. */
export interface NetworkOutputs extends NetworkInputs {
    uuid: string;
    /** Whether the network is running (read back; false after a net-destroy behind our back). */
    active: boolean;
    autostart: boolean;
}

const KIND = "Network";
/** Every input replaces: libvirt cannot change a running network's bridge or subnet. */
const NETWORK_KEYS = ["connectionUri", "name", "bridgeName", "mode", "hostAddress", "prefixLength", "dns", "mtu"] as const;

export function checkNetwork(news: NetworkInputs): CheckAnswer<NetworkInputs> {
    const failures: Failure[] = [];
    checkString(failures, "connectionUri", news.connectionUri);
    checkName(failures, "name", news.name);
    checkOneOf(failures, "mode", news.mode, ["nat", "isolated"]);
    if (!isUnknown(news.bridgeName)) {
        const problem = typeof news.bridgeName === "string" ? bridgeNameProblem(news.bridgeName) : "bridgeName must be a string";
        if (problem) {
            failures.push({ property: "bridgeName", reason: problem });
        }
    }
    checkInteger(failures, "mtu", news.mtu, 68, 65535, true);
    if (news.hostAddress === undefined) {
        if (news.mode === "nat") {
            failures.push({ property: "hostAddress", reason: "a NAT network needs the host's address on it (its gateway)" });
        }
    } else if (!isUnknown(news.hostAddress) && !isUnknown(news.prefixLength)) {
        const problem = hostAddressProblem(String(news.hostAddress), Number(news.prefixLength));
        if (problem) {
            failures.push({ property: problem.startsWith("prefixLength") ? "prefixLength" : "hostAddress", reason: problem });
        }
    }
    const inputs: NetworkInputs = { ...news, dns: news.dns ?? false };
    return { inputs, failures };
}

export function diffNetwork(olds: NetworkOutputs, news: NetworkInputs): DiffAnswer {
    // Two networks cannot share a name, a bridge or (in practice) a subnet:
    // a replaced network always goes first.
    const d = replacingDiff({ ...olds }, { ...news }, NETWORK_KEYS, () => true);
    if (!d.changes && (olds.active === false || olds.autostart === false)) {
        // Stopped behind our back (seen by a refresh): start it again in place.
        return { changes: true, replaces: [], deleteBeforeReplace: false };
    }
    return d;
}

async function networkInfo(uri: string, ref: string, name: string): Promise<Record<string, string> | undefined> {
    const r = await virsh(uri, ["net-info", ref]);
    if (r.code === 0) {
        return parseInfo(r.stdout);
    }
    if (isNotFound(r)) {
        return undefined;
    }
    throw virshError(KIND, name, ["net-info"], r);
}

function outputsFrom(inputs: NetworkInputs, info: Record<string, string>): NetworkOutputs {
    return {
        ...inputs,
        name: info["Name"] ?? inputs.name,
        bridgeName: info["Bridge"] ?? inputs.bridgeName,
        uuid: info["UUID"] ?? "",
        active: info["Active"] === "yes",
        autostart: info["Autostart"] === "yes",
    };
}

export async function createNetwork(inputs: NetworkInputs): Promise<{ id: string; outs: NetworkOutputs }> {
    const uri = inputs.connectionUri;
    const name = inputs.name;
    const dir = await fsp.mkdtemp(join(tmpdir(), "lvslab-net-"));
    try {
        const file = join(dir, "network.xml");
        await fsp.writeFile(file, renderNetworkXml(inputs));
        await virshOk(KIND, name, uri, ["net-define", file, "--validate"]);
    } finally {
        await fsp.rm(dir, { recursive: true, force: true });
    }
    try {
        await virshOk(KIND, name, uri, ["net-start", name]);
        await virshOk(KIND, name, uri, ["net-autostart", name]);
        const info = await networkInfo(uri, name, name);
        if (!info) {
            throw new Error(`libvirt ${KIND} "${name}": vanished right after it was started`);
        }
        const outs = outputsFrom(inputs, info);
        return { id: outs.uuid, outs };
    } catch (e) {
        // Create must leave nothing behind when it fails.
        await removeNetwork(uri, name, name).catch(() => undefined);
        throw e;
    }
}

export async function readNetwork(
    id: string,
    props: NetworkOutputs,
): Promise<ReadAnswer<NetworkOutputs>> {
    const info = await networkInfo(props.connectionUri, id, props.name);
    if (!info) {
        return { id: "" };
    }
    return { id, props: outputsFrom(props, info) };
}

export async function updateNetwork(id: string, news: NetworkInputs): Promise<{ outs: NetworkOutputs }> {
    const uri = news.connectionUri;
    // Act on what libvirt says now, not on the state (which may be stale).
    const now = await networkInfo(uri, id, news.name);
    if (!now) {
        throw new Error(`libvirt ${KIND} "${news.name}": not found (uuid ${id}); run a refresh to recreate it`);
    }
    if (now["Active"] !== "yes") {
        await virshOk(KIND, news.name, uri, ["net-start", id]);
    }
    if (now["Autostart"] !== "yes") {
        await virshOk(KIND, news.name, uri, ["net-autostart", id]);
    }
    const info = await networkInfo(uri, id, news.name);
    return { outs: outputsFrom(news, info ?? now) };
}

/** net-destroy then net-undefine; an absent or inactive network is fine. */
export async function removeNetwork(uri: string, ref: string, name: string): Promise<void> {
    const info = await networkInfo(uri, ref, name);
    if (!info) {
        return;
    }
    if (info["Active"] === "yes") {
        const r = await virsh(uri, ["net-destroy", ref]);
        if (r.code !== 0 && !isNotFound(r)) {
            const again = await networkInfo(uri, ref, name);
            if (again && again["Active"] === "yes") {
                throw virshError(KIND, name, ["net-destroy"], r);
            }
        }
    }
    if (info["Persistent"] !== "no") {
        const r = await virsh(uri, ["net-undefine", ref]);
        if (r.code !== 0 && !isNotFound(r)) {
            throw virshError(KIND, name, ["net-undefine"], r);
        }
    }
}

export async function deleteNetwork(id: string, props: NetworkOutputs): Promise<void> {
    await removeNetwork(props.connectionUri, id || props.name, props.name);
}

/** The dynamic provider: thin wrappers over the functions above. */
export const networkProvider: pulumi.dynamic.ResourceProvider<NetworkInputs, NetworkOutputs> = {
    check: async (_olds, news) => checkNetwork(news),
    diff: async (_id, olds, news) => diffNetwork(olds, news),
    create: async (inputs) => createNetwork(inputs),
    read: async (id, props) => readNetwork(id, props as NetworkOutputs),
    update: async (id, _olds, news) => updateNetwork(id, news),
    delete: async (id, props) => deleteNetwork(id, props),
};

/** Type token: `pulumi-nodejs:dynamic/libvirt:Network`. */
export const NETWORK_TYPE = "pulumi-nodejs:dynamic/libvirt:Network";

/** A libvirt network (no DHCP), defined, started and marked autostart. */
export class Network extends pulumi.dynamic.Resource {
    /** libvirt network name. */
    declare public readonly name: pulumi.Output<string>;
    /** Bridge that libvirt created for it. */
    declare public readonly bridgeName: pulumi.Output<string>;
    /** libvirt's UUID of the network (also the resource id). */
    declare public readonly uuid: pulumi.Output<string>;
    declare public readonly mode: pulumi.Output<"nat" | "isolated">;
    declare public readonly hostAddress: pulumi.Output<string | undefined>;
    declare public readonly prefixLength: pulumi.Output<number | undefined>;
    declare public readonly connectionUri: pulumi.Output<string>;

    constructor(name: string, args: NetworkArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            networkProvider,
            name,
            { ...args, uuid: undefined, active: undefined, autostart: undefined },
            opts,
            "libvirt",
            "Network",
        );
    }
}
