// The lab's configuration: every key, its default, and one pure validation
// pass that turns raw stack config into a typed LabConfig or a list of every
// problem found, each naming the key and the fix. Nothing here touches Pulumi
// resources, so a bad stack is refused before anything is declared.
import { RunError } from "@pulumi/pulumi/errors";
import * as path from "path";
import { firstHost, formatIpv4, isUsableHost, parseIpv4, parseSubnet, Subnet } from "./net";

/** Schedulers the Debian 12 cloud kernel ships as ip_vs_* modules. */
export const SCHEDULERS = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

/** How the director forwards to the real servers: direct routing, NAT or IPIP tunnel. */
export const FORWARDING_MODES = ["dr", "nat", "tun"] as const;
export type ForwardingMode = (typeof FORWARDING_MODES)[number];

export const HEALTH_CHECK_KINDS = ["none", "http", "tcp"] as const;
export type HealthCheckKind = (typeof HEALTH_CHECK_KINDS)[number];

export const VRRP_AUTHENTICATIONS = ["pass", "none"] as const;
export type VrrpAuthentication = (typeof VRRP_AUTHENTICATIONS)[number];

export const DOMAIN_TYPES = ["kvm", "qemu"] as const;
export type DomainType = (typeof DOMAIN_TYPES)[number];

/** Below this the Debian guests swap or fail to start apache and nfsd together. */
export const MIN_MEMORY_MIB = 384;

/** A machine's name and addresses. */
export interface MachineAddresses {
    /** Logical name, also the guest's hostname: "director", "web1", "nfs". */
    name: string;
    /** Address on the public network, if the machine has a NIC there. */
    publicIp?: string;
    /** Address on the storage network. */
    storageIp: string;
}

/** A real server: addresses plus its weight in the virtual service. */
export interface RealServerConfig extends MachineAddresses {
    publicIp: string;
    weight: number;
}

/** Size of every lab VM. */
export interface VmSize {
    vcpus: number;
    memoryMiB: number;
    diskGiB: number;
}

/** How keepalived checks the real servers (kind "none": never taken out). */
export interface HealthCheck {
    kind: HealthCheckKind;
    /** HTTP only: the path requested and the status that means healthy. */
    path: string;
    expectedStatus: number;
    /** Seconds between checks of one server (keepalived's delay_loop). */
    intervalSeconds: number;
    /** Seconds a connection may take (connect_timeout). */
    timeoutSeconds: number;
    /** Failed attempts after the first before the server is taken out (retry). */
    retries: number;
}

/** VRRP between two directors. */
export interface VrrpSettings {
    virtualRouterId: number;
    masterPriority: number;
    backupPriority: number;
    advertIntervalSeconds: number;
    /** "pass": a generated password (keepalived's PASS, 8 characters); "none": no authentication. */
    authentication: VrrpAuthentication;
}

/**
 * How a guest gets its identity (name, addresses, user, key) at first boot:
 * the lab image's kernel booted directly with it on the command line (fast:
 * no cloud-init), or cloud-init reading a NoCloud seed (any Debian cloud image).
 */
export type FirstBoot = { method: "kernel"; kernel: string; initrd: string } | { method: "cloud-init" };

export const FIRST_BOOT_METHODS = ["auto", "kernel", "cloud-init"] as const;

/** Where the kernel and initramfs of an image built by image/build.sh lie: beside it. */
export function bootFilesOf(baseImage: string): { kernel: string; initrd: string } {
    const stem = baseImage.replace(/\.qcow2$/, "");
    return { kernel: `${stem}.vmlinuz`, initrd: `${stem}.initrd` };
}

/** A libvirt host the lab's machines can run on. */
export interface LabHost {
    /** Short name, used by `placement` and in the names of the host's resources: "a". */
    name: string;
    /** libvirt URI of the host, e.g. qemu:///system or qemu+ssh://root@host-b/system. */
    uri: string;
    /** Address of the host's VXLAN endpoint on the underlay; needed once machines are on more than one host. */
    vxlanAddress?: string;
}

/** How the networks of a lab spread over several hosts are joined: one VXLAN per network. */
export interface Spread {
    /** VXLAN network identifiers, one per lab network. */
    vnis: { public: number; storage: number };
    /** UDP port of the VXLAN endpoints on the underlay. */
    port: number;
    /** MTU of the lab's networks (and so of the guests' NICs): the underlay's less the 50 bytes VXLAN adds. */
    mtu: number;
}

/** Bytes VXLAN adds to every frame on an IPv4 underlay: outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

/** The validated configuration every component takes. Plain data only. */
export interface LabConfig {
    /** Prefix of every libvirt object's name. */
    namePrefix: string;
    /** The gateway host's libvirt URI (the only host's, unless `hosts` says more). */
    libvirtUri: string;
    /**
     * The hosts the lab uses, the gateway host first: it holds the NAT side
     * of the public network and the addresses clients use. Without `hosts`
     * in the stack, one host at libvirtUri.
     */
    hosts: LabHost[];
    /** Which host runs each machine, by machine name; every machine is listed. */
    placement: Record<string, string>;
    /** Set only when the machines run on more than one host. */
    spread?: Spread;
    domainType: DomainType;
    storagePool: string;
    /** Local path or http(s) URL of the qcow2 base image. */
    baseImage: string;
    firstBoot: FirstBoot;
    publicSubnet: Subnet;
    storageSubnet: Subnet;
    /** The lab host's address on each bridge (the subnet's first host). */
    publicHostIp: string;
    storageHostIp: string;
    vip: string;
    /** Forwarding mode of every virtual service. */
    mode: ForwardingMode;
    /** The main service port (the smoke test's). */
    port: number;
    /** Every service port: `port` first, then `extraPorts`. */
    ports: number[];
    scheduler: Scheduler;
    /** Seconds of client persistence (`ipvsadm -p`); 0 turns it off. */
    persistenceTimeout: number;
    /** One director (the seed), or MASTER then BACKUP. */
    directors: DualHomedMachine[];
    /** NAT mode: the real servers' gateway on the storage network, held by the active director. */
    storageVip: string;
    healthCheck: HealthCheck;
    /** The active director answers itself (a sorry page) when no real server is left. */
    sorryServer: boolean;
    vrrp: VrrpSettings;
    nfs: MachineAddresses;
    /** Directory exported by the NFS store. */
    nfsExportPath: string;
    /** Content of index.html on the share. */
    pageContent: string;
    realServers: RealServerConfig[];
    vm: VmSize;
    sshUser: string;
    /** Private key file; the public key is read from `<path>.pub`. */
    sshKeyPath: string;
}

/** A machine with a NIC on each network (the director). */
export interface DualHomedMachine extends MachineAddresses {
    publicIp: string;
}

/** Raw stack configuration: every value as the string Pulumi stores. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** What validation may ask of the host, injected so the function stays pure. */
export interface HostFacts {
    fileExists(filePath: string): boolean;
    homeDir: string;
}

export type ValidationResult = { ok: true; config: LabConfig } | { ok: false; problems: string[] };

/** Every key the program reads, with its default and meaning (also in Pulumi.yaml and the README). */
export const CONFIG_DEFAULTS = {
    namePrefix: "lvslab",
    libvirtUri: "qemu:///system",
    domainType: "kvm",
    storagePool: "default",
    publicSubnet: "172.16.16.0/24",
    storageSubnet: "192.168.7.0/24",
    vip: "172.16.16.172",
    mode: "dr",
    port: "80",
    extraPorts: "[]",
    scheduler: "rr",
    persistenceTimeout: "0",
    directors: "1",
    directorPublicIp: "172.16.16.173",
    directorStorageIp: "192.168.7.173",
    director2PublicIp: "172.16.16.174",
    director2StorageIp: "192.168.7.174",
    storageVip: "192.168.7.172",
    healthCheck: "none",
    healthCheckPath: "/",
    healthCheckStatus: "200",
    healthCheckInterval: "3",
    healthCheckTimeout: "2",
    healthCheckRetries: "1",
    sorryServer: "false",
    vrrpRouterId: "51",
    vrrpMasterPriority: "150",
    vrrpBackupPriority: "100",
    vrrpAdvertInterval: "1",
    vrrpAuthentication: "pass",
    nfsStorageIp: "192.168.7.250",
    nfsExportPath: "/opt/wwwroot",
    pageContent: "welcome to beijing!!!",
    realServerCount: "4",
    realServerPublicStart: "172.16.16.177",
    realServerStorageStart: "192.168.7.177",
    vcpus: "1",
    memoryMiB: "512",
    diskGiB: "8",
    firstBoot: "auto",
    sshUser: "lab",
    sshKeyPath: "~/.ssh/id_ed25519",
    vxlanPublicVni: "1616",
    vxlanStorageVni: "1687",
    vxlanPort: "4789",
    underlayMtu: "1500",
} as const;

/**
 * firstBoot: "kernel" needs the kernel and initramfs beside a local base
 * image (image/build.sh puts them there); "auto" takes the kernel when they
 * are there and cloud-init otherwise, so a stock cloud image just works.
 */
function resolveFirstBoot(problems: Problems, method: string, baseImage: string, host: HostFacts): FirstBoot | undefined {
    if (!(FIRST_BOOT_METHODS as readonly string[]).includes(method)) {
        problems.add(
            "firstBoot",
            `"${method}" is not a first-boot method; use "auto" (the default), "kernel" (the lab image's own kernel, fast) or "cloud-init" (any Debian cloud image)`,
        );
        return undefined;
    }
    if (method === "cloud-init" || baseImage === "") {
        return { method: "cloud-init" };
    }
    const files = bootFilesOf(baseImage);
    const local = !/^https?:\/\//.test(baseImage);
    const present = local && host.fileExists(files.kernel) && host.fileExists(files.initrd);
    if (present) {
        return { method: "kernel", ...files };
    }
    if (method === "kernel") {
        problems.add(
            "firstBoot",
            local
                ? `"kernel" boots the lab image's own kernel, but there is no ${files.kernel} and ${files.initrd} beside baseImage; build the image with scripts/lab image (it puts them there), or boot through cloud-init: pulumi config set firstBoot cloud-init`
                : `"kernel" needs a local baseImage with its kernel beside it, not a URL; use: pulumi config set firstBoot cloud-init`,
        );
    }
    return { method: "cloud-init" };
}

/** Keys without a default. */
const OPTIONAL_KEYS = ["baseImage", "realServers", "realServerWeights", "hosts", "placement"] as const;

export const CONFIG_KEYS: readonly string[] = [...Object.keys(CONFIG_DEFAULTS), ...OPTIONAL_KEYS];

class Problems {
    readonly list: string[] = [];
    add(key: string, text: string): void {
        this.list.push(`${key}: ${text}`);
    }
}

function parseInteger(problems: Problems, key: string, text: string, min: number, max: number): number {
    if (!/^-?[0-9]+$/.test(text.trim())) {
        problems.add(key, `"${text}" is not a whole number; set it to a number from ${min} to ${max}`);
        return min;
    }
    const value = Number(text);
    if (value < min || value > max) {
        problems.add(key, `${value} is out of range; set it to a number from ${min} to ${max}`);
    }
    return value;
}

/** Which subnet each address key lies in. */
const ADDRESS_SUBNET: Partial<Record<keyof typeof CONFIG_DEFAULTS, "publicSubnet" | "storageSubnet">> = {
    vip: "publicSubnet",
    directorPublicIp: "publicSubnet",
    director2PublicIp: "publicSubnet",
    realServerPublicStart: "publicSubnet",
    directorStorageIp: "storageSubnet",
    director2StorageIp: "storageSubnet",
    storageVip: "storageSubnet",
    nfsStorageIp: "storageSubnet",
    realServerStorageStart: "storageSubnet",
};

/**
 * An address key left at the seed's value follows its subnet: in another
 * subnet it takes the seed's host number there (.172 the VIP and the storage
 * VIP, .173 the director, .174 the second, .177 on the real servers, .250 the
 * store). Pulumi hands over Pulumi.yaml's default as a set value, so the
 * seed's value is how "not set" shows. An address set to anything else stays
 * as set; a host number that does not fit the subnet stays the seed's, and
 * validation names the key.
 */
export function followSubnet(key: keyof typeof CONFIG_DEFAULTS, value: string, subnet: Subnet | undefined): string {
    const subnetKey = ADDRESS_SUBNET[key];
    if (!subnetKey || !subnet || value !== CONFIG_DEFAULTS[key]) {
        return value;
    }
    const seed = parseSubnet(CONFIG_DEFAULTS[subnetKey]) as Subnet;
    const seedAddress = parseIpv4(value);
    if (seed.cidr === subnet.cidr || seedAddress === undefined) {
        return value;
    }
    const moved = subnet.network + (seedAddress - seed.network);
    return isUsableHost(subnet, moved) ? formatIpv4(moved) : value;
}

/** What each structured key looks like, for the refusal of one that is not. */
export const SHAPE_EXAMPLES: Readonly<Record<string, string>> = {
    extraPorts: "[8080]",
    hosts: '[{"name": "a", "uri": "qemu:///system", "vxlanAddress": "10.0.0.1"}]',
    placement: '{"web3": "b", "web4": "b"}',
    realServers: '[{"name": "web1", "publicIp": "172.16.16.177", "storageIp": "192.168.7.177", "weight": 1}]',
    realServerWeights: "[1, 1, 2, 1]",
};

function parseJson(problems: Problems, key: string, text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        problems.add(key, `"${text}" is not YAML/JSON of this key's shape; give it as, e.g., ${SHAPE_EXAMPLES[key]}`);
        return undefined;
    }
}

/** The edit distance between two keys, case ignored (a misspelling is a few edits away). */
function editDistance(a: string, b: string): number {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    let previous = Array.from({ length: y.length + 1 }, (_, index) => index);
    for (let i = 1; i <= x.length; i++) {
        const current = [i];
        for (let j = 1; j <= y.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[y.length];
}

/** The known key a misspelt one was most likely meant to be: the nearest within a third of its length; none when nothing is that near. */
export function likelyKey(unknown: string, known: readonly string[] = CONFIG_KEYS): string | undefined {
    const bound = Math.max(2, Math.floor(unknown.length / 3));
    const ranked = known.map((key) => ({ key, distance: editDistance(unknown, key) })).sort((a, b) => a.distance - b.distance);
    return ranked.length > 0 && ranked[0].distance <= bound ? ranked[0].key : undefined;
}

function expandHome(filePath: string, homeDir: string): string {
    return filePath.startsWith("~/") ? path.join(homeDir, filePath.slice(2)) : filePath;
}

/**
 * Validates raw stack config into a LabConfig. Returns every problem at once;
 * each names the key and says what would fix it.
 */
export function validateConfig(raw: RawConfig, host: HostFacts): ValidationResult {
    const problems = new Problems();
    const get = (key: keyof typeof CONFIG_DEFAULTS): string => {
        const value = raw[key];
        return value === undefined || value === "" ? CONFIG_DEFAULTS[key] : value;
    };

    const unknownKeys = Object.keys(raw).filter((key) => !CONFIG_KEYS.includes(key));
    for (const key of unknownKeys) {
        const meant = likelyKey(key);
        problems.add(
            key,
            meant
                ? `unknown setting; did you mean ${meant}? Rename the key in the stack's config (Pulumi.STACK.yaml)`
                : `unknown setting; the known ones are: ${CONFIG_KEYS.join(", ")}`,
        );
    }

    const namePrefix = get("namePrefix");
    if (!/^[a-z][a-z0-9-]{0,15}$/.test(namePrefix)) {
        problems.add("namePrefix", `"${namePrefix}" must be 1-16 lowercase letters, digits or dashes, starting with a letter`);
    }

    const domainType = get("domainType");
    if (!(DOMAIN_TYPES as readonly string[]).includes(domainType)) {
        problems.add("domainType", `"${domainType}" is not a libvirt domain type here; use "kvm" (hardware) or "qemu" (software emulation)`);
    }

    const scheduler = get("scheduler");
    if (!(SCHEDULERS as readonly string[]).includes(scheduler)) {
        problems.add("scheduler", `unknown scheduler "${scheduler}"; use one of ${SCHEDULERS.join(" ")}`);
    }

    const mode = get("mode");
    if (!(FORWARDING_MODES as readonly string[]).includes(mode)) {
        problems.add("mode", `unknown forwarding mode "${mode}"; use dr (direct routing), nat or tun (IPIP tunnel)`);
    }
    const port = parseInteger(problems, "port", get("port"), 1, 65535);
    const ports = [port, ...extraPortsFrom(problems, get("extraPorts"), port)];
    const directorCount = parseInteger(problems, "directors", get("directors"), 1, 2);
    const healthCheck = healthCheckFrom(problems, get);
    const sorryServer = parseBoolean(problems, "sorryServer", get("sorryServer"));
    if (sorryServer && healthCheck.kind === "none") {
        problems.add(
            "sorryServer",
            "answers only when health checks have taken every real server out; set healthCheck to http or tcp, or sorryServer to false",
        );
    }
    const vrrp = vrrpFrom(problems, get);
    const persistenceTimeout = parseInteger(problems, "persistenceTimeout", get("persistenceTimeout"), 0, 86400);
    const vm: VmSize = {
        vcpus: parseInteger(problems, "vcpus", get("vcpus"), 1, 16),
        memoryMiB: parseInteger(problems, "memoryMiB", get("memoryMiB"), 0, 65536),
        diskGiB: parseInteger(problems, "diskGiB", get("diskGiB"), 4, 512),
    };
    if (vm.memoryMiB < MIN_MEMORY_MIB) {
        problems.add("memoryMiB", `${vm.memoryMiB} MiB is below what the guests need; set it to at least ${MIN_MEMORY_MIB}`);
    }

    // Subnets first: every address check below depends on them.
    const subnets: Partial<Record<"publicSubnet" | "storageSubnet", Subnet>> = {};
    for (const key of ["publicSubnet", "storageSubnet"] as const) {
        const parsed = parseSubnet(get(key));
        if (typeof parsed === "string") {
            problems.add(key, parsed);
        } else {
            subnets[key] = parsed;
        }
    }
    const { publicSubnet, storageSubnet } = subnets;
    if (publicSubnet && storageSubnet && overlaps(publicSubnet, storageSubnet)) {
        problems.add("storageSubnet", `${storageSubnet.cidr} overlaps publicSubnet ${publicSubnet.cidr}; pick a separate range`);
    }
    // Addresses left at the seed's follow the subnets.
    const getAddress = (key: keyof typeof CONFIG_DEFAULTS): string => {
        const subnetKey = ADDRESS_SUBNET[key];
        return subnetKey ? followSubnet(key, get(key), subnets[subnetKey]) : get(key);
    };

    // Every address the lab assigns, so duplicates are found across machines.
    const taken = new Map<number, string>();
    const checkAddress = (key: string, text: string, subnet: Subnet | undefined, subnetKey: string): void => {
        const value = parseIpv4(text);
        if (value === undefined) {
            problems.add(key, `"${text}" is not an IPv4 address`);
            return;
        }
        if (!subnet) {
            return;
        }
        if (!isUsableHost(subnet, value)) {
            problems.add(key, `${text} is outside ${subnetKey} ${subnet.cidr} (or is its network/broadcast address); pick a host address inside it`);
            return;
        }
        if (value === subnet.network + 1) {
            problems.add(key, `${text} is the lab host's own address on ${subnetKey}; pick another`);
            return;
        }
        const owner = taken.get(value);
        if (owner) {
            problems.add(key, `${text} is already used by ${owner}; every machine and the VIP need their own address`);
            return;
        }
        taken.set(value, key);
    };

    const vip = getAddress("vip");
    checkAddress("vip", vip, publicSubnet, "publicSubnet");
    const directorKeys = [
        { name: "director", publicKey: "directorPublicIp", storageKey: "directorStorageIp" },
        { name: "director2", publicKey: "director2PublicIp", storageKey: "director2StorageIp" },
    ] as const;
    const directors: DualHomedMachine[] = directorKeys.slice(0, directorCount === 2 ? 2 : 1).map((keys) => {
        const machine = { name: keys.name, publicIp: getAddress(keys.publicKey), storageIp: getAddress(keys.storageKey) };
        checkAddress(keys.publicKey, machine.publicIp, publicSubnet, "publicSubnet");
        checkAddress(keys.storageKey, machine.storageIp, storageSubnet, "storageSubnet");
        return machine;
    });
    // Only NAT routes through it, so only NAT claims the address.
    const storageVip = getAddress("storageVip");
    if (mode === "nat") {
        checkAddress("storageVip", storageVip, storageSubnet, "storageSubnet");
    }
    const nfs: MachineAddresses = { name: "nfs", storageIp: getAddress("nfsStorageIp") };
    checkAddress("nfsStorageIp", nfs.storageIp, storageSubnet, "storageSubnet");

    const realServers = realServersFrom(raw, getAddress, problems);
    realServers.forEach((server, index) => {
        const key = raw.realServers ? `realServers[${index}]` : `realServers (${server.name})`;
        checkAddress(`${key}.publicIp`, server.publicIp, publicSubnet, "publicSubnet");
        checkAddress(`${key}.storageIp`, server.storageIp, storageSubnet, "storageSubnet");
    });
    const names = new Set<string>([...directors.map((machine) => machine.name), "nfs"]);
    for (const server of realServers) {
        if (names.has(server.name)) {
            problems.add("realServers", `the name "${server.name}" is used twice; give every machine its own name`);
        }
        names.add(server.name);
    }

    const nfsExportPath = get("nfsExportPath");
    if (!/^\/[A-Za-z0-9._/-]+$/.test(nfsExportPath) || nfsExportPath.includes("..")) {
        problems.add("nfsExportPath", `"${nfsExportPath}" must be an absolute path of letters, digits, '.', '_', '-' and '/'`);
    }
    const pageContent = get("pageContent");
    if (pageContent.includes("\n")) {
        problems.add("pageContent", "must be one line; the smoke test compares it exactly");
    }

    const sshUser = get("sshUser");
    if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(sshUser) || sshUser === "root") {
        problems.add("sshUser", `"${sshUser}" must be a plain lowercase user name other than root`);
    }
    const sshKeyPath = expandHome(get("sshKeyPath"), host.homeDir);
    if (!host.fileExists(sshKeyPath) || !host.fileExists(`${sshKeyPath}.pub`)) {
        problems.add("sshKeyPath", `no key pair at ${sshKeyPath} (and ${sshKeyPath}.pub); create one with: ssh-keygen -t ed25519 -N "" -f ${sshKeyPath}`);
    }

    const baseImage = raw.baseImage ?? "";
    if (baseImage === "") {
        problems.add(
            "baseImage",
            "not set; give the path or http(s) URL of a qcow2 Debian cloud image (scripts/lab image builds the lab's own): pulumi config set baseImage PATH",
        );
    } else if (!/^https?:\/\//.test(baseImage) && !host.fileExists(baseImage)) {
        problems.add(
            "baseImage",
            `no file at ${baseImage}; build the lab's image with scripts/lab image (it runs image/build.sh and links the result as /var/lib/lvs-dr-lab/images/lvslab-debian12.qcow2), or point baseImage at an existing qcow2 image: pulumi config set baseImage PATH`,
        );
    }

    const firstBoot = resolveFirstBoot(problems, get("firstBoot"), baseImage, host);

    const storagePool = get("storagePool");
    if (!/^[A-Za-z0-9_.-]+$/.test(storagePool)) {
        problems.add("storagePool", `"${storagePool}" is not a libvirt pool name`);
    }

    const machineNames = [...directors.map((machine) => machine.name), nfs.name, ...realServers.map((server) => server.name)];
    const placed = placementFrom(problems, raw, get, machineNames, [publicSubnet, storageSubnet]);

    if (problems.list.length > 0 || !publicSubnet || !storageSubnet) {
        return { ok: false, problems: problems.list };
    }
    return {
        ok: true,
        config: {
            namePrefix,
            libvirtUri: placed.hosts[0].uri,
            hosts: placed.hosts,
            placement: placed.placement,
            ...(placed.spread ? { spread: placed.spread } : {}),
            domainType: domainType as DomainType,
            storagePool,
            baseImage,
            firstBoot: firstBoot ?? { method: "cloud-init" },
            publicSubnet,
            storageSubnet,
            publicHostIp: firstHost(publicSubnet),
            storageHostIp: firstHost(storageSubnet),
            vip,
            mode: mode as ForwardingMode,
            port,
            ports,
            scheduler: scheduler as Scheduler,
            persistenceTimeout,
            directors,
            storageVip,
            healthCheck,
            sorryServer,
            vrrp,
            nfs,
            nfsExportPath,
            pageContent,
            realServers,
            vm,
            sshUser,
            sshKeyPath,
        },
    };
}

function parseBoolean(problems: Problems, key: string, text: string): boolean {
    if (text === "true" || text === "false") {
        return text === "true";
    }
    problems.add(key, `"${text}" is not true or false`);
    return false;
}

function parseChoice<T extends string>(problems: Problems, key: string, text: string, choices: readonly T[]): T {
    if ((choices as readonly string[]).includes(text)) {
        return text as T;
    }
    problems.add(key, `"${text}" is not one of ${choices.join(", ")}`);
    return choices[0];
}

/** More service ports next to `port`, e.g. [8080]: each its own virtual service. */
function extraPortsFrom(problems: Problems, text: string, port: number): number[] {
    const parsed = parseJson(problems, "extraPorts", text);
    if (parsed === undefined) {
        return [];
    }
    if (!Array.isArray(parsed) || !parsed.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) {
        problems.add("extraPorts", `must be a list of TCP ports from 1 to 65535, e.g. ${SHAPE_EXAMPLES.extraPorts}`);
        return [];
    }
    const ports = parsed as number[];
    if (new Set([port, ...ports]).size !== ports.length + 1) {
        problems.add("extraPorts", `lists a port twice or repeats port ${port}; give each service port once`);
        return [];
    }
    if (ports.length > 8) {
        problems.add("extraPorts", `has ${ports.length} ports; the lab serves at most 8 extra ones`);
        return [];
    }
    return ports;
}

function healthCheckFrom(problems: Problems, get: (key: keyof typeof CONFIG_DEFAULTS) => string): HealthCheck {
    const kind = parseChoice(problems, "healthCheck", get("healthCheck"), HEALTH_CHECK_KINDS);
    const urlPath = get("healthCheckPath");
    if (!/^\/[A-Za-z0-9._~\/?=&%-]*$/.test(urlPath)) {
        problems.add("healthCheckPath", `"${urlPath}" must be a URL path starting with / (letters, digits and . _ ~ / ? = & % -)`);
    }
    const check: HealthCheck = {
        kind,
        path: urlPath,
        expectedStatus: parseInteger(problems, "healthCheckStatus", get("healthCheckStatus"), 100, 599),
        intervalSeconds: parseInteger(problems, "healthCheckInterval", get("healthCheckInterval"), 1, 3600),
        timeoutSeconds: parseInteger(problems, "healthCheckTimeout", get("healthCheckTimeout"), 1, 300),
        retries: parseInteger(problems, "healthCheckRetries", get("healthCheckRetries"), 0, 10),
    };
    return check;
}

function vrrpFrom(problems: Problems, get: (key: keyof typeof CONFIG_DEFAULTS) => string): VrrpSettings {
    const vrrp: VrrpSettings = {
        virtualRouterId: parseInteger(problems, "vrrpRouterId", get("vrrpRouterId"), 1, 255),
        masterPriority: parseInteger(problems, "vrrpMasterPriority", get("vrrpMasterPriority"), 2, 254),
        backupPriority: parseInteger(problems, "vrrpBackupPriority", get("vrrpBackupPriority"), 1, 253),
        advertIntervalSeconds: parseInteger(problems, "vrrpAdvertInterval", get("vrrpAdvertInterval"), 1, 255),
        authentication: parseChoice(problems, "vrrpAuthentication", get("vrrpAuthentication"), VRRP_AUTHENTICATIONS),
    };
    if (vrrp.backupPriority >= vrrp.masterPriority) {
        problems.add(
            "vrrpBackupPriority",
            `${vrrp.backupPriority} is not below vrrpMasterPriority ${vrrp.masterPriority}; the BACKUP needs the lower priority`,
        );
    }
    return vrrp;
}

/** A libvirt URI as libvirt writes them: a scheme (driver, maybe +transport), then `://`. */
const LIBVIRT_URI = /^[a-z][a-z0-9]*(\+[a-z0-9]+)?:\/\/[^\s]*$/;

/**
 * The hosts, where each machine runs, and (when that is more than one host)
 * how their networks are joined. Without `hosts` and `placement` this is
 * today's lab: one host at libvirtUri, every machine on it, nothing to join.
 */
function placementFrom(
    problems: Problems,
    raw: RawConfig,
    get: (key: keyof typeof CONFIG_DEFAULTS) => string,
    machineNames: string[],
    labSubnets: (Subnet | undefined)[],
): { hosts: LabHost[]; placement: Record<string, string>; spread?: Spread } {
    let hosts: LabHost[] = [{ name: "local", uri: get("libvirtUri") }];
    if (raw.hosts !== undefined && raw.hosts !== "") {
        // Pulumi passes Pulumi.yaml's default URI even when the stack sets
        // none, so only a different one conflicts with the list.
        if (raw.libvirtUri !== undefined && raw.libvirtUri !== "" && raw.libvirtUri !== CONFIG_DEFAULTS.libvirtUri) {
            problems.add(
                "libvirtUri",
                "set either libvirtUri (one host) or hosts (a list), not both; put this URI in the first host's uri and unset libvirtUri",
            );
        }
        hosts = hostsFrom(problems, parseJson(problems, "hosts", raw.hosts), labSubnets);
    }
    const hostNames = hosts.map((host) => host.name);
    const placement: Record<string, string> = {};
    for (const machine of machineNames) {
        placement[machine] = hostNames[0] ?? "local";
    }
    if (raw.placement !== undefined && raw.placement !== "") {
        const parsed = parseJsonObject(problems, "placement", raw.placement);
        for (const [machine, host] of Object.entries(parsed ?? {})) {
            const key = `placement.${machine}`;
            if (!machineNames.includes(machine)) {
                problems.add(key, `there is no machine "${machine}"; the machines are ${machineNames.join(", ")}`);
            } else if (typeof host !== "string" || !hostNames.includes(host)) {
                problems.add(key, `${JSON.stringify(host)} is not one of the hosts (${hostNames.join(", ")}); name one of them, or add the host to hosts`);
            } else {
                placement[machine] = host;
            }
        }
    }

    // The gateway host always takes part (it holds the NAT side); the others
    // only when a machine runs there.
    const used = hosts.filter((host, index) => index === 0 || Object.values(placement).includes(host.name));
    const vnis = {
        public: parseInteger(problems, "vxlanPublicVni", get("vxlanPublicVni"), 1, 16777215),
        storage: parseInteger(problems, "vxlanStorageVni", get("vxlanStorageVni"), 1, 16777215),
    };
    const port = parseInteger(problems, "vxlanPort", get("vxlanPort"), 1, 65535);
    // The lab's MTU must stay at least IPv4's and IPv6's 1280.
    const underlayMtu = parseInteger(problems, "underlayMtu", get("underlayMtu"), 1280 + VXLAN_OVERHEAD, 65535);
    if (used.length < 2) {
        return { hosts: used, placement };
    }
    if (vnis.public === vnis.storage) {
        problems.add("vxlanStorageVni", `${vnis.storage} is also vxlanPublicVni; each lab network needs its own VNI`);
    }
    for (const host of used) {
        if (host.vxlanAddress === undefined) {
            const runs = machineNames.filter((machine) => placement[machine] === host.name);
            const what = runs.length > 0 ? `runs ${runs.join(", ")}` : "holds the gateway";
            problems.add(
                `hosts[${hosts.indexOf(host)}].vxlanAddress`,
                `host "${host.name}" ${what} while other machines run elsewhere, so its networks must be joined to theirs; set vxlanAddress to the address its VXLAN endpoint uses on the underlay`,
            );
        }
    }
    return { hosts: used, placement, spread: { vnis, port, mtu: underlayMtu - VXLAN_OVERHEAD } };
}

function hostsFrom(problems: Problems, parsed: unknown, labSubnets: (Subnet | undefined)[]): LabHost[] {
    if (!Array.isArray(parsed) || parsed.length === 0) {
        if (parsed !== undefined) {
            problems.add(
                "hosts",
                'must be a list of one or more {name, uri, vxlanAddress}, e.g. [{"name": "a", "uri": "qemu:///system", "vxlanAddress": "10.0.0.1"}]',
            );
        }
        return [{ name: "local", uri: CONFIG_DEFAULTS.libvirtUri }];
    }
    const hosts: LabHost[] = [];
    parsed.forEach((entry: unknown, index) => {
        const key = `hosts[${index}]`;
        if (typeof entry !== "object" || entry === null) {
            problems.add(key, "must be an object {name, uri, vxlanAddress}");
            return;
        }
        const record = entry as Record<string, unknown>;
        const name = typeof record.name === "string" ? record.name : "";
        if (!/^[a-z][a-z0-9-]{0,11}$/.test(name)) {
            problems.add(`${key}.name`, "must be 1-12 lowercase letters, digits or dashes, starting with a letter (it goes into resource names), e.g. a");
        } else if (hosts.some((host) => host.name === name)) {
            problems.add(`${key}.name`, `"${name}" is used twice; give every host its own name`);
        }
        const uri = typeof record.uri === "string" ? record.uri : "";
        if (!LIBVIRT_URI.test(uri)) {
            problems.add(`${key}.uri`, `${JSON.stringify(record.uri)} is not a libvirt URI; use e.g. qemu:///system or qemu+ssh://root@host-b/system`);
        } else if (hosts.some((host) => host.uri === uri)) {
            problems.add(`${key}.uri`, `${uri} is also another host's; two entries with one URI are one libvirt host, list it once`);
        }
        let vxlanAddress: string | undefined;
        if (record.vxlanAddress !== undefined) {
            const value = typeof record.vxlanAddress === "string" ? parseIpv4(record.vxlanAddress) : undefined;
            if (value === undefined) {
                problems.add(
                    `${key}.vxlanAddress`,
                    `${JSON.stringify(record.vxlanAddress)} is not an IPv4 address; give the address this host's VXLAN endpoint uses on the underlay`,
                );
            } else if (labSubnets.some((subnet) => subnet !== undefined && isUsableHost(subnet, value))) {
                problems.add(
                    `${key}.vxlanAddress`,
                    `${String(record.vxlanAddress)} is inside a lab network; the tunnels run over the underlay, so give the host's address there`,
                );
            } else if (hosts.some((host) => host.vxlanAddress === record.vxlanAddress)) {
                problems.add(`${key}.vxlanAddress`, `${String(record.vxlanAddress)} is also another host's; every VXLAN endpoint needs its own address`);
            } else {
                vxlanAddress = record.vxlanAddress as string;
            }
        }
        hosts.push({ name, uri, ...(vxlanAddress !== undefined ? { vxlanAddress } : {}) });
    });
    return hosts;
}

function parseJsonObject(problems: Problems, key: string, text: string): Record<string, unknown> | undefined {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        problems.add(key, `"${text}" is not a map of machine to host; give it as YAML/JSON, e.g. {"web3": "b", "web4": "b"}`);
        return undefined;
    }
    return parsed as Record<string, unknown>;
}

/** Whether keepalived runs on the directors: for VRRP, health checks or a sorry server. */
export function usesKeepalived(config: Pick<LabConfig, "directors" | "healthCheck" | "sorryServer">): boolean {
    return config.directors.length > 1 || config.healthCheck.kind !== "none" || config.sorryServer;
}

function overlaps(a: Subnet, b: Subnet): boolean {
    const aEnd = a.network + 2 ** (32 - a.prefixLength);
    const bEnd = b.network + 2 ** (32 - b.prefixLength);
    return a.network < bEnd && b.network < aEnd;
}

/** Real servers either listed explicitly or derived from a count and start addresses. */
function realServersFrom(raw: RawConfig, get: (key: keyof typeof CONFIG_DEFAULTS) => string, problems: Problems): RealServerConfig[] {
    if (raw.realServers !== undefined && raw.realServers !== "") {
        // Pulumi passes Pulumi.yaml's default count even when the stack sets
        // none, so only a different count conflicts with the list.
        const countSet = raw.realServerCount !== undefined && raw.realServerCount !== "" && raw.realServerCount !== CONFIG_DEFAULTS.realServerCount;
        const weightsSet = raw.realServerWeights !== undefined && raw.realServerWeights !== "";
        if (countSet || weightsSet) {
            problems.add("realServers", "set either realServers (an explicit list) or realServerCount/realServerWeights, not both");
        }
        return explicitRealServers(parseJson(problems, "realServers", raw.realServers), problems);
    }
    const count = parseInteger(problems, "realServerCount", get("realServerCount"), 1, 64);
    if (count < 1) {
        problems.add("realServerCount", "an LVS cluster needs at least one real server; set it to 1 or more");
        return [];
    }
    let weights: number[] = Array<number>(count).fill(1);
    if (raw.realServerWeights !== undefined && raw.realServerWeights !== "") {
        const parsed = parseJson(problems, "realServerWeights", raw.realServerWeights);
        if (!Array.isArray(parsed) || !parsed.every((w) => Number.isInteger(w) && w >= 0 && w <= 65535)) {
            problems.add("realServerWeights", "must be a list of whole numbers from 0 to 65535, one per real server");
        } else if (parsed.length !== count) {
            problems.add("realServerWeights", `has ${parsed.length} weights for ${count} real servers; give exactly one weight per server`);
        } else {
            weights = parsed as number[];
        }
    }
    const publicStart = parseIpv4(get("realServerPublicStart"));
    const storageStart = parseIpv4(get("realServerStorageStart"));
    if (publicStart === undefined) {
        problems.add("realServerPublicStart", `"${get("realServerPublicStart")}" is not an IPv4 address`);
    }
    if (storageStart === undefined) {
        problems.add("realServerStorageStart", `"${get("realServerStorageStart")}" is not an IPv4 address`);
    }
    if (publicStart === undefined || storageStart === undefined) {
        return [];
    }
    return weights.map((weight, index) => ({
        name: `web${index + 1}`,
        publicIp: formatIpv4(publicStart + index),
        storageIp: formatIpv4(storageStart + index),
        weight,
    }));
}

function explicitRealServers(parsed: unknown, problems: Problems): RealServerConfig[] {
    if (!Array.isArray(parsed)) {
        problems.add("realServers", `must be a list of {name, publicIp, storageIp, weight}, e.g. ${SHAPE_EXAMPLES.realServers}`);
        return [];
    }
    if (parsed.length === 0) {
        problems.add("realServers", "an LVS cluster needs at least one real server; list one or more");
        return [];
    }
    const servers: RealServerConfig[] = [];
    parsed.forEach((entry: unknown, index) => {
        const key = `realServers[${index}]`;
        if (typeof entry !== "object" || entry === null) {
            problems.add(key, "must be an object {name, publicIp, storageIp, weight}");
            return;
        }
        const record = entry as Record<string, unknown>;
        const name = record.name;
        const weight = record.weight ?? 1;
        if (typeof name !== "string" || !/^[a-z][a-z0-9-]{0,14}$/.test(name)) {
            problems.add(`${key}.name`, "must be a short lowercase host name such as web1");
        }
        if (typeof record.publicIp !== "string" || typeof record.storageIp !== "string") {
            problems.add(key, "needs publicIp and storageIp as strings");
        }
        if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0 || weight > 65535) {
            problems.add(`${key}.weight`, "must be a whole number from 0 to 65535");
        }
        servers.push({
            name: String(name),
            publicIp: String(record.publicIp),
            storageIp: String(record.storageIp),
            weight: typeof weight === "number" ? weight : 1,
        });
    });
    return servers;
}

/**
 * The error thrown when validation fails: every problem, one per line. A
 * RunError, so that a program refusing its config under the Pulumi CLI prints
 * just this message, without "Unhandled exception" and a JavaScript stack.
 */
export class ConfigError extends RunError {
    constructor(readonly problems: string[]) {
        super(`the stack configuration has ${problems.length} problem(s); nothing was created:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}
