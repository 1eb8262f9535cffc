// The NFS store: one NIC on the storage network, exporting the shared web
// root that every real server mounts.
import * as pulumi from "@pulumi/pulumi";
import { MachineAddresses } from "./config";
import { guestStep } from "./guestStep";
import { LabContext, siteOf } from "./lab";
import { createMachine, Machine } from "./machine";
import { sshHint, storageNic } from "./nics";

export interface NfsStoreArgs {
    /** The lab's shared context (config, networks, base image, credentials). */
    lab: LabContext;
    /** Name and storage address (default nfs, 192.168.7.250). */
    machine: MachineAddresses;
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

    constructor(name: string, args: NfsStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:NfsStore", name, {}, opts);
        const { lab, machine } = args;
        this.storageIp = machine.storageIp;
        this.exportTarget = `${machine.storageIp}:${args.exportPath}`;
        this.sshHint = sshHint(lab, machine.storageIp);
        const site = siteOf(lab, machine.name);
        this.machine = createMachine(
            name,
            { lab, hostname: machine.name, site, nics: [storageNic(lab, site, machine.storageIp, "eth0")] },
            this,
        );
        // The real servers' web steps wait for the export themselves.
        guestStep(
            `${name}-export`,
            {
                lab,
                host: machine.storageIp,
                step: "nfs-export",
                params: {
                    EXPORT_PATH: args.exportPath,
                    CLIENT_SUBNET: lab.config.storageSubnet.cidr,
                    PAGE_CONTENT: args.pageContent,
                },
                domain: this.machine.domain,
            },
            this,
        );
        this.registerOutputs({ exportTarget: this.exportTarget, storageIp: this.storageIp, sshHint: this.sshHint });
    }
}
