// Args pieces written out by hand for building one component alone: what
// Foundation and the program would hand it, with no config in sight. The
// addresses are not the seed's, so a test shows the component uses what it
// is given rather than a default of its own.
import * as pulumi from "@pulumi/pulumi";
import type { GuestLogin, LabSubnets, Site, VmShape } from "../../../components/lab";

export const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests lab@test";
export const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n";
export const CONSOLE_PASSWORD = "Console42";
export const LIBVIRT_PREFIX = "t-ab12cd";

/** A host's libvirt objects, as Foundation would hand them over; `kernelBoot` adds the image's kernel and initramfs. */
export function handMadeSite(options: { kernelBoot: boolean; nicMtu?: number }): Site {
    return {
        uri: "qemu+ssh://root@host-b/system",
        pool: "labpool",
        libvirtPrefix: pulumi.output(LIBVIRT_PREFIX),
        publicNetwork: pulumi.output(`${LIBVIRT_PREFIX}-public`),
        storageNetwork: pulumi.output(`${LIBVIRT_PREFIX}-storage`),
        baseVolumePath: pulumi.output(`/pool/${LIBVIRT_PREFIX}-base.qcow2`),
        ...(options.kernelBoot
            ? { bootVolumes: { kernelPath: pulumi.output(`/pool/${LIBVIRT_PREFIX}-vmlinuz`), initrdPath: pulumi.output(`/pool/${LIBVIRT_PREFIX}-initrd`) } }
            : {}),
        ...(options.nicMtu !== undefined ? { nicMtu: options.nicMtu } : {}),
    };
}

export function handMadeVm(): VmShape {
    return { domainType: "qemu", vcpus: 2, memoryMiB: 768, diskGiB: 12 };
}

export function handMadeLogin(): GuestLogin {
    return {
        user: "operator",
        publicKey: PUBLIC_KEY,
        privateKey: pulumi.secret(PRIVATE_KEY),
        privateKeyPath: "/keys/id_ed25519",
        consolePassword: pulumi.secret(CONSOLE_PASSWORD),
    };
}

/** Public 10.1.0.0/24 with the lab host at 10.1.0.1; storage 10.2.0.0/24. */
export function handMadeSubnets(): LabSubnets {
    return { publicPrefixLength: 24, publicGateway: "10.1.0.1", storagePrefixLength: 24, storageCidr: "10.2.0.0/24" };
}
