// The LVS director: holds the VIP on its public NIC and schedules
// connections to the real servers in direct-routing mode.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { DualHomedMachine, RealServerConfig, Scheduler } from "./config";
import { guestStep } from "./guestStep";
import { LabContext } from "./lab";
import { createMachine, Machine } from "./machine";
import { publicNic, sshHint, storageNic } from "./nics";

export interface DirectorArgs {
    /** The lab's shared context (config, networks, base image, credentials). */
    lab: LabContext;
    /** Name and addresses (default director, 172.16.16.173, 192.168.7.173). */
    machine: DualHomedMachine;
    /** The cluster address (default 172.16.16.172). */
    vip: string;
    /** The service port (default 80). */
    port: number;
    /** Scheduler (default rr). */
    scheduler: Scheduler;
    /** Seconds of persistence, 0 for none (default 0). */
    persistenceTimeout: number;
    /** The servers behind the VIP, each with its weight. */
    realServers: RealServerConfig[];
    /** Steps after which the real servers are ready for traffic. */
    realServersReady: pulumi.Resource[];
}

/** The REAL_SERVERS parameter of the ipvs step: "address:weight" pairs. */
export function realServerEntries(servers: readonly RealServerConfig[]): string {
    return servers.map((server) => `${server.publicIp}:${server.weight}`).join(" ");
}

export class Director extends pulumi.ComponentResource {
    public readonly publicIp: string;
    public readonly storageIp: string;
    public readonly vip: string;
    public readonly sshHint: string;
    public readonly machine: Machine;
    /** The ipvs step; its stdout is `ipvsadm -Ln` after configuration. */
    public readonly ipvs: command.remote.Command;
    public readonly ipvsTable: pulumi.Output<string>;

    constructor(name: string, args: DirectorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:Director", name, {}, opts);
        const { lab, machine } = args;
        this.publicIp = machine.publicIp;
        this.storageIp = machine.storageIp;
        this.vip = args.vip;
        this.sshHint = sshHint(lab, machine.publicIp);
        this.machine = createMachine(
            name,
            {
                lab,
                hostname: machine.name,
                nics: [publicNic(lab, machine.publicIp), storageNic(lab, machine.storageIp, "eth1")],
            },
            this,
        );
        const vip = guestStep(
            `${name}-vip`,
            {
                lab,
                host: machine.publicIp,
                step: "director-vip",
                params: {
                    VIP: args.vip,
                    PREFIX_LENGTH: String(lab.config.publicSubnet.prefixLength),
                    PUBLIC_IP: machine.publicIp,
                    PORT: String(args.port),
                },
                domain: this.machine.domain,
            },
            this,
        );
        // Changing the servers, weights or scheduler re-runs this step in
        // place; no machine is replaced.
        this.ipvs = guestStep(
            `${name}-ipvs`,
            {
                lab,
                host: machine.publicIp,
                step: "director-ipvs",
                params: {
                    VIP: args.vip,
                    PORT: String(args.port),
                    SCHEDULER: args.scheduler,
                    PERSISTENCE: String(args.persistenceTimeout),
                    FORWARDING: "g",
                    REAL_SERVERS: realServerEntries(args.realServers),
                },
                domain: this.machine.domain,
                dependsOn: [vip, ...args.realServersReady],
            },
            this,
        );
        this.ipvsTable = this.ipvs.stdout;
        this.registerOutputs({
            publicIp: this.publicIp,
            storageIp: this.storageIp,
            vip: this.vip,
            sshHint: this.sshHint,
            ipvsTable: this.ipvsTable,
        });
    }
}
