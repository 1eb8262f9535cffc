// The NICs of each kind of machine: public NIC first (eth0, default route via
// the lab host), storage NIC second (eth1), as in the seed.
import { GuestLogin, LabSubnets, Site } from "./lab";
import { MachineNic } from "./machine";
import { macFor } from "./net";

/** What the guests name their NICs (network-config renames them by MAC). */
export const PUBLIC_NIC = "eth0";
/** The storage NIC of a machine on both networks; the NFS store's only NIC is eth0. */
export const STORAGE_NIC = "eth1";

export const PUBLIC_NETWORK_INDEX = 1;
export const STORAGE_NETWORK_INDEX = 2;

export function publicNic(site: Site, subnets: Pick<LabSubnets, "publicPrefixLength" | "publicGateway">, address: string): MachineNic {
    return {
        name: PUBLIC_NIC,
        network: site.publicNetwork,
        mac: macFor(PUBLIC_NETWORK_INDEX, address),
        address,
        prefixLength: subnets.publicPrefixLength,
        gateway: subnets.publicGateway,
    };
}

export function storageNic(site: Site, subnets: Pick<LabSubnets, "storagePrefixLength">, address: string, name: "eth0" | "eth1"): MachineNic {
    return {
        name,
        network: site.storageNetwork,
        mac: macFor(STORAGE_NETWORK_INDEX, address),
        address,
        prefixLength: subnets.storagePrefixLength,
    };
}

/** The SSH command a person types to reach a machine. */
export function sshHint(login: Pick<GuestLogin, "user" | "privateKeyPath">, address: string): string {
    return `ssh -i ${login.privateKeyPath} ${login.user}@${address}`;
}
