// An LVS director: takes connections for the VIP and schedules them to the
// real servers in the configured forwarding mode. Alone it holds the VIP
// itself; as one of two, keepalived's VRRP moves the VIP between them. The
// table is kept by ipvsadm (the seed) or by keepalived (VRRP, health checks).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { DualHomedMachine, ForwardingMode, HealthCheck, RealServerConfig, Scheduler, VrrpSettings } from "./config";
import { guestStep } from "./guestStep";
import { KeepalivedParams, renderKeepalivedConf, VRRP_PASSWORD_PLACEHOLDER, VrrpInstance } from "./keepalived";
import { LabContext, siteOf } from "./lab";
import { createMachine, Machine } from "./machine";
import { PUBLIC_NIC, publicNic, sshHint, STORAGE_NIC, storageNic } from "./nics";

/** What the director balances: the same for both directors of a pair. */
export interface LoadBalancing {
    /** The cluster address (default 172.16.16.172). */
    vip: string;
    /** dr (the seed), nat or tun. */
    mode: ForwardingMode;
    /** Service ports, one virtual service each (default [80]). */
    ports: number[];
    scheduler: Scheduler;
    /** Seconds of persistence, 0 for none. */
    persistenceTimeout: number;
    realServers: RealServerConfig[];
    healthCheck: HealthCheck;
    /** NAT: the real servers' gateway on the storage network. */
    storageVip: string;
    /** The page the director serves itself when no real server is left; none when undefined. */
    sorryPage?: string;
    /** Run keepalived (VRRP, health checks or a sorry server); otherwise ipvsadm keeps the table. */
    keepalived: boolean;
}

/** The director's part in a pair: alone ("single"), or VRRP MASTER/BACKUP. */
export type DirectorRole = "single" | "MASTER" | "BACKUP";

export interface DirectorArgs {
    /** The lab's shared context (config, networks, base image, credentials). */
    lab: LabContext;
    /** Name and addresses (default director, 172.16.16.173, 192.168.7.173). */
    machine: DualHomedMachine;
    role: DirectorRole;
    balancing: LoadBalancing;
    /** VRRP settings; used by MASTER and BACKUP. */
    vrrp: VrrpSettings;
    /**
     * The shared VRRP password (PASS authentication); undefined for none. It
     * reaches the guest on the director step's standard input, never in its
     * command text.
     */
    vrrpPassword?: pulumi.Output<string>;
    /** Steps after which the real servers are ready for traffic. */
    realServersReady: pulumi.Resource[];
}

/** The address a real server is reached at: its storage address in NAT mode, else its public one. */
export function forwardingAddress(mode: ForwardingMode, server: Pick<RealServerConfig, "publicIp" | "storageIp">): string {
    return mode === "nat" ? server.storageIp : server.publicIp;
}

/** The REAL_SERVERS parameter of the director step: "address:weight" pairs. */
export function realServerEntries(mode: ForwardingMode, servers: readonly RealServerConfig[]): string {
    return servers.map((server) => `${forwardingAddress(mode, server)}:${server.weight}`).join(" ");
}

/** The floating addresses: the VIP on the public NIC, and in NAT mode the real servers' gateway. */
export function serviceAddresses(balancing: LoadBalancing, lab: LabContext): { address: string; prefixLength: number; device: string }[] {
    const addresses = [{ address: balancing.vip, prefixLength: lab.config.publicSubnet.prefixLength, device: PUBLIC_NIC }];
    if (balancing.mode === "nat") {
        addresses.push({ address: balancing.storageVip, prefixLength: lab.config.storageSubnet.prefixLength, device: STORAGE_NIC });
    }
    return addresses;
}

/**
 * keepalived.conf for one director of the lab. `password` is the VRRP
 * password, or VRRP_PASSWORD_PLACEHOLDER for the step to fill in.
 */
export function keepalivedParams(
    name: string,
    role: DirectorRole,
    balancing: LoadBalancing,
    vrrp: VrrpSettings,
    lab: LabContext,
    password: string | undefined,
): KeepalivedParams {
    const vrrpInstance: VrrpInstance | undefined =
        role === "single"
            ? undefined
            : {
                  state: role,
                  interface: PUBLIC_NIC,
                  virtualRouterId: vrrp.virtualRouterId,
                  priority: role === "MASTER" ? vrrp.masterPriority : vrrp.backupPriority,
                  advertIntervalSeconds: vrrp.advertIntervalSeconds,
                  password,
                  addresses: serviceAddresses(balancing, lab),
                  syncInterface: STORAGE_NIC,
              };
    return {
        routerName: name,
        vrrp: vrrpInstance,
        services: balancing.ports.map((port) => ({
            vip: balancing.vip,
            port,
            scheduler: balancing.scheduler,
            mode: balancing.mode,
            persistenceTimeout: balancing.persistenceTimeout,
            healthCheck: balancing.healthCheck,
            // The director itself: IPVS hands connections to a local address
            // to the local stack, where the sorry page answers.
            sorryServer: balancing.sorryPage === undefined ? undefined : { address: "127.0.0.1", port },
            realServers: balancing.realServers.map((server) => ({ address: forwardingAddress(balancing.mode, server), weight: server.weight })),
        })),
    };
}

export class Director extends pulumi.ComponentResource {
    public readonly publicIp: string;
    public readonly storageIp: string;
    public readonly role: DirectorRole;
    public readonly sshHint: string;
    public readonly machine: Machine;
    /** The load-balancing step; its stdout is `ipvsadm -Ln` after configuration. */
    public readonly loadBalancer: command.remote.Command;
    public readonly ipvsTable: pulumi.Output<string>;

    constructor(name: string, args: DirectorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:Director", name, {}, opts);
        const { lab, machine, balancing } = args;
        this.publicIp = machine.publicIp;
        this.storageIp = machine.storageIp;
        this.role = args.role;
        this.sshHint = sshHint(lab, machine.publicIp);
        const site = siteOf(lab, machine.name);
        this.machine = createMachine(
            name,
            {
                lab,
                hostname: machine.name,
                site,
                nics: [publicNic(lab, site, machine.publicIp), storageNic(lab, site, machine.storageIp, STORAGE_NIC)],
            },
            this,
        );
        const staticAddresses =
            args.role === "single" ? serviceAddresses(balancing, lab).map((entry) => `${entry.address}/${entry.prefixLength}=${entry.device}`) : [];
        // The conf names the password by a placeholder: the step's text holds no
        // secret (a failing step's command is printed in full), and the step
        // reads the password itself from its standard input.
        const keepalivedConf = balancing.keepalived
            ? renderKeepalivedConf(
                  keepalivedParams(machine.name, args.role, balancing, args.vrrp, lab, args.vrrpPassword === undefined ? undefined : VRRP_PASSWORD_PLACEHOLDER),
              )
            : "";
        const stdin =
            args.vrrpPassword !== undefined && keepalivedConf.includes(VRRP_PASSWORD_PLACEHOLDER)
                ? args.vrrpPassword.apply((password) => `${password}\n`)
                : undefined;
        // Changing the servers, weights, scheduler, mode or checks re-runs
        // this step in place; no machine is replaced.
        this.loadBalancer = guestStep(
            `${name}-lb`,
            {
                lab,
                host: machine.publicIp,
                step: "director-lb",
                params: {
                    MODE: balancing.mode,
                    VIP: balancing.vip,
                    PORTS: balancing.ports.join(" "),
                    SCHEDULER: balancing.scheduler,
                    PERSISTENCE: String(balancing.persistenceTimeout),
                    REAL_SERVERS: realServerEntries(balancing.mode, balancing.realServers),
                    NICS: `${PUBLIC_NIC} ${STORAGE_NIC}`,
                    FORWARD_IP: balancing.mode === "nat" ? ("1" as const) : ("0" as const),
                    STATIC_ADDRESSES: staticAddresses.join(" "),
                    SORRY_PAGE: balancing.sorryPage ?? "",
                    KEEPALIVED_CONF: keepalivedConf,
                },
                // A new password changes stdin: an in-place update applies it.
                stdin,
                domain: this.machine.domain,
                dependsOn: args.realServersReady,
            },
            this,
        );
        this.ipvsTable = this.loadBalancer.stdout;
        this.registerOutputs({
            publicIp: this.publicIp,
            storageIp: this.storageIp,
            role: this.role,
            sshHint: this.sshHint,
            ipvsTable: this.ipvsTable,
        });
    }
}
