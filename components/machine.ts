// A lab VM: a copy-on-write disk on the base image, its first-boot
// configuration (on the kernel command line of the image's own kernel, or in a
// NoCloud seed for cloud-init), and the domain, all children of a role component.
import * as pulumi from "@pulumi/pulumi";
import { GUEST_DOMAIN, instanceIdFor, renderKernelCmdline, renderMetaData, renderNetworkConfig, renderUserData, GuestNic } from "./guestConfig";
import { GuestLogin, Site, VmShape } from "./lab";
import { CloudInitDisk, Domain, Volume } from "./libvirt";

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
    if (site.bootVolumes) {
        // The command line carries the console password: a secret in the state.
        const kernelCmdline = pulumi.secret(
            login.consolePassword.apply((consolePassword) =>
                renderKernelCmdline({
                    hostname,
                    domain: GUEST_DOMAIN,
                    sshUser: login.user,
                    sshPublicKey: login.publicKey,
                    consolePassword,
                    nics: args.nics,
                }),
            ),
        );
        const domain = new Domain(
            `${name}-vm`,
            { ...domainArgs, kernelPath: site.bootVolumes.kernelPath, initrdPath: site.bootVolumes.initrdPath, kernelCmdline },
            opts,
        );
        return { domain, disk };
    }
    const networkConfig = renderNetworkConfig(args.nics);
    const userData = login.consolePassword.apply((consolePassword) =>
        renderUserData({
            hostname,
            domain: GUEST_DOMAIN,
            sshUser: login.user,
            sshPublicKey: login.publicKey,
            consolePassword,
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
