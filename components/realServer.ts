// A real server: takes forwarded connections the way the director's mode
// needs (the VIP on lo for DR, on tunl0 for TUN, replies routed back through
// the director for NAT) and serves the NFS-shared web root with apache.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ForwardingMode, RealServerConfig } from "./config";
import { guestStep } from "./guestStep";
import { GuestFacts, NO_READER_PARAMS, observeFacts, realServerWantedFacts } from "./facts";
import { GuestLogin, LabSubnets, Site, VmShape } from "./lab";
import { createMachine, Machine } from "./machine";
import { PUBLIC_NIC, publicNic, sshHint, STORAGE_NIC, storageNic } from "./nics";

export interface RealServerArgs {
    /** Name, addresses and weight (defaults web1..web4 at 172.16.16.177-180 and 192.168.7.177-180, weight 1). */
    server: RealServerConfig;
    /** The host it runs on: its libvirt URI, pool, networks and base image. */
    site: Site;
    /** Domain type, CPUs, memory and disk (defaults kvm, 1, 512 MiB, 8 GiB). */
    vm: VmShape;
    /** The operator's user, keys and console password (default user "lab"). */
    login: GuestLogin;
    /** Prefix lengths, the public gateway and the storage subnet (defaults 172.16.16.0/24 via 172.16.16.1, 192.168.7.0/24). */
    subnets: LabSubnets;
    /** The cluster address (default 172.16.16.172). */
    vip: string;
    /** The director's forwarding mode (default "dr"). */
    mode: ForwardingMode;
    /** NAT: the director's floating storage address, the way back for replies (default 192.168.7.172); unused in other modes. */
    natGateway: string;
    /** Service ports apache listens on (default [80]). */
    ports: number[];
    /**
     * Address of the NFS store whose export is mounted on /var/www/html
     * (default 192.168.7.250). The web step waits for it itself (up to 10
     * minutes), so that it starts as soon as this server answers, whatever
     * the store's boot.
     */
    nfsServer: string;
    /** The store's exported directory (default /opt/wwwroot). */
    nfsExportPath: string;
    /** Text of the shared page apache must serve (default "welcome to beijing!!!"): its facts check it. */
    pageContent: string;
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
    /** What its steps set, as wanted and as last read on the guest. */
    public readonly facts: GuestFacts;

    constructor(name: string, args: RealServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:RealServer", name, {}, opts);
        const { server, site, subnets, login } = args;
        this.serverName = server.name;
        this.publicIp = server.publicIp;
        this.storageIp = server.storageIp;
        this.weight = server.weight;
        this.sshHint = sshHint(login, server.publicIp);
        this.machine = createMachine(
            name,
            {
                hostname: server.name,
                site,
                vm: args.vm,
                login,
                nics: [publicNic(site, subnets, server.publicIp), storageNic(site, subnets, server.storageIp, STORAGE_NIC)],
            },
            this,
        );
        // A mode change re-runs this step in place.
        const forwarding = guestStep(
            `${name}-forwarding`,
            {
                login,
                host: server.publicIp,
                step: "real-server-forwarding",
                params: {
                    MODE: args.mode,
                    VIP: args.vip,
                    PUBLIC_IP: server.publicIp,
                    STORAGE_IP: server.storageIp,
                    STORAGE_SUBNET: subnets.storageCidr,
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
                login,
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
        this.facts = observeFacts(
            name,
            {
                machine: server.name,
                host: server.publicIp,
                login,
                reader: {
                    ...NO_READER_PARAMS,
                    ROLE: "real-server",
                    MODE: args.mode,
                    VIP: args.vip,
                    PORTS: args.ports.join(" "),
                    PUBLIC_IP: server.publicIp,
                    STORAGE_IP: server.storageIp,
                    NAT_GATEWAY: args.mode === "nat" ? args.natGateway : "",
                    PAGE_CONTENT: args.pageContent,
                },
                wanted: realServerWantedFacts({
                    mode: args.mode,
                    vip: args.vip,
                    publicNic: PUBLIC_NIC,
                    storageNic: STORAGE_NIC,
                    natGateway: args.natGateway,
                    storageIp: server.storageIp,
                    ports: args.ports,
                    nfsServer: args.nfsServer,
                    exportPath: args.nfsExportPath,
                }),
                steps: [
                    { name: `${name}-forwarding`, step: forwarding },
                    { name: `${name}-web`, step: serving },
                ],
            },
            this,
        );
        this.registerOutputs({
            serverName: this.serverName,
            publicIp: this.publicIp,
            storageIp: this.storageIp,
            weight: this.weight,
            sshHint: this.sshHint,
        });
    }
}
