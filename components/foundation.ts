// What the machines share: a random suffix that keeps this stack's libvirt
// names apart from any other stack's, the two networks, the imported base
// image, and the operator's credentials.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { LabConfig, LabHost } from "./config";
import { LabContext, Site } from "./lab";
import { VRRP_PASSWORD_LENGTH } from "./keepalived";
import { Network, Volume, VxlanTunnel } from "./libvirt";

type LabNetwork = "public" | "storage";

/** The public network is the NAT side (on the gateway host); storage is isolated. Tags end the bridge names. */
const LAB_NETWORKS = {
    public: { mode: "nat" as const, tag: "p" },
    storage: { mode: "isolated" as const, tag: "s" },
};

type HostNetworks = Record<LabNetwork, Network>;

export interface FoundationArgs {
    /** The validated lab configuration. */
    config: LabConfig;
    /** The operator's public key line (read from `<sshKeyPath>.pub`). */
    sshPublicKey: string;
    /** The operator's private key; kept as a secret. */
    sshPrivateKey: pulumi.Input<string>;
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
    /** Everything the role components take. */
    public readonly context: LabContext;

    constructor(name: string, args: FoundationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("lvslab:index:Foundation", name, {}, opts);
        const { config } = args;
        const childOpts = { parent: this };

        const suffix = new random.RandomString(
            `${name}-suffix`,
            { length: 6, special: false, upper: false, numeric: true, lower: true, keepers: { namePrefix: config.namePrefix } },
            childOpts,
        );
        this.libvirtPrefix = pulumi.interpolate`${config.namePrefix}-${suffix.result}`;
        const consolePassword = new random.RandomPassword(`${name}-console-password`, { length: 20, special: false }, childOpts);
        // Shared by the two directors' VRRP adverts; keepalived's PASS
        // authentication reads 8 characters.
        const vrrpPassword =
            config.directors.length > 1 && config.vrrp.authentication === "pass"
                ? pulumi.secret(new random.RandomPassword(`${name}-vrrp-password`, { length: VRRP_PASSWORD_LENGTH, special: false }, childOpts).result)
                : undefined;

        // The gateway host's objects keep the names a one-host lab has always
        // had; another host's carry its name.
        const gateway = config.hosts[0];
        const resourcePrefix = (host: LabHost): string => (host === gateway ? name : `${name}-${host.name}`);
        const runsMachines = (host: LabHost): boolean => Object.values(config.placement).includes(host.name);
        const spread = config.spread;

        const networksOf = (host: LabHost): HostNetworks => {
            const makeNetwork = (role: LabNetwork): Network => {
                const spec = LAB_NETWORKS[role];
                const subnet = role === "public" ? config.publicSubnet : config.storageSubnet;
                // Only the gateway host has an address on the lab's networks
                // (and the public one's NAT): one .1 on the joined segment.
                const address = host === gateway ? { hostAddress: role === "public" ? config.publicHostIp : config.storageHostIp, prefixLength: subnet.prefixLength } : {};
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
        const networks = new Map(config.hosts.map((host) => [host.name, networksOf(host)]));
        this.networks = networks;
        const gatewayNetworks = networks.get(gateway.name) as HostNetworks;
        this.publicNetwork = gatewayNetworks.public;
        this.storageNetwork = gatewayNetworks.storage;

        if (spread) {
            // Each host's bridge of a network gets one VXLAN port that floods
            // to every other host's endpoint: the segments become one.
            for (const host of config.hosts) {
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
                            remoteAddresses: config.hosts.filter((other) => other !== host).map((other) => other.vxlanAddress as string),
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
        const sites: Record<string, Site> = {};
        for (const host of config.hosts.filter(runsMachines)) {
            const volume = (part: string, volumeName: pulumi.Input<string>, source: string): Volume => {
                const made = new Volume(
                    `${resourcePrefix(host)}-${part}`,
                    { connectionUri: host.uri, pool: config.storagePool, name: volumeName, source },
                    childOpts,
                );
                this.sharedVolumes.push(made);
                return made;
            };
            const baseImage = volume("base-image", pulumi.interpolate`${this.libvirtPrefix}-base.qcow2`, config.baseImage);
            const firstBoot = config.firstBoot;
            const bootVolumes =
                firstBoot.method === "kernel"
                    ? {
                          kernelPath: volume("kernel", pulumi.interpolate`${this.libvirtPrefix}-vmlinuz`, firstBoot.kernel).path,
                          initrdPath: volume("initrd", pulumi.interpolate`${this.libvirtPrefix}-initrd`, firstBoot.initrd).path,
                      }
                    : undefined;
            const hostNetworks = networks.get(host.name) as HostNetworks;
            sites[host.name] = {
                uri: host.uri,
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

        this.context = {
            config,
            libvirtPrefix: this.libvirtPrefix,
            sites,
            sshPublicKey: args.sshPublicKey,
            sshPrivateKey: pulumi.secret(args.sshPrivateKey),
            consolePassword: consolePassword.result,
            vrrpPassword,
        };
        this.registerOutputs({
            libvirtPrefix: this.libvirtPrefix,
            publicNetwork: this.publicNetwork.name,
            storageNetwork: this.storageNetwork.name,
            baseImage: sites[gateway.name]?.baseVolumePath,
        });
    }
}
