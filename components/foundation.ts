// What the machines share: a random suffix that keeps this stack's libvirt
// names apart from any other stack's, the two networks on every host (joined
// by VXLAN when there are several), the imported base image on every host
// that runs machines, and the generated passwords.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { FirstBoot, LabHost, Spread } from "./config";
import { Site } from "./lab";
import { VRRP_PASSWORD_LENGTH } from "./keepalived";
import { Network, Volume, VxlanTunnel } from "./libvirt";

type LabNetwork = "public" | "storage";

/** The public network is the NAT side (on the gateway host); storage is isolated. Tags end the bridge names. */
const LAB_NETWORKS = {
    public: { mode: "nat" as const, tag: "p" },
    storage: { mode: "isolated" as const, tag: "s" },
};

type HostNetworks = Record<LabNetwork, Network>;

/** The lab host's address on one lab network, and that network's prefix length. */
export interface GatewayAddress {
    /** The subnet's first host (defaults 172.16.16.1 public, 192.168.7.1 storage). */
    address: string;
    /** The subnet's prefix length (default 24). */
    prefixLength: number;
}

export interface FoundationArgs {
    /** Start of every libvirt name of the stack, before the random suffix (default "lvslab"). */
    namePrefix: string;
    /**
     * The libvirt hosts the lab uses, the gateway host first: it holds the
     * NAT side of the public network and the lab's host addresses (default
     * one host, "local", at qemu:///system). Each gets both networks.
     */
    hosts: LabHost[];
    /** Names of the hosts that run machines: each gets the image in its pool (default the one host). */
    machineHosts: string[];
    /** The gateway host's address on each network (defaults 172.16.16.1/24 and 192.168.7.1/24). */
    gatewayAddresses: Record<LabNetwork, GatewayAddress>;
    /** How the networks of several hosts are joined; undefined on one host (the default). */
    spread?: Spread;
    /** The storage pool on every host that runs machines (default "default"). */
    storagePool: string;
    /** Local path or http(s) URL of the qcow2 base image (no default). */
    baseImage: string;
    /** How guests get their identity at first boot; "kernel" imports the image's kernel and initramfs too (default: "kernel" when they lie beside the image, else "cloud-init"). */
    firstBoot: FirstBoot;
    /** Make the directors' shared VRRP password: two directors with PASS authentication (default false: the seed has one director). */
    needsVrrpPassword: boolean;
}

export class Foundation extends pulumi.ComponentResource {
    /** `<namePrefix>-<suffix>`, the start of every libvirt name of this stack. */
    public readonly libvirtPrefix: pulumi.Output<string>;
    /** The gateway host's networks. */
    public readonly publicNetwork: Network;
    public readonly storageNetwork: Network;
    /** The base image, and the kernel and initramfs when guests boot them directly, on every host that runs machines. */
    public readonly sharedVolumes: Volume[] = [];
    /** Each host's lab networks (the gateway host's too), by host name. */
    public readonly networks: Map<string, HostNetworks>;
    /** What the machines on each host that runs any use there, by host name. */
    public readonly sites: Record<string, Site> = {};
    /** Serial console password of the operator user on every guest, a secret. */
    public readonly consolePassword: pulumi.Output<string>;
    /** The directors' shared VRRP password, a secret; only when asked for (two directors, PASS authentication). */
    public readonly vrrpPassword?: pulumi.Output<string>;

    constructor(name: string, args: FoundationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:Foundation", name, {}, opts);
        const childOpts = { parent: this };

        const suffix = new random.RandomString(
            `${name}-suffix`,
            { length: 6, special: false, upper: false, numeric: true, lower: true, keepers: { namePrefix: args.namePrefix } },
            childOpts,
        );
        this.libvirtPrefix = pulumi.interpolate`${args.namePrefix}-${suffix.result}`;
        this.consolePassword = new random.RandomPassword(`${name}-console-password`, { length: 20, special: false }, childOpts).result;
        // Shared by the two directors' VRRP adverts; keepalived's PASS
        // authentication reads 8 characters.
        if (args.needsVrrpPassword) {
            this.vrrpPassword = pulumi.secret(
                new random.RandomPassword(`${name}-vrrp-password`, { length: VRRP_PASSWORD_LENGTH, special: false }, childOpts).result,
            );
        }

        // The gateway host's objects keep the names a one-host lab has always
        // had; another host's carry its name.
        const gateway = args.hosts[0];
        const resourcePrefix = (host: LabHost): string => (host === gateway ? name : `${name}-${host.name}`);
        const spread = args.spread;

        const networksOf = (host: LabHost): HostNetworks => {
            const makeNetwork = (role: LabNetwork): Network => {
                const spec = LAB_NETWORKS[role];
                // Only the gateway host has an address on the lab's networks
                // (and the public one's NAT): one .1 on the joined segment.
                const gatewayAddress = args.gatewayAddresses[role];
                const address = host === gateway ? { hostAddress: gatewayAddress.address, prefixLength: gatewayAddress.prefixLength } : {};
                return new Network(
                    `${resourcePrefix(host)}-${role}`,
                    {
                        connectionUri: host.uri,
                        name: pulumi.interpolate`${this.libvirtPrefix}-${role}`,
                        // Linux caps bridge names at 15 characters.
                        bridgeName: pulumi.interpolate`lv${suffix.result}-${spec.tag}`,
                        mode: host === gateway ? spec.mode : "isolated",
                        ...address,
                        ...(spread ? { mtu: spread.mtu } : {}),
                    },
                    childOpts,
                );
            };
            return { public: makeNetwork("public"), storage: makeNetwork("storage") };
        };
        const networks = new Map(args.hosts.map((host) => [host.name, networksOf(host)]));
        this.networks = networks;
        const gatewayNetworks = networks.get(gateway.name) as HostNetworks;
        this.publicNetwork = gatewayNetworks.public;
        this.storageNetwork = gatewayNetworks.storage;

        if (spread) {
            // Each host's bridge of a network gets one VXLAN port that floods
            // to every other host's endpoint: the segments become one.
            for (const host of args.hosts) {
                for (const role of ["public", "storage"] as const) {
                    const network = (networks.get(host.name) as HostNetworks)[role];
                    new VxlanTunnel(
                        `${resourcePrefix(host)}-${role}-vxlan`,
                        {
                            connectionUri: host.uri,
                            deviceName: pulumi.interpolate`lv${suffix.result}-v${LAB_NETWORKS[role].tag}`,
                            bridgeName: network.bridgeName,
                            vni: spread.vnis[role],
                            localAddress: host.vxlanAddress as string,
                            remoteAddresses: args.hosts.filter((other) => other !== host).map((other) => other.vxlanAddress as string),
                            port: spread.port,
                            mtu: spread.mtu,
                            networkUuid: network.uuid,
                        },
                        childOpts,
                    );
                }
            }
        }

        // Every host that runs machines gets the image in its own pool:
        // libvirt reads disks, backing files and a directly booted kernel
        // from the host that runs the domain.
        for (const host of args.hosts.filter((candidate) => args.machineHosts.includes(candidate.name))) {
            const volume = (part: string, volumeName: pulumi.Input<string>, source: string): Volume => {
                const made = new Volume(
                    `${resourcePrefix(host)}-${part}`,
                    { connectionUri: host.uri, pool: args.storagePool, name: volumeName, source },
                    childOpts,
                );
                this.sharedVolumes.push(made);
                return made;
            };
            const baseImage = volume("base-image", pulumi.interpolate`${this.libvirtPrefix}-base.qcow2`, args.baseImage);
            const firstBoot = args.firstBoot;
            const bootVolumes =
                firstBoot.method === "kernel"
                    ? {
                          kernelPath: volume("kernel", pulumi.interpolate`${this.libvirtPrefix}-vmlinuz`, firstBoot.kernel).path,
                          initrdPath: volume("initrd", pulumi.interpolate`${this.libvirtPrefix}-initrd`, firstBoot.initrd).path,
                      }
                    : undefined;
            const hostNetworks = networks.get(host.name) as HostNetworks;
            this.sites[host.name] = {
                uri: host.uri,
                pool: args.storagePool,
                libvirtPrefix: this.libvirtPrefix,
                publicNetwork: hostNetworks.public.name,
                storageNetwork: hostNetworks.storage.name,
                baseVolumePath: baseImage.path,
                ...(bootVolumes ? { bootVolumes } : {}),
                // The network's <mtu> reaches the tap devices but not the
                // guests: each NIC carries it too, or guest-to-guest TCP
                // across hosts would send frames the tunnel drops.
                ...(spread ? { nicMtu: spread.mtu } : {}),
            };
        }

        this.registerOutputs({
            libvirtPrefix: this.libvirtPrefix,
            publicNetwork: this.publicNetwork.name,
            storageNetwork: this.storageNetwork.name,
            baseImage: this.sites[gateway.name]?.baseVolumePath,
        });
    }
}
