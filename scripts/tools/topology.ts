// The lab as the #13 tools see it: every machine with its role, addresses,
// libvirt domain, NIC MACs and the host it runs on, read from the stack
// outputs alone (the outputs are the source of truth; nothing here is drawn
// by hand). A spread lab's outputs say which host runs which machine
// (libvirt.hosts, the gateway host first); a one-host lab has one host.
import { macFor } from "../../components/net";
import { PUBLIC_NETWORK_INDEX, STORAGE_NETWORK_INDEX } from "../../components/nics";
import type { LabOutputValues } from "../../components/program";

export type MachineRole = "director" | "realServer" | "nfs";
export type NicName = "public" | "storage";

/** One NIC of a machine: which network, its address and MAC. */
export interface MachineNic {
    network: NicName;
    /** The libvirt network's name (from the outputs). */
    libvirtNetwork: string;
    address: string;
    mac: string;
}

/** One libvirt host of the lab and the machines it runs. */
export interface LabHost {
    /** The host's name in the stack config ("a"); "local" for a one-host lab, as the config names it. */
    name: string;
    /** Its libvirt URI: qemu:///system here, qemu+ssh://... for another host. */
    uri: string;
    machines: string[];
}

export interface LabMachine {
    name: string;
    role: MachineRole;
    /** libvirt's domain name: the stack's prefix and the machine's name (the same on every host). */
    domain: string;
    /** The name of the host it runs on (see LabHost). */
    host: string;
    /** That host's libvirt URI: where its domain and its taps are. */
    libvirtUri: string;
    nics: MachineNic[];
    /** The address SSH reaches it on (public if it has one, else storage). */
    sshAddress: string;
    /** Directors: "single", "MASTER" or "BACKUP". */
    directorRole?: string;
    /** Real servers: weight, and the address IPVS forwards to (storage in NAT mode). */
    weight?: number;
    forwardingAddress?: string;
}

export interface LabTopology {
    vip: string;
    ports: number[];
    mode: string;
    scheduler: string;
    keepalived: boolean;
    healthCheck?: string;
    nfsExport: string;
    ssh: LabOutputValues["ssh"];
    /** The gateway host's libvirt URI (the only host's in a one-host lab): where the networks' facts are read. */
    libvirtUri: string;
    /** Every host the lab uses, the gateway host first; one for a one-host lab. */
    hosts: LabHost[];
    /** True when the lab runs on more than one host (its outputs list them). */
    spread: boolean;
    libvirtPrefix: string;
    networks: { public: string; storage: string };
    machines: LabMachine[];
}

/** The part of the stack outputs the tools read; healthCheck may be missing from an older program's outputs. */
type ToolOutputs = Pick<
    LabOutputValues,
    "vip" | "ports" | "mode" | "scheduler" | "keepalived" | "nfsExport" | "directors" | "realServers" | "nfs" | "ssh" | "libvirt"
> &
    Partial<Pick<LabOutputValues, "healthCheck">>;

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A spread lab's `libvirt.hosts` as the program writes it: names, URIs and machine names. */
function isHostList(value: unknown): value is LabHost[] {
    return (
        Array.isArray(value) &&
        value.length > 0 &&
        value.every(
            (host) =>
                isRecord(host) &&
                typeof host.name === "string" &&
                typeof host.uri === "string" &&
                Array.isArray(host.machines) &&
                host.machines.every((machine) => typeof machine === "string"),
        )
    );
}

/** The outputs of a stack that has a lab: anything else is refused with what is missing. */
export function topologyFromOutputs(outputs: unknown, stackName: string): LabTopology {
    if (!isRecord(outputs) || typeof outputs.vip !== "string") {
        throw new Error(`stack ${stackName} has no lab (no vip in its outputs): bring one up with scripts/lab up --stack ${stackName}`);
    }
    const missing = ["ports", "mode", "scheduler", "directors", "realServers", "nfs", "ssh", "libvirt", "nfsExport"].filter(
        (key) => outputs[key] === undefined,
    );
    const libvirt = outputs.libvirt;
    if (isRecord(libvirt) && (!Array.isArray(libvirt.networks) || libvirt.networks.length < 2 || typeof libvirt.prefix !== "string")) {
        missing.push("libvirt.networks/prefix");
    }
    if (isRecord(libvirt) && libvirt.hosts !== undefined && !isHostList(libvirt.hosts)) {
        missing.push("libvirt.hosts (a list of name, uri and machines)");
    }
    if (missing.length > 0) {
        throw new Error(
            `stack ${stackName}'s outputs lack ${missing.join(", ")}: they come from an older program; run scripts/lab up --stack ${stackName} to refresh them`,
        );
    }
    const o = outputs as unknown as ToolOutputs;
    const [publicNetwork, storageNetwork] = o.libvirt.networks;
    const names = [...o.directors.map((d) => d.name), ...o.realServers.map((s) => s.name), o.nfs.name];
    const spread = o.libvirt.hosts !== undefined;
    const hosts: LabHost[] = o.libvirt.hosts?.map((host) => ({ name: host.name, uri: host.uri, machines: [...host.machines] })) ?? [
        { name: "local", uri: o.libvirt.uri, machines: names },
    ];
    // A machine no host lists runs on the gateway host, as the config places it by default.
    const hostOf = (name: string): LabHost => hosts.find((host) => host.machines.includes(name)) ?? hosts[0];
    const placed = (name: string): { domain: string; host: string; libvirtUri: string } => ({
        domain: `${o.libvirt.prefix}-${name}`,
        host: hostOf(name).name,
        libvirtUri: hostOf(name).uri,
    });
    const publicNic = (address: string): MachineNic => ({
        network: "public",
        libvirtNetwork: publicNetwork,
        address,
        mac: macFor(PUBLIC_NETWORK_INDEX, address),
    });
    const storageNic = (address: string): MachineNic => ({
        network: "storage",
        libvirtNetwork: storageNetwork,
        address,
        mac: macFor(STORAGE_NETWORK_INDEX, address),
    });
    const machines: LabMachine[] = [
        ...o.directors.map((d) => ({
            name: d.name,
            role: "director" as const,
            ...placed(d.name),
            nics: [publicNic(d.publicIp), storageNic(d.storageIp)],
            sshAddress: d.publicIp,
            directorRole: d.role,
        })),
        ...o.realServers.map((s) => ({
            name: s.name,
            role: "realServer" as const,
            ...placed(s.name),
            nics: [publicNic(s.publicIp), storageNic(s.storageIp)],
            sshAddress: s.publicIp,
            weight: s.weight,
            forwardingAddress: s.forwardingAddress,
        })),
        { name: o.nfs.name, role: "nfs", ...placed(o.nfs.name), nics: [storageNic(o.nfs.storageIp)], sshAddress: o.nfs.storageIp },
    ];
    return {
        vip: o.vip,
        ports: o.ports,
        mode: o.mode,
        scheduler: o.scheduler,
        keepalived: o.keepalived,
        healthCheck: o.healthCheck?.kind,
        nfsExport: o.nfsExport,
        ssh: o.ssh,
        libvirtUri: hosts[0].uri,
        hosts,
        spread,
        libvirtPrefix: o.libvirt.prefix,
        networks: { public: publicNetwork, storage: storageNetwork },
        machines,
    };
}

/** The machine of that name, or an error listing the known ones. */
export function machineNamed(topology: LabTopology, name: string | undefined): LabMachine {
    const known = topology.machines.map((m) => m.name);
    if (name === undefined || name === "") {
        throw new Error(`name a machine: one of ${known.join(", ")}`);
    }
    const machine = topology.machines.find((m) => m.name === name);
    if (!machine) {
        throw new Error(`no machine "${name}" in this lab; the machines are: ${known.join(", ")}`);
    }
    return machine;
}

/** The gateway host: the first, where the networks have their addresses and NAT. */
export function gatewayHost(topology: LabTopology): LabHost {
    return topology.hosts[0];
}

/** The machine's NIC on that network, or an error naming the NICs it has. */
export function nicOf(machine: LabMachine, network: NicName): MachineNic {
    const nic = machine.nics.find((n) => n.network === network);
    if (!nic) {
        throw new Error(`${machine.name} has no ${network} NIC (it has: ${machine.nics.map((n) => n.network).join(", ")})`);
    }
    return nic;
}

/** The NIC a tool acts on when none is named: the public one if the machine has it. */
export function defaultNic(machine: LabMachine): NicName {
    return machine.nics.some((n) => n.network === "public") ? "public" : "storage";
}

/** A MAC's owner in words ("web1 public"), for packet summaries. */
export function macOwners(topology: LabTopology): Map<string, string> {
    const owners = new Map<string, string>();
    for (const machine of topology.machines) {
        for (const nic of machine.nics) {
            owners.set(nic.mac, `${machine.name} ${nic.network}`);
            // libvirt gives the host's end of the tap the guest's MAC with fe: first (it sends STP there).
            owners.set(`fe${nic.mac.slice(2)}`, `${machine.name} ${nic.network} tap`);
        }
    }
    return owners;
}
