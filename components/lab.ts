// The small typed pieces the machine roles share. Foundation makes the
// libvirt objects a Site names; components/program.ts cuts the rest out of
// the validated config. No role sees the config itself.
import * as pulumi from "@pulumi/pulumi";
import { DomainType } from "./config";

/** One host's share of the lab: the libvirt objects there that the machines it runs use. */
export interface Site {
    /** The host's libvirt URI (default qemu:///system). */
    uri: string;
    /** The host's storage pool, which holds every volume of the lab there (default "default"). */
    pool: string;
    /** Start of every libvirt name of this stack: `<namePrefix>-<random suffix>` (namePrefix default "lvslab"). */
    libvirtPrefix: pulumi.Output<string>;
    /** libvirt name of the host's public network, `<libvirtPrefix>-public`. */
    publicNetwork: pulumi.Output<string>;
    /** libvirt name of the host's storage network, `<libvirtPrefix>-storage`. */
    storageNetwork: pulumi.Output<string>;
    /** Path of the base image volume on the host, which every VM disk there overlays. */
    baseVolumePath: pulumi.Output<string>;
    /** The image's kernel and initramfs as pool volumes on the host, when guests boot them directly (firstBoot "kernel"). */
    bootVolumes?: { kernelPath: pulumi.Output<string>; initrdPath: pulumi.Output<string> };
    /** The guests' NIC MTU when the networks are joined by VXLAN; none: libvirt's 1500. */
    nicMtu?: number;
}

/** The shape of every lab VM. */
export interface VmShape {
    /** libvirt domain type: "kvm" (default) or "qemu" (software emulation, where there is no /dev/kvm). */
    domainType: DomainType;
    /** Virtual CPUs (default 1). */
    vcpus: number;
    /** Memory in MiB (default 512). */
    memoryMiB: number;
    /** Size of the copy-on-write disk in GiB (default 8). */
    diskGiB: number;
}

/** How the operator and the guest steps log in to a guest. */
export interface GuestLogin {
    /** The operator's user on every guest (default "lab"). */
    user: string;
    /** The public key line installed for that user (read from `<privateKeyPath>.pub`). */
    publicKey: string;
    /** The matching private key, which the guest steps log in with; a secret. */
    privateKey: pulumi.Output<string>;
    /** Where the private key lies on the lab host, for the SSH hints (default ~/.ssh/id_ed25519). */
    privateKeyPath: string;
    /** The user's serial console password; a secret. */
    consolePassword: pulumi.Output<string>;
}

/** What the guests' NICs and steps need to know of the lab's two subnets. */
export interface LabSubnets {
    /** Prefix length of the public subnet (default 24, of 172.16.16.0/24). */
    publicPrefixLength: number;
    /** The guests' default gateway: the lab host's address on the public network (default 172.16.16.1). */
    publicGateway: string;
    /** Prefix length of the storage subnet (default 24, of 192.168.7.0/24). */
    storagePrefixLength: number;
    /** The storage subnet in CIDR form (default 192.168.7.0/24): the NFS clients, and the real servers' direct route in NAT mode. */
    storageCidr: string;
}

/**
 * How long the lab waits for a guest's SSH: 300 dials, each of at most 30 s
 * plus a pause of up to 2 s. A dial before the guest answers fails fast (an
 * unanswered ARP in about 3 s, a refused connection at once), so about 25
 * minutes in all; under software emulation on 2 busy cores, six guests
 * booting together through cloud-init once took up to 10 minutes to reach
 * sshd, the lab's kernel boot takes about two. Once sshd answers, its
 * handshake on a guest still booting can take 10-20 s: a dial cut shorter
 * only starts another one, and the guest pays for both.
 */
export const SSH_DIAL_LIMIT = 300;
export const SSH_DIAL_TIMEOUT_SECONDS = 30;
