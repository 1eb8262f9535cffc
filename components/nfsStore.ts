// The NFS store: one NIC on the storage network, exporting the shared web
// root that every real server mounts.
import * as pulumi from "@pulumi/pulumi";
import { MachineAddresses } from "./config";
import { guestStep } from "./guestStep";
import { GuestFacts, NO_READER_PARAMS, nfsWantedFacts, observeFacts } from "./facts";
import { GuestLogin, LabSubnets, Site, VmShape } from "./lab";
import { createMachine, Machine } from "./machine";
import { sshHint, storageNic } from "./nics";

export interface NfsStoreArgs {
    /** Name and storage address (default nfs, 192.168.7.250); it has no public address. */
    machine: MachineAddresses;
    /** The host it runs on: its libvirt URI, pool, networks and base image. */
    site: Site;
    /** Domain type, CPUs, memory and disk (defaults kvm, 1, 512 MiB, 8 GiB). */
    vm: VmShape;
    /** The operator's user, keys and console password (default user "lab"). */
    login: GuestLogin;
    /** The storage subnet, exported to, and its prefix length (default 192.168.7.0/24). */
    subnets: Pick<LabSubnets, "storagePrefixLength" | "storageCidr">;
    /** Exported directory (default /opt/wwwroot). */
    exportPath: string;
    /** Text of the shared index.html (default "welcome to beijing!!!"). */
    pageContent: string;
}

export class NfsStore extends pulumi.ComponentResource {
    /** `address:/path`, what the real servers mount. */
    public readonly exportTarget: string;
    public readonly storageIp: string;
    public readonly sshHint: string;
    public readonly machine: Machine;
    /** What its step set, as wanted and as last read on the guest. */
    public readonly facts: GuestFacts;

    constructor(name: string, args: NfsStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:NfsStore", name, {}, opts);
        const { machine, site, login } = args;
        this.storageIp = machine.storageIp;
        this.exportTarget = `${machine.storageIp}:${args.exportPath}`;
        this.sshHint = sshHint(login, machine.storageIp);
        this.machine = createMachine(
            name,
            { hostname: machine.name, site, vm: args.vm, login, nics: [storageNic(site, args.subnets, machine.storageIp, "eth0")] },
            this,
        );
        // The real servers' web steps wait for the export themselves.
        const exporting = guestStep(
            `${name}-export`,
            {
                login,
                host: machine.storageIp,
                step: "nfs-export",
                params: {
                    EXPORT_PATH: args.exportPath,
                    CLIENT_SUBNET: args.subnets.storageCidr,
                    PAGE_CONTENT: args.pageContent,
                },
                domain: this.machine.domain,
            },
            this,
        );
        this.facts = observeFacts(
            name,
            {
                machine: machine.name,
                host: machine.storageIp,
                login,
                reader: { ...NO_READER_PARAMS, ROLE: "nfs", EXPORT_PATH: args.exportPath, PAGE_CONTENT: args.pageContent },
                wanted: nfsWantedFacts({ exportPath: args.exportPath, clientSubnet: args.subnets.storageCidr, pageContent: args.pageContent }),
                steps: [{ name: `${name}-export`, step: exporting }],
            },
            this,
        );
        this.registerOutputs({ exportTarget: this.exportTarget, storageIp: this.storageIp, sshHint: this.sshHint });
    }
}
