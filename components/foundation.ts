// What the machines share: a random suffix that keeps this stack's libvirt
// names apart from any other stack's, the two networks, the imported base
// image, and the operator's credentials.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { LabConfig } from "./config";
import { LabContext } from "./lab";
import { VRRP_PASSWORD_LENGTH } from "./keepalived";
import { Network, Volume } from "./libvirt";

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
    public readonly publicNetwork: Network;
    public readonly storageNetwork: Network;
    public readonly baseImage: Volume;
    /** The image's kernel and initramfs in the pool, when guests boot them directly. */
    public readonly bootVolumes?: { kernel: Volume; initrd: Volume };
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

        const networks = {
            public: { mode: "nat" as const, subnet: config.publicSubnet, hostIp: config.publicHostIp, tag: "p" },
            storage: { mode: "isolated" as const, subnet: config.storageSubnet, hostIp: config.storageHostIp, tag: "s" },
        };
        const makeNetwork = (role: keyof typeof networks): Network => {
            const spec = networks[role];
            return new Network(
                `${name}-${role}`,
                {
                    connectionUri: config.libvirtUri,
                    name: pulumi.interpolate`${this.libvirtPrefix}-${role}`,
                    // Linux caps bridge names at 15 characters.
                    bridgeName: pulumi.interpolate`lv${suffix.result}-${spec.tag}`,
                    mode: spec.mode,
                    hostAddress: spec.hostIp,
                    prefixLength: spec.subnet.prefixLength,
                },
                childOpts,
            );
        };
        this.publicNetwork = makeNetwork("public");
        this.storageNetwork = makeNetwork("storage");

        this.baseImage = new Volume(
            `${name}-base-image`,
            {
                connectionUri: config.libvirtUri,
                pool: config.storagePool,
                name: pulumi.interpolate`${this.libvirtPrefix}-base.qcow2`,
                source: config.baseImage,
            },
            childOpts,
        );

        // libvirt reads a directly booted kernel from its own host, so the
        // image's kernel and initramfs travel into the pool like the image.
        const firstBoot = config.firstBoot;
        if (firstBoot.method === "kernel") {
            const bootVolume = (part: "kernel" | "initrd", source: string): Volume =>
                new Volume(
                    `${name}-${part}`,
                    {
                        connectionUri: config.libvirtUri,
                        pool: config.storagePool,
                        name: pulumi.interpolate`${this.libvirtPrefix}-${part === "kernel" ? "vmlinuz" : "initrd"}`,
                        source,
                    },
                    childOpts,
                );
            this.bootVolumes = { kernel: bootVolume("kernel", firstBoot.kernel), initrd: bootVolume("initrd", firstBoot.initrd) };
        }

        this.context = {
            config,
            libvirtPrefix: this.libvirtPrefix,
            publicNetwork: this.publicNetwork.name,
            storageNetwork: this.storageNetwork.name,
            baseVolumePath: this.baseImage.path,
            bootVolumes: this.bootVolumes ? { kernelPath: this.bootVolumes.kernel.path, initrdPath: this.bootVolumes.initrd.path } : undefined,
            sshPublicKey: args.sshPublicKey,
            sshPrivateKey: pulumi.secret(args.sshPrivateKey),
            consolePassword: consolePassword.result,
            vrrpPassword,
        };
        this.registerOutputs({
            libvirtPrefix: this.libvirtPrefix,
            publicNetwork: this.publicNetwork.name,
            storageNetwork: this.storageNetwork.name,
            baseImage: this.baseImage.path,
        });
    }
}
