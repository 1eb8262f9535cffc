// What every role needs from the lab as a whole: the validated config, the
// libvirt objects they share and the SSH identity. Built once by Foundation.
import * as pulumi from "@pulumi/pulumi";
import { LabConfig } from "./config";

/** One host's share of the lab: the libvirt objects there that the machines it runs use. */
export interface Site {
    /** The host's libvirt URI. */
    uri: string;
    /** libvirt network names on the host. */
    publicNetwork: pulumi.Output<string>;
    storageNetwork: pulumi.Output<string>;
    /** Path of the base image volume on the host, which every VM disk there overlays. */
    baseVolumePath: pulumi.Output<string>;
    /** The image's kernel and initramfs as pool volumes on the host, when guests boot them directly (firstBoot "kernel"). */
    bootVolumes?: { kernelPath: pulumi.Output<string>; initrdPath: pulumi.Output<string> };
    /** The guests' NIC MTU when the networks are joined by VXLAN; none: libvirt's 1500. */
    nicMtu?: number;
}

export interface LabContext {
    config: LabConfig;
    /** Prefix of every libvirt object of this stack: `<namePrefix>-<random suffix>`. */
    libvirtPrefix: pulumi.Output<string>;
    /** Each host that runs machines, by host name. */
    sites: Record<string, Site>;
    /** The operator's public key line, installed on every guest. */
    sshPublicKey: string;
    /** The matching private key, a secret. */
    sshPrivateKey: pulumi.Output<string>;
    /** Serial console password of the operator user, a secret. */
    consolePassword: pulumi.Output<string>;
    /** The directors' shared VRRP password, a secret; only with two directors and PASS authentication. */
    vrrpPassword?: pulumi.Output<string>;
}

/** The site of the host that runs `machine` (config.placement says which). */
export function siteOf(lab: LabContext, machine: string): Site {
    const site = lab.sites[lab.config.placement[machine]];
    if (!site) {
        // validateConfig places every machine on a host the lab uses.
        throw new Error(`machine ${machine} is placed on host "${lab.config.placement[machine]}", which the lab does not use`);
    }
    return site;
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
