// A VXLAN tunnel port on a libvirt network's bridge, as a Pulumi dynamic
// resource: how one lab network's segment on this host is joined to its
// segments on the other hosts (one VNI per network). libvirt has no VXLAN
// network type, so this drives `ip` and `bridge` on the host behind the
// connection URI (see hostShell.ts): here for a local URI, over ssh for a
// qemu+ssh one.
//
// Frames for a MAC not yet learned (and broadcasts such as ARP) go to every
// remote endpoint (head-end replication: one all-zero fdb entry per remote),
// so no multicast is needed on the underlay and any number of hosts works.

import * as pulumi from "@pulumi/pulumi";
import { isIPv4 } from "net";
import { CheckAnswer, DiffAnswer, Failure, ReadAnswer, bridgeNameProblem, changedKeys, checkInteger, checkString, isUnknown } from "./checks";
import { runOnHost } from "./hostShell";
import { RunResult, failureText } from "./virsh";

export interface VxlanTunnelArgs {
    /** libvirt URI of the host whose bridge the tunnel joins (its shell is reached the same way). Required. */
    connectionUri: pulumi.Input<string>;
    /** Name of the VXLAN device, at most 15 characters. Required. */
    deviceName: pulumi.Input<string>;
    /** The bridge it becomes a port of (a libvirt network's). Required. */
    bridgeName: pulumi.Input<string>;
    /** VXLAN network identifier, 1..16777215. Required. */
    vni: pulumi.Input<number>;
    /** This host's endpoint address on the underlay. Required. */
    localAddress: pulumi.Input<string>;
    /** The other hosts' endpoint addresses. Required. */
    remoteAddresses: pulumi.Input<pulumi.Input<string>[]>;
    /** UDP port of every endpoint. Default: 4789. */
    port?: pulumi.Input<number>;
    /** MTU of the device: the underlay's less 50 bytes. Required. */
    mtu: pulumi.Input<number>;
    /**
     * The joined network's libvirt UUID: a network made anew has a new
     * bridge, which the tunnel must join again. Default: none.
     */
    networkUuid?: pulumi.Input<string>;
}

/** The inputs as the provider sees them (resolved). */
export interface VxlanTunnelInputs {
    connectionUri: string;
    deviceName: string;
    bridgeName: string;
    vni: number;
    localAddress: string;
    remoteAddresses: string[];
    port: number;
    mtu: number;
    networkUuid?: string;
}

/** What the provider stores: the inputs as read back, and whether the device is an up port of the bridge. */
export interface VxlanTunnelOutputs extends VxlanTunnelInputs {
    attached: boolean;
}

const KIND = "VxlanTunnel";
export const VXLAN_PORT = 4789;
/** What identifies the device on its host: changing either makes another device. */
const IDENTITY_KEYS = ["connectionUri", "deviceName"] as const;
/** What `ensureTunnel` puts right in place (by remaking the device where needed). */
const SETTING_KEYS = ["bridgeName", "vni", "localAddress", "remoteAddresses", "port", "mtu", "networkUuid"] as const;

export function checkVxlanTunnel(news: VxlanTunnelInputs): CheckAnswer<VxlanTunnelInputs> {
    const failures: Failure[] = [];
    checkString(failures, "connectionUri", news.connectionUri);
    for (const key of ["deviceName", "bridgeName"] as const) {
        const value = news[key];
        if (!isUnknown(value)) {
            const problem = typeof value === "string" ? bridgeNameProblem(value) : `${key} must be a string`;
            if (problem) {
                failures.push({ property: key, reason: problem.replace(/^bridge name/, key === "deviceName" ? "device name" : "bridge name") });
            }
        }
    }
    checkInteger(failures, "vni", news.vni, 1, 16777215);
    checkInteger(failures, "port", news.port, 1, 65535, true);
    checkInteger(failures, "mtu", news.mtu, 68, 65535);
    if (!isUnknown(news.localAddress) && !(typeof news.localAddress === "string" && isIPv4(news.localAddress))) {
        failures.push({ property: "localAddress", reason: `localAddress must be an IPv4 address (got ${JSON.stringify(news.localAddress)})` });
    }
    if (!isUnknown(news.remoteAddresses)) {
        const remotes: unknown = news.remoteAddresses;
        if (!Array.isArray(remotes) || remotes.length === 0 || !remotes.every((r) => isUnknown(r) || (typeof r === "string" && isIPv4(r)))) {
            failures.push({ property: "remoteAddresses", reason: "remoteAddresses must be a non-empty list of IPv4 addresses (the other hosts' endpoints)" });
        } else if (remotes.includes(news.localAddress)) {
            failures.push({ property: "remoteAddresses", reason: `remoteAddresses lists this host's own endpoint ${String(news.localAddress)}` });
        }
    }
    return { inputs: { ...news, port: news.port ?? VXLAN_PORT }, failures };
}

export function diffVxlanTunnel(olds: VxlanTunnelOutputs, news: VxlanTunnelInputs): DiffAnswer {
    const replaces = changedKeys({ ...olds }, { ...news }, IDENTITY_KEYS);
    if (replaces.length > 0) {
        // The same device name on the same host cannot exist twice.
        return { changes: true, replaces, deleteBeforeReplace: true };
    }
    const changed = changedKeys({ ...olds }, { ...news }, SETTING_KEYS);
    // A refresh that found the device gone from its bridge (the network was
    // restarted behind our back) puts it back in place.
    return { changes: changed.length > 0 || olds.attached === false, replaces: [], deleteBeforeReplace: false };
}

/** One device as `ip -details -json link show` describes it (the parts read here). */
interface IpLink {
    ifname?: string;
    mtu?: number;
    master?: string;
    flags?: string[];
    linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number } };
}

/** What a tunnel device on the host is now. */
export interface TunnelState {
    kind: string;
    vni?: number;
    localAddress?: string;
    port?: number;
    mtu?: number;
    master?: string;
    up: boolean;
}

/** Reads `ip -d -j link show dev X`; undefined for output that describes no device. */
export function parseIpLink(json: string): TunnelState | undefined {
    let links: IpLink[];
    try {
        links = JSON.parse(json) as IpLink[];
    } catch {
        return undefined;
    }
    const link = Array.isArray(links) ? links[0] : undefined;
    if (!link) {
        return undefined;
    }
    const data = link.linkinfo?.info_data ?? {};
    return {
        kind: link.linkinfo?.info_kind ?? "",
        vni: data.id,
        localAddress: data.local,
        port: data.port,
        mtu: link.mtu,
        master: link.master,
        up: (link.flags ?? []).includes("UP"),
    };
}

/** The remote endpoints in `bridge -j fdb show dev X`: the all-zero entries' destinations. */
export function parseFloodTargets(json: string): string[] {
    let entries: { mac?: string; dst?: string }[];
    try {
        entries = JSON.parse(json) as { mac?: string; dst?: string }[];
    } catch {
        return [];
    }
    return (Array.isArray(entries) ? entries : [])
        .filter((entry) => entry.mac === "00:00:00:00:00:00" && typeof entry.dst === "string")
        .map((entry) => entry.dst as string);
}

function tunnelError(name: string, what: string, r: RunResult): Error {
    return new Error(`${KIND} "${name}": ${what} failed: ${failureText(r)}`);
}

async function hostOk(uri: string, name: string, argv: string[]): Promise<string> {
    const r = await runOnHost(uri, argv, { timeoutMs: 60_000 });
    if (r.code !== 0) {
        throw tunnelError(name, argv.join(" "), r);
    }
    return r.stdout;
}

/** The device's state, or undefined when the host has no such device. */
async function tunnelState(uri: string, device: string): Promise<TunnelState | undefined> {
    const r = await runOnHost(uri, ["ip", "-details", "-json", "link", "show", "dev", device], { timeoutMs: 60_000 });
    if (r.code !== 0) {
        if (/does not exist|Cannot find device/.test(r.stderr)) {
            return undefined;
        }
        throw tunnelError(device, "ip link show", r);
    }
    return parseIpLink(r.stdout);
}

async function floodTargets(uri: string, device: string): Promise<string[]> {
    return parseFloodTargets(await hostOk(uri, device, ["bridge", "-json", "fdb", "show", "dev", device]));
}

/**
 * Makes the device on the host what the inputs say, whatever is there now:
 * a device of the same name with another VNI, endpoint or port is made
 * anew; the flood list, MTU and bridge are set in place.
 */
export async function ensureTunnel(inputs: VxlanTunnelInputs): Promise<VxlanTunnelOutputs> {
    const uri = inputs.connectionUri;
    const device = inputs.deviceName;
    let state = await tunnelState(uri, device);
    if (state && (state.kind !== "vxlan" || state.vni !== inputs.vni || state.localAddress !== inputs.localAddress || state.port !== inputs.port)) {
        await hostOk(uri, device, ["ip", "link", "del", "dev", device]);
        state = undefined;
    }
    if (!state) {
        await hostOk(uri, device, ["ip", "link", "add", device, "type", "vxlan", "id", String(inputs.vni), "local", inputs.localAddress, "dstport", String(inputs.port)]);
    }
    try {
        const present = await floodTargets(uri, device);
        for (const remote of present.filter((address) => !inputs.remoteAddresses.includes(address))) {
            await hostOk(uri, device, ["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", device, "dst", remote]);
        }
        for (const remote of inputs.remoteAddresses.filter((address) => !present.includes(address))) {
            await hostOk(uri, device, ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", device, "dst", remote]);
        }
        await hostOk(uri, device, ["ip", "link", "set", "dev", device, "mtu", String(inputs.mtu), "master", inputs.bridgeName, "up"]);
    } catch (e) {
        // Create must leave nothing behind when it fails.
        if (!state) {
            await runOnHost(uri, ["ip", "link", "del", "dev", device]).catch(() => undefined);
        }
        throw e;
    }
    return { ...inputs, attached: true };
}

export async function createVxlanTunnel(inputs: VxlanTunnelInputs): Promise<{ id: string; outs: VxlanTunnelOutputs }> {
    return { id: `${inputs.deviceName}@${inputs.connectionUri}`, outs: await ensureTunnel(inputs) };
}

export async function readVxlanTunnel(id: string, props: VxlanTunnelOutputs): Promise<ReadAnswer<VxlanTunnelOutputs>> {
    const state = await tunnelState(props.connectionUri, props.deviceName);
    if (!state || state.kind !== "vxlan") {
        return { id: "" };
    }
    return {
        id,
        props: {
            ...props,
            vni: state.vni ?? props.vni,
            localAddress: state.localAddress ?? props.localAddress,
            port: state.port ?? props.port,
            mtu: state.mtu ?? props.mtu,
            remoteAddresses: await floodTargets(props.connectionUri, props.deviceName),
            attached: state.master === props.bridgeName && state.up,
        },
    };
}

export async function deleteVxlanTunnel(props: VxlanTunnelOutputs): Promise<void> {
    if (await tunnelState(props.connectionUri, props.deviceName)) {
        await hostOk(props.connectionUri, props.deviceName, ["ip", "link", "del", "dev", props.deviceName]);
    }
}

/** The dynamic provider: thin wrappers over the functions above. */
export const vxlanTunnelProvider: pulumi.dynamic.ResourceProvider<VxlanTunnelInputs, VxlanTunnelOutputs> = {
    check: async (_olds, news) => checkVxlanTunnel(news),
    diff: async (_id, olds, news) => diffVxlanTunnel(olds, news),
    create: async (inputs) => createVxlanTunnel(inputs),
    read: async (id, props) => readVxlanTunnel(id, props as VxlanTunnelOutputs),
    update: async (_id, _olds, news) => ({ outs: await ensureTunnel(news) }),
    delete: async (_id, props) => deleteVxlanTunnel(props),
};

/** Type token: `pulumi-nodejs:dynamic/libvirt:VxlanTunnel`. */
export const VXLAN_TUNNEL_TYPE = "pulumi-nodejs:dynamic/libvirt:VxlanTunnel";

/** A VXLAN port on a libvirt network's bridge, joining it to the same network's bridges on other hosts. */
export class VxlanTunnel extends pulumi.dynamic.Resource {
    declare public readonly connectionUri: pulumi.Output<string>;
    declare public readonly deviceName: pulumi.Output<string>;
    declare public readonly bridgeName: pulumi.Output<string>;
    declare public readonly vni: pulumi.Output<number>;
    declare public readonly localAddress: pulumi.Output<string>;
    declare public readonly remoteAddresses: pulumi.Output<string[]>;
    declare public readonly mtu: pulumi.Output<number>;
    /** Whether the device was an up port of its bridge when last read. */
    declare public readonly attached: pulumi.Output<boolean>;

    constructor(name: string, args: VxlanTunnelArgs, opts?: pulumi.CustomResourceOptions) {
        super(vxlanTunnelProvider, name, { port: undefined, networkUuid: undefined, ...args, attached: undefined }, opts, "libvirt", "VxlanTunnel");
    }
}
