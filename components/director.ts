// An LVS director: takes connections for the VIP and schedules them to the
// real servers in the configured forwarding mode. Alone it holds the VIP
// itself; as one of two, keepalived's VRRP moves the VIP between them. The
// table is kept by ipvsadm (the seed) or by keepalived (VRRP, health checks).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { DualHomedMachine, ForwardingMode, HealthCheck, RealServerConfig, Scheduler, VrrpSettings } from "./config";
import { guestStep } from "./guestStep";
import { directorWantedFacts, GuestFacts, NO_READER_PARAMS, observeFacts } from "./facts";
import { KeepalivedParams, renderKeepalivedConf, VRRP_PASSWORD_PLACEHOLDER, VrrpInstance } from "./keepalived";
import { GuestLogin, LabSubnets, Site, VmShape } from "./lab";
import { createMachine, Machine } from "./machine";
import { PUBLIC_NIC, publicNic, sshHint, STORAGE_NIC, storageNic } from "./nics";

/** What the director balances: the same for both directors of a pair. */
export interface LoadBalancing {
    /** The cluster address (default 172.16.16.172). */
    vip: string;
    /** Forwarding mode of every virtual service: "dr" (default, the seed's), "nat" or "tun". */
    mode: ForwardingMode;
    /** Service ports, one virtual service each (default [80]). */
    ports: number[];
    /** IPVS scheduler (default "rr"). */
    scheduler: Scheduler;
    /** Seconds of client persistence, 0 for none (default 0). */
    persistenceTimeout: number;
    /** The servers forwarded to, each with its weight (defaults web1..web4 at 172.16.16.177-180 and 192.168.7.177-180, weight 1). */
    realServers: RealServerConfig[];
    /** How keepalived checks the real servers (default kind "none"; http: path "/", status 200, every 3 s, 2 s timeout, 1 retry). */
    healthCheck: HealthCheck;
    /** NAT: the real servers' gateway on the storage network, held by the active director (default 192.168.7.172). */
    storageVip: string;
    /** The page the director serves itself when no real server is left; none when undefined (the default). */
    sorryPage?: string;
    /** Run keepalived (VRRP, health checks or a sorry server); otherwise ipvsadm keeps the table (the seed's). */
    keepalived: boolean;
}

/** The director's part in a pair: alone ("single"), or VRRP MASTER/BACKUP. */
export type DirectorRole = "single" | "MASTER" | "BACKUP";

export interface DirectorArgs {
    /** Name and addresses (default director, 172.16.16.173, 192.168.7.173; the second of a pair director2, .174). */
    machine: DualHomedMachine;
    /** The host it runs on: its libvirt URI, pool, networks and base image. */
    site: Site;
    /** Domain type, CPUs, memory and disk (defaults kvm, 1, 512 MiB, 8 GiB). */
    vm: VmShape;
    /** The operator's user, keys and console password (default user "lab"). */
    login: GuestLogin;
    /** Prefix lengths and the public gateway (defaults 172.16.16.0/24 via 172.16.16.1, 192.168.7.0/24). */
    subnets: Pick<LabSubnets, "publicPrefixLength" | "publicGateway" | "storagePrefixLength">;
    /** Alone ("single", the seed's one director), or MASTER or BACKUP of a VRRP pair. */
    role: DirectorRole;
    /** The virtual services and the real servers behind them. */
    balancing: LoadBalancing;
    /** VRRP settings, used by MASTER and BACKUP (defaults router id 51, priorities 150 and 100, adverts every 1 s, PASS authentication). */
    vrrp: VrrpSettings;
    /**
     * The shared VRRP password (PASS authentication); undefined for none. It
     * reaches the guest on the director step's standard input, never in its
     * command text.
     */
    vrrpPassword?: pulumi.Output<string>;
    /** Steps after which the real servers are ready for traffic; the director's step waits for them. */
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
export function serviceAddresses(
    balancing: LoadBalancing,
    subnets: Pick<LabSubnets, "publicPrefixLength" | "storagePrefixLength">,
): { address: string; prefixLength: number; device: string }[] {
    const addresses = [{ address: balancing.vip, prefixLength: subnets.publicPrefixLength, device: PUBLIC_NIC }];
    if (balancing.mode === "nat") {
        addresses.push({ address: balancing.storageVip, prefixLength: subnets.storagePrefixLength, device: STORAGE_NIC });
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
    subnets: Pick<LabSubnets, "publicPrefixLength" | "storagePrefixLength">,
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
                  addresses: serviceAddresses(balancing, subnets),
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
    /** What its step set, as wanted and as last read on the guest. */
    public readonly facts: GuestFacts;

    constructor(name: string, args: DirectorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:Director", name, {}, opts);
        const { machine, site, subnets, login, balancing } = args;
        this.publicIp = machine.publicIp;
        this.storageIp = machine.storageIp;
        this.role = args.role;
        this.sshHint = sshHint(login, machine.publicIp);
        this.machine = createMachine(
            name,
            {
                hostname: machine.name,
                site,
                vm: args.vm,
                login,
                nics: [publicNic(site, subnets, machine.publicIp), storageNic(site, subnets, machine.storageIp, STORAGE_NIC)],
            },
            this,
        );
        const staticAddresses =
            args.role === "single" ? serviceAddresses(balancing, subnets).map((entry) => `${entry.address}/${entry.prefixLength}=${entry.device}`) : [];
        // The conf names the password by a placeholder: the step's text holds no
        // secret (a failing step's command is printed in full), and the step
        // reads the password itself from its standard input.
        const keepalivedConf = balancing.keepalived
            ? renderKeepalivedConf(
                  keepalivedParams(
                      machine.name,
                      args.role,
                      balancing,
                      args.vrrp,
                      subnets,
                      args.vrrpPassword === undefined ? undefined : VRRP_PASSWORD_PLACEHOLDER,
                  ),
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
                login,
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
        const forwardingAddresses = balancing.realServers.map((server) => ({ address: forwardingAddress(balancing.mode, server), weight: server.weight }));
        this.facts = observeFacts(
            name,
            {
                machine: machine.name,
                host: machine.publicIp,
                login,
                reader: {
                    ...NO_READER_PARAMS,
                    ROLE: "director",
                    MODE: balancing.mode,
                    NICS: `${PUBLIC_NIC} ${STORAGE_NIC}`,
                    STATIC_ADDRESSES: staticAddresses.join(" "),
                    KEEPALIVED: balancing.keepalived ? "1" : "0",
                    VIP: balancing.vip,
                    PORTS: balancing.ports.join(" "),
                },
                wanted: directorWantedFacts({
                    mode: balancing.mode,
                    nics: [PUBLIC_NIC, STORAGE_NIC],
                    staticAddresses: args.role === "single" ? serviceAddresses(balancing, subnets) : [],
                    vip: balancing.vip,
                    ports: balancing.ports,
                    scheduler: balancing.scheduler,
                    persistenceTimeout: balancing.persistenceTimeout,
                    realServers: forwardingAddresses,
                    keepalivedConf: balancing.keepalived ? keepalivedConf : undefined,
                }),
                steps: [{ name: `${name}-lb`, step: this.loadBalancer }],
                stepsStdin: stdin,
            },
            this,
        );
        this.registerOutputs({
            publicIp: this.publicIp,
            storageIp: this.storageIp,
            role: this.role,
            sshHint: this.sshHint,
            ipvsTable: this.ipvsTable,
        });
    }
}
