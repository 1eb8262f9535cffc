// What every role needs from the lab as a whole: the validated config, the
// libvirt objects they share and the SSH identity. Built once by Foundation.
import * as pulumi from "@pulumi/pulumi";
import { LabConfig } from "./config";

export interface LabContext {
    config: LabConfig;
    /** Prefix of every libvirt object of this stack: `<namePrefix>-<random suffix>`. */
    libvirtPrefix: pulumi.Output<string>;
    /** libvirt network names. */
    publicNetwork: pulumi.Output<string>;
    storageNetwork: pulumi.Output<string>;
    /** Path of the imported base image volume every VM disk overlays. */
    baseVolumePath: pulumi.Output<string>;
    /** The image's kernel and initramfs as pool volumes, when guests boot them directly (firstBoot "kernel"). */
    bootVolumes?: { kernelPath: pulumi.Output<string>; initrdPath: pulumi.Output<string> };
    /** The operator's public key line, installed on every guest. */
    sshPublicKey: string;
    /** The matching private key, a secret. */
    sshPrivateKey: pulumi.Output<string>;
    /** Serial console password of the operator user, a secret. */
    consolePassword: pulumi.Output<string>;
    /** The directors' shared VRRP password, a secret; only with two directors and PASS authentication. */
    vrrpPassword?: pulumi.Output<string>;
}

/**
 * How long the lab waits for a guest's SSH: 300 dials, each of at most 10 s
 * plus a pause of up to 2 s; an unanswered ARP fails a dial in about 3 s, so
 * about 25 minutes. Under software emulation on 2 busy cores, six guests
 * booting together through cloud-init once took up to 10 minutes to reach
 * sshd; the lab's kernel boot takes about two.
 */
export const SSH_DIAL_LIMIT = 300;
export const SSH_DIAL_TIMEOUT_SECONDS = 10;
