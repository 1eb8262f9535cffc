// A real server: takes forwarded connections the way the director's mode
// needs (the VIP on lo for DR, on tunl0 for TUN, replies routed back through
// the director for NAT) and serves the NFS-shared web root with apache.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ForwardingMode, RealServerConfig } from "./config";
import { guestStep } from "./guestStep";
import { LabContext, siteOf } from "./lab";
import { createMachine, Machine } from "./machine";
import { publicNic, sshHint, STORAGE_NIC, storageNic } from "./nics";

export interface RealServerArgs {
    /** The lab's shared context (config, networks, base image, credentials). */
    lab: LabContext;
    /** Name, addresses and weight (defaults web1..web4, .177-.180, weight 1). */
    server: RealServerConfig;
    /** The cluster address (default 172.16.16.172). */
    vip: string;
    /** The director's forwarding mode. */
    mode: ForwardingMode;
    /** NAT: the director's floating storage address, the way back for replies. */
    natGateway: string;
    /** Service ports apache listens on (default [80]). */
    ports: number[];
    /**
     * NFS export to mount on /var/www/html, `address:/path`. The web step
     * waits for it itself (up to 10 minutes), so that it starts as soon as
     * this server answers, whatever the store's boot.
     */
    nfsServer: string;
    nfsExportPath: string;
}

export class RealServer extends pulumi.ComponentResource {
    public readonly serverName: string;
    public readonly publicIp: string;
    public readonly storageIp: string;
    public readonly weight: number;
    public readonly sshHint: string;
    public readonly machine: Machine;
    /** Its steps: once all are done, the server can take traffic for the VIP. */
    public readonly ready: command.remote.Command[];

    constructor(name: string, args: RealServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:RealServer", name, {}, opts);
        const { lab, server } = args;
        this.serverName = server.name;
        this.publicIp = server.publicIp;
        this.storageIp = server.storageIp;
        this.weight = server.weight;
        this.sshHint = sshHint(lab, server.publicIp);
        const site = siteOf(lab, server.name);
        this.machine = createMachine(
            name,
            {
                lab,
                hostname: server.name,
                site,
                nics: [publicNic(lab, site, server.publicIp), storageNic(lab, site, server.storageIp, STORAGE_NIC)],
            },
            this,
        );
        // A mode change re-runs this step in place.
        const forwarding = guestStep(
            `${name}-forwarding`,
            {
                lab,
                host: server.publicIp,
                step: "real-server-forwarding",
                params: {
                    MODE: args.mode,
                    VIP: args.vip,
                    PUBLIC_IP: server.publicIp,
                    STORAGE_IP: server.storageIp,
                    STORAGE_SUBNET: lab.config.storageSubnet.cidr,
                    NAT_GATEWAY: args.mode === "nat" ? args.natGateway : "",
                },
                domain: this.machine.domain,
            },
            this,
        );
        // Apart from the forwarding step (which needs nothing of the web
        // tier), so both run as soon as the guest answers.
        const serving = guestStep(
            `${name}-web`,
            {
                lab,
                host: server.publicIp,
                step: "real-server-web",
                params: {
                    SERVER_NAME: server.name,
                    NFS_SERVER: args.nfsServer,
                    EXPORT_PATH: args.nfsExportPath,
                    PORTS: args.ports.join(" "),
                },
                domain: this.machine.domain,
            },
            this,
        );
        this.ready = [forwarding, serving];
        this.registerOutputs({
            serverName: this.serverName,
            publicIp: this.publicIp,
            storageIp: this.storageIp,
            weight: this.weight,
            sshHint: this.sshHint,
        });
    }
}
