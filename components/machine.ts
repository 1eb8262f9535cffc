// A lab VM: a copy-on-write disk on the base image, its first-boot
// configuration (on the kernel command line of the image's own kernel, or in a
// NoCloud seed for cloud-init), and the domain, all children of a role component.
import * as pulumi from "@pulumi/pulumi";
import {
    CONSOLE_PASSWORD_FW_CFG,
    GUEST_DOMAIN,
    instanceIdFor,
    renderKernelCmdline,
    renderMetaData,
    renderNetworkConfig,
    renderUserData,
    GuestNic,
} from "./guestConfig";
import { GuestLogin, Site, VmShape } from "./lab";
import { CloudInitDisk, Domain, Volume } from "./libvirt";
import { saltFor, sha512Crypt } from "./sha512Crypt";

export interface MachineNic extends GuestNic {
    /** libvirt network the NIC plugs into. */
    network: pulumi.Input<string>;
}

export interface MachineArgs {
    /** Hostname and the middle of every libvirt name: "web1". */
    hostname: string;
    /** The host it runs on: its pool, networks, base image and the stack's libvirt prefix. */
    site: Site;
    /** Domain type, CPUs, memory and disk size. */
    vm: VmShape;
    /** The user, key and console password the guest is given at first boot. */
    login: GuestLogin;
    /** Public NIC first, as the guest numbers them. */
    nics: MachineNic[];
}

export interface Machine {
    domain: Domain;
    disk: Volume;
    /** The NoCloud seed, on a cloud-init first boot only. */
    seed?: CloudInitDisk;
}

export function createMachine(name: string, args: MachineArgs, parent: pulumi.Resource): Machine {
    const { hostname, site, vm, login } = args;
    const opts = { parent };
    const disk = new Volume(
        `${name}-disk`,
        {
            connectionUri: site.uri,
            pool: site.pool,
            name: pulumi.interpolate`${site.libvirtPrefix}-${hostname}.qcow2`,
            backingVolumePath: site.baseVolumePath,
            capacityGiB: vm.diskGiB,
        },
        opts,
    );
    const domainArgs = {
        connectionUri: site.uri,
        name: pulumi.interpolate`${site.libvirtPrefix}-${hostname}`,
        domainType: vm.domainType,
        vcpus: vm.vcpus,
        memoryMiB: vm.memoryMiB,
        diskPath: disk.path,
        nics: args.nics.map((nic) => ({ network: nic.network, mac: nic.mac, ...(site.nicMtu !== undefined ? { mtu: site.nicMtu } : {}) })),
    };
    // The guest gets the console password's hash, never the password: a
    // secret in the state like the password. The salt is no secret: the
    // machine's libvirt name, so the hash (and the domain) stays the same
    // from one run to the next.
    const consolePasswordHash = pulumi.secret(
        pulumi
            .all([login.consolePassword, domainArgs.name])
            .apply(([consolePassword, domainName]) => sha512Crypt(consolePassword, saltFor("lvs-dr-lab console", domainName))),
    );
    if (site.bootVolumes) {
        // Every word of a kernel command line is public in the guest
        // (/proc/cmdline, the journal): the hash goes in fw_cfg, root-only there.
        const kernelCmdline = renderKernelCmdline({
            hostname,
            domain: GUEST_DOMAIN,
            sshUser: login.user,
            sshPublicKey: login.publicKey,
            nics: args.nics,
        });
        const firmwareConfig = consolePasswordHash.apply((hash) => ({ [CONSOLE_PASSWORD_FW_CFG]: hash }));
        const domain = new Domain(
            `${name}-vm`,
            { ...domainArgs, kernelPath: site.bootVolumes.kernelPath, initrdPath: site.bootVolumes.initrdPath, kernelCmdline, firmwareConfig },
            opts,
        );
        return { domain, disk };
    }
    const networkConfig = renderNetworkConfig(args.nics);
    const userData = consolePasswordHash.apply((hash) =>
        renderUserData({
            hostname,
            domain: GUEST_DOMAIN,
            sshUser: login.user,
            sshPublicKey: login.publicKey,
            consolePasswordHash: hash,
        }),
    );
    // The instance id follows the public parts of the first-boot config, so
    // it is no secret and a changed network or key makes a new machine.
    const metaData = renderMetaData(hostname, instanceIdFor(hostname, networkConfig, login.publicKey, login.user));
    const seed = new CloudInitDisk(
        `${name}-seed`,
        {
            connectionUri: site.uri,
            pool: site.pool,
            name: pulumi.interpolate`${site.libvirtPrefix}-${hostname}-seed.iso`,
            userData,
            metaData,
            networkConfig,
        },
        opts,
    );
    const domain = new Domain(`${name}-vm`, { ...domainArgs, cloudInitPath: seed.path }, { parent, dependsOn: [seed] });
    return { domain, disk, seed };
}
