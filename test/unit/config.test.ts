// Validation of the stack configuration (components/config.ts) and the IPv4
// helpers under it (components/net.ts): the seed topology from the defaults,
// one refusal per kind of wrong input (each naming the setting and the fix),
// the ways to describe real servers, and Pulumi.yaml agreeing with the code.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { CONFIG_DEFAULTS, CONFIG_KEYS, ConfigError, LabConfig, MIN_MEMORY_MIB, RawConfig, SCHEDULERS, usesKeepalived } from "../../components/config";
import { firstHost, formatIpv4, isUsableHost, macFor, parseIpv4, parseSubnet, Subnet } from "../../components/net";
import { accepted, assertProblem, BASE_IMAGE, HOME, hostWithFiles, refused, SEED_RAW } from "../helpers/seed";
import { parseYamlLikeCloudInit, projectFile } from "../helpers/tools";

const KEY_PATH = `${HOME}/.ssh/id_ed25519`;

/** The seed's real servers: web1..web4 at .177-.180 on both networks, weight 1. */
const SEED_REAL_SERVERS = [1, 2, 3, 4].map((n) => ({
    name: `web${n}`,
    publicIp: `172.16.16.${176 + n}`,
    storageIp: `192.168.7.${176 + n}`,
    weight: 1,
}));

/** The seed topology as the table in SPEC.md gives it, written out literally. */
const SEED_CONFIG: LabConfig = {
    namePrefix: "lvslab",
    libvirtUri: "qemu:///system",
    // One host, every machine on it: no tunnel, nothing spread.
    hosts: [{ name: "local", uri: "qemu:///system" }],
    placement: { director: "local", nfs: "local", web1: "local", web2: "local", web3: "local", web4: "local" },
    domainType: "kvm",
    storagePool: "default",
    baseImage: BASE_IMAGE,
    // Every file exists on the default test host, so "auto" finds the kernel beside the image.
    firstBoot: { method: "kernel", kernel: "/var/lib/lvslab/debian-12-lvslab.vmlinuz", initrd: "/var/lib/lvslab/debian-12-lvslab.initrd" },
    publicSubnet: { cidr: "172.16.16.0/24", network: 0xac101000, prefixLength: 24 },
    storageSubnet: { cidr: "192.168.7.0/24", network: 0xc0a80700, prefixLength: 24 },
    publicHostIp: "172.16.16.1",
    storageHostIp: "192.168.7.1",
    vip: "172.16.16.172",
    mode: "dr",
    port: 80,
    ports: [80],
    scheduler: "rr",
    persistenceTimeout: 0,
    directors: [{ name: "director", publicIp: "172.16.16.173", storageIp: "192.168.7.173" }],
    storageVip: "192.168.7.172",
    healthCheck: { kind: "none", path: "/", expectedStatus: 200, intervalSeconds: 3, timeoutSeconds: 2, retries: 1 },
    sorryServer: false,
    vrrp: { virtualRouterId: 51, masterPriority: 150, backupPriority: 100, advertIntervalSeconds: 1, authentication: "pass" },
    nfs: { name: "nfs", storageIp: "192.168.7.250" },
    nfsExportPath: "/opt/wwwroot",
    pageContent: "welcome to beijing!!!",
    realServers: SEED_REAL_SERVERS,
    vm: { vcpus: 1, memoryMiB: 512, diskGiB: 8 },
    sshUser: "lab",
    sshKeyPath: KEY_PATH,
};

/**
 * The `default:` of every key under `config:` in Pulumi.yaml, read line by
 * line (the project has no YAML library, and the block is simple), and the
 * set of keys declared there.
 */
function pulumiYamlConfig(): { declared: string[]; defaults: Record<string, string> } {
    const lines = fs.readFileSync(projectFile("Pulumi.yaml"), "utf8").split("\n");
    const start = lines.indexOf("config:");
    assert.ok(start >= 0, "Pulumi.yaml has a top-level config: block");
    const declared: string[] = [];
    const defaults: Record<string, string> = {};
    let key: string | undefined;
    for (const line of lines.slice(start + 1)) {
        if (/^\S/.test(line)) {
            break; // the next top-level key ends the block
        }
        const keyLine = /^ {2}([A-Za-z][A-Za-z0-9]*):\s*$/.exec(line);
        if (keyLine) {
            key = keyLine[1];
            declared.push(key);
            continue;
        }
        const defaultLine = /^ {4}default:\s*(.*?)\s*$/.exec(line);
        if (defaultLine && key) {
            defaults[key] = unquoteYamlScalar(defaultLine[1]);
        }
    }
    return { declared, defaults };
}

function unquoteYamlScalar(text: string): string {
    if (text.startsWith('"')) {
        return JSON.parse(text) as string;
    }
    if (text.startsWith("'")) {
        return text.slice(1, -1).replace(/''/g, "'");
    }
    return text;
}

/** The raw config Pulumi hands the program for a stack that sets only baseImage: every declared default, as strings. */
function rawAsPulumiPassesIt(overrides: Record<string, string> = {}): RawConfig {
    const raw: Record<string, string | undefined> = {};
    for (const key of CONFIG_KEYS) {
        raw[key] = undefined;
    }
    return { ...raw, ...pulumiYamlConfig().defaults, baseImage: BASE_IMAGE, ...overrides };
}

describe("validateConfig: the defaults", () => {
    it("gives the seed topology: subnets, VIP 172.16.16.172:80 rr, director .173/.173, nfs 192.168.7.250 /opt/wwwroot, web1..web4 at .177-.180 weight 1, host addresses .1", () => {
        assert.deepEqual(accepted(SEED_RAW), SEED_CONFIG);
    });

    it("gives the same topology from the raw config Pulumi passes (every Pulumi.yaml default filled in)", () => {
        assert.deepEqual(accepted(rawAsPulumiPassesIt()), SEED_CONFIG);
    });

    it("reads the SSH key pair from the home directory and checks both halves", () => {
        const host = hostWithFiles([BASE_IMAGE, KEY_PATH, `${KEY_PATH}.pub`]);
        accepted(SEED_RAW, host);
        assert.ok(host.asked.includes(KEY_PATH), `asked: ${host.asked.join(", ")}`);
        assert.ok(host.asked.includes(`${KEY_PATH}.pub`), `asked: ${host.asked.join(", ")}`);
    });
});

describe("validateConfig: wrong input is refused, naming the setting and the fix", () => {
    it("refuses a VIP outside the public subnet, naming vip and the subnet", () => {
        assertProblem(refused({ ...SEED_RAW, vip: "10.0.0.172" }), "vip", "outside publicSubnet 172.16.16.0/24", "pick a host address inside it");
    });

    it("refuses the public subnet's network or broadcast address as the VIP", () => {
        assertProblem(refused({ ...SEED_RAW, vip: "172.16.16.255" }), "vip", "broadcast", "pick a host address inside it");
        assertProblem(refused({ ...SEED_RAW, vip: "172.16.16.0" }), "vip", "network", "pick a host address inside it");
    });

    it("refuses a machine address outside its subnet, naming the setting and the subnet", () => {
        const problems = refused({ ...SEED_RAW, directorStorageIp: "172.16.16.200", nfsStorageIp: "10.1.1.1" });
        assertProblem(problems, "directorStorageIp", "outside storageSubnet 192.168.7.0/24", "pick a host address inside it");
        assertProblem(problems, "nfsStorageIp", "outside storageSubnet 192.168.7.0/24", "pick a host address inside it");
    });

    it("refuses derived real servers that run past the end of the public subnet, naming the server", () => {
        const problems = refused({ ...SEED_RAW, realServerPublicStart: "172.16.16.253" });
        assertProblem(problems, "realServers (web3).publicIp", "172.16.16.255", "outside publicSubnet 172.16.16.0/24");
        assertProblem(problems, "realServers (web4).publicIp", "172.16.17.0", "outside publicSubnet 172.16.16.0/24");
    });

    it("refuses a VIP equal to the director's address, naming directorPublicIp and vip", () => {
        assertProblem(refused({ ...SEED_RAW, vip: "172.16.16.173" }), "directorPublicIp", "172.16.16.173 is already used by vip", "need their own address");
    });

    it("refuses a VIP equal to a real server's address, naming the server", () => {
        assertProblem(refused({ ...SEED_RAW, vip: "172.16.16.177" }), "realServers (web1).publicIp", "already used by vip");
    });

    it("refuses two machines on one address, naming both settings", () => {
        assertProblem(
            refused({ ...SEED_RAW, nfsStorageIp: "192.168.7.173" }),
            "nfsStorageIp",
            "192.168.7.173 is already used by directorStorageIp",
            "need their own address",
        );
    });

    it("refuses a real server derived onto the NFS store's address", () => {
        assertProblem(
            refused({ ...SEED_RAW, realServerStorageStart: "192.168.7.248" }),
            "realServers (web3).storageIp",
            "192.168.7.250 is already used by nfsStorageIp",
        );
    });

    it("refuses duplicate names in an explicit realServers list", () => {
        const list = [
            { name: "web1", publicIp: "172.16.16.177", storageIp: "192.168.7.177" },
            { name: "web1", publicIp: "172.16.16.178", storageIp: "192.168.7.178" },
        ];
        assertProblem(refused({ ...SEED_RAW, realServers: JSON.stringify(list) }), "realServers", `"web1" is used twice`, "give every machine its own name");
    });

    it("refuses an explicit real server named like another machine (director)", () => {
        const list = [{ name: "director", publicIp: "172.16.16.177", storageIp: "192.168.7.177" }];
        assertProblem(refused({ ...SEED_RAW, realServers: JSON.stringify(list) }), "realServers", `"director" is used twice`);
    });

    it("refuses zero real servers given as realServerCount 0", () => {
        assertProblem(refused({ ...SEED_RAW, realServerCount: "0" }), "realServerCount", "at least one real server", "set it to 1 or more");
    });

    it("refuses zero real servers given as an empty realServers list", () => {
        assertProblem(refused({ ...SEED_RAW, realServers: "[]" }), "realServers", "at least one real server", "list one or more");
    });

    it("refuses a realServerCount that is not a whole number", () => {
        assertProblem(refused({ ...SEED_RAW, realServerCount: "four" }), "realServerCount", `"four" is not a whole number`, "from 1 to 64");
    });

    it("refuses an unknown scheduler, listing the known ones", () => {
        assertProblem(refused({ ...SEED_RAW, scheduler: "roundrobin" }), "scheduler", `unknown scheduler "roundrobin"`, `use one of ${SCHEDULERS.join(" ")}`);
    });

    it("refuses realServerWeights whose length differs from the server count", () => {
        assertProblem(
            refused({ ...SEED_RAW, realServerWeights: "[1, 2]" }),
            "realServerWeights",
            "has 2 weights for 4 real servers",
            "exactly one weight per server",
        );
    });

    it("refuses realServerWeights that are not whole numbers from 0 to 65535", () => {
        for (const weights of [`["heavy", 1, 1, 1]`, "[1, 1.5, 1, 1]", "[1, -1, 1, 1]", "[1, 70000, 1, 1]", `{"web1": 1}`]) {
            assertProblem(refused({ ...SEED_RAW, realServerWeights: weights }), "realServerWeights", "whole numbers from 0 to 65535");
        }
    });

    it("refuses realServerWeights that do not parse as a list", () => {
        assertProblem(
            refused({ ...SEED_RAW, realServerWeights: "1, 1, 1, 1" }),
            "realServerWeights",
            "is not YAML/JSON of this key's shape",
            "e.g., [1, 1, 2, 1]",
        );
    });

    it("refuses a bad weight in an explicit realServers list, naming the entry", () => {
        const list = [{ name: "web1", publicIp: "172.16.16.177", storageIp: "192.168.7.177", weight: "2" }];
        assertProblem(refused({ ...SEED_RAW, realServers: JSON.stringify(list) }), "realServers[0].weight", "whole number from 0 to 65535");
    });

    it("refuses a base image path where no file exists, saying how to build one", () => {
        const host = hostWithFiles([KEY_PATH, `${KEY_PATH}.pub`]);
        assertProblem(refused(SEED_RAW, host), "baseImage", `no file at ${BASE_IMAGE}`, "image/build.sh");
    });

    it("refuses an unset baseImage, giving the pulumi config command", () => {
        assertProblem(refused({}), "baseImage", "not set", "pulumi config set baseImage");
        assertProblem(refused({ baseImage: "" }), "baseImage", "not set");
    });

    it("refuses a missing SSH key pair (public half absent), giving the ssh-keygen command", () => {
        const host = hostWithFiles([BASE_IMAGE, KEY_PATH]);
        assertProblem(refused(SEED_RAW, host), "sshKeyPath", `no key pair at ${KEY_PATH}`, `ssh-keygen -t ed25519 -N "" -f ${KEY_PATH}`);
    });

    it("refuses a missing SSH key pair (private half absent)", () => {
        const host = hostWithFiles([BASE_IMAGE, `${KEY_PATH}.pub`]);
        assertProblem(refused(SEED_RAW, host), "sshKeyPath", `no key pair at ${KEY_PATH}`, "ssh-keygen");
    });

    it("refuses memory below the minimum, naming the minimum", () => {
        assertProblem(refused({ ...SEED_RAW, memoryMiB: String(MIN_MEMORY_MIB - 1) }), "memoryMiB", `set it to at least ${MIN_MEMORY_MIB}`);
        accepted({ ...SEED_RAW, memoryMiB: String(MIN_MEMORY_MIB) });
    });

    it("refuses an unknown config key, listing the known ones", () => {
        assertProblem(refused({ ...SEED_RAW, vipAddress: "172.16.16.172" }), "vipAddress", "unknown setting", "the known ones are:", "vip");
    });

    it("names the key a misspelt one was probably meant to be, and lists them all only when none is near", () => {
        const misspelt = assertProblem(refused({ ...SEED_RAW, schedular: "wrr" }), "schedular", "unknown setting; did you mean scheduler?");
        assert.ok(!misspelt.includes("the known ones are"), "one key named, not every key");
        assertProblem(refused({ ...SEED_RAW, realServerWieghts: "[1, 1, 1, 1]" }), "realServerWieghts", "did you mean realServerWeights?");
        assertProblem(refused({ ...SEED_RAW, PORT: "8080" }), "PORT", "did you mean port?");
        assertProblem(refused({ ...SEED_RAW, colour: "blue" }), "colour", "the known ones are:");
    });

    it("answers a structured key that is not of its shape with an example of that key's own shape", () => {
        assertProblem(refused({ ...SEED_RAW, realServers: "web1, web2" }), "realServers", '"name": "web1", "publicIp": "172.16.16.177"');
        assertProblem(
            refused({ ...SEED_RAW, realServers: '{"name": "web1"}' }),
            "realServers",
            "must be a list of {name, publicIp, storageIp, weight}, e.g. [{",
        );
        assertProblem(refused({ ...SEED_RAW, extraPorts: "8080, 8081" }), "extraPorts", "e.g., [8080]");
        assertProblem(refused({ ...SEED_RAW, hosts: "a,b" }), "hosts", '"vxlanAddress": "10.0.0.1"');
    });

    it("refuses a subnet with host bits set, giving the subnet meant", () => {
        assertProblem(refused({ ...SEED_RAW, publicSubnet: "172.16.16.1/24" }), "publicSubnet", "has host bits set", "the subnet is 172.16.16.0/24");
    });

    it("refuses a subnet not in CIDR form", () => {
        assertProblem(refused({ ...SEED_RAW, storageSubnet: "192.168.7.0" }), "storageSubnet", "not an IPv4 subnet in CIDR form", "such as 172.16.16.0/24");
    });

    it("refuses overlapping public and storage subnets", () => {
        assertProblem(
            refused({ ...SEED_RAW, storageSubnet: "172.16.0.0/16" }),
            "storageSubnet",
            "overlaps publicSubnet 172.16.16.0/24",
            "pick a separate range",
        );
    });

    it("refuses the lab host's own .1 address for a machine", () => {
        const problems = refused({ ...SEED_RAW, directorPublicIp: "172.16.16.1", nfsStorageIp: "192.168.7.1" });
        assertProblem(problems, "directorPublicIp", "lab host's own address on publicSubnet", "pick another");
        assertProblem(problems, "nfsStorageIp", "lab host's own address on storageSubnet", "pick another");
    });

    it("refuses an unknown domainType, naming kvm and qemu", () => {
        assertProblem(refused({ ...SEED_RAW, domainType: "xen" }), "domainType", `"xen"`, `"kvm"`, `"qemu"`);
    });

    it("refuses both an explicit realServers list and a realServerCount of its own", () => {
        const list = [{ name: "web1", publicIp: "172.16.16.177", storageIp: "192.168.7.177" }];
        assertProblem(refused({ ...SEED_RAW, realServers: JSON.stringify(list), realServerCount: "3" }), "realServers", "set either realServers", "not both");
        assertProblem(refused({ ...SEED_RAW, realServers: JSON.stringify(list), realServerWeights: "[1]" }), "realServers", "not both");
    });

    it("reports several problems at once, not just the first", () => {
        const host = hostWithFiles([]);
        const problems = refused({ vip: "10.0.0.1", scheduler: "fastest", memoryMiB: "128", domainType: "xen", bogus: "1" }, host);
        for (const key of ["vip", "scheduler", "memoryMiB", "domainType", "bogus", "baseImage", "sshKeyPath"]) {
            assertProblem(problems, key);
        }
        assert.equal(problems.length, 7, problems.join("\n"));
    });

    it("puts every problem, one per line, into ConfigError's message", () => {
        const problems = refused({ ...SEED_RAW, vip: "10.0.0.1", scheduler: "fastest" });
        const error = new ConfigError(problems);
        assert.match(error.message, /2 problem\(s\); nothing was created/);
        for (const problem of problems) {
            assert.ok(error.message.includes(`\n  - ${problem}`), error.message);
        }
    });
});

describe("validateConfig: describing the real servers", () => {
    it("derives web5 at 172.16.16.181 / 192.168.7.181 from realServerCount 5", () => {
        const config = accepted({ ...SEED_RAW, realServerCount: "5" });
        assert.deepEqual(config.realServers, [...SEED_REAL_SERVERS, { name: "web5", publicIp: "172.16.16.181", storageIp: "192.168.7.181", weight: 1 }]);
    });

    it("honours an explicit realServers list, weight defaulting to 1", () => {
        const list = [
            { name: "alpha", publicIp: "172.16.16.190", storageIp: "192.168.7.190", weight: 3 },
            { name: "beta", publicIp: "172.16.16.200", storageIp: "192.168.7.201" },
        ];
        const config = accepted({ ...SEED_RAW, realServers: JSON.stringify(list) });
        assert.deepEqual(config.realServers, [
            { name: "alpha", publicIp: "172.16.16.190", storageIp: "192.168.7.190", weight: 3 },
            { name: "beta", publicIp: "172.16.16.200", storageIp: "192.168.7.201", weight: 1 },
        ]);
    });

    it("accepts an explicit realServers list while realServerCount carries Pulumi.yaml's default, as Pulumi passes it", () => {
        const list = [{ name: "solo", publicIp: "172.16.16.190", storageIp: "192.168.7.190" }];
        const config = accepted(rawAsPulumiPassesIt({ realServers: JSON.stringify(list) }));
        assert.deepEqual(config.realServers, [{ name: "solo", publicIp: "172.16.16.190", storageIp: "192.168.7.190", weight: 1 }]);
    });

    it("applies realServerWeights in order, 0 draining a server", () => {
        const config = accepted({ ...SEED_RAW, realServerWeights: "[1, 2, 0, 5]" });
        assert.deepEqual(
            config.realServers.map((server) => [server.name, server.weight]),
            [
                ["web1", 1],
                ["web2", 2],
                ["web3", 0],
                ["web4", 5],
            ],
        );
    });

    it("firstBoot auto boots the image's kernel when .vmlinuz and .initrd lie beside it, cloud-init otherwise", () => {
        const beside = ["/var/lib/lvslab/debian-12-lvslab.vmlinuz", "/var/lib/lvslab/debian-12-lvslab.initrd"];
        const withKernel = accepted(SEED_RAW, hostWithFiles([BASE_IMAGE, KEY_PATH, `${KEY_PATH}.pub`, ...beside]));
        assert.deepEqual(withKernel.firstBoot, { method: "kernel", kernel: beside[0], initrd: beside[1] });
        const initrdMissing = accepted(SEED_RAW, hostWithFiles([BASE_IMAGE, KEY_PATH, `${KEY_PATH}.pub`, beside[0]]));
        assert.deepEqual(initrdMissing.firstBoot, { method: "cloud-init" });
        assert.deepEqual(accepted({ ...SEED_RAW, firstBoot: "cloud-init" }).firstBoot, { method: "cloud-init" });
        assert.deepEqual(accepted({ baseImage: "https://images.example/debian-12.qcow2" }).firstBoot, { method: "cloud-init" });
    });

    it("refuses firstBoot kernel without the kernel beside the image, or with a URL, naming the fix", () => {
        const host = hostWithFiles([BASE_IMAGE, KEY_PATH, `${KEY_PATH}.pub`]);
        assertProblem(
            refused({ ...SEED_RAW, firstBoot: "kernel" }, host),
            "firstBoot",
            "no /var/lib/lvslab/debian-12-lvslab.vmlinuz",
            "scripts/lab image",
            "pulumi config set firstBoot cloud-init",
        );
        assertProblem(
            refused({ baseImage: "https://images.example/debian-12.qcow2", firstBoot: "kernel" }),
            "firstBoot",
            "not a URL",
            "pulumi config set firstBoot cloud-init",
        );
        assertProblem(refused({ ...SEED_RAW, firstBoot: "pxe" }), "firstBoot", '"pxe" is not a first-boot method', '"cloud-init"');
    });

    it("accepts an http(s) baseImage URL without looking for a file", () => {
        for (const url of ["https://images.example/debian-12.qcow2", "http://10.0.0.2/lvslab.qcow2"]) {
            const host = hostWithFiles([KEY_PATH, `${KEY_PATH}.pub`]);
            assert.equal(accepted({ baseImage: url }, host).baseImage, url);
            assert.ok(!host.asked.includes(url), `asked about ${url}`);
        }
    });

    it("moves every address left at the seed's with the subnets: the seed's host numbers in the new ones", () => {
        const config = accepted({ ...SEED_RAW, publicSubnet: "10.77.0.0/24", storageSubnet: "10.78.0.0/24", directors: "2", mode: "nat" });
        assert.equal(config.vip, "10.77.0.172");
        assert.deepEqual(
            config.directors.map((machine) => [machine.publicIp, machine.storageIp]),
            [
                ["10.77.0.173", "10.78.0.173"],
                ["10.77.0.174", "10.78.0.174"],
            ],
        );
        assert.equal(config.storageVip, "10.78.0.172");
        assert.equal(config.nfs.storageIp, "10.78.0.250");
        assert.deepEqual(
            config.realServers.map((server) => [server.publicIp, server.storageIp]),
            [
                ["10.77.0.177", "10.78.0.177"],
                ["10.77.0.178", "10.78.0.178"],
                ["10.77.0.179", "10.78.0.179"],
                ["10.77.0.180", "10.78.0.180"],
            ],
        );
        // As Pulumi hands them over: Pulumi.yaml's defaults as set values.
        const asPassed = accepted({ ...CONFIG_DEFAULTS, ...SEED_RAW, publicSubnet: "10.77.0.0/24", storageSubnet: "10.78.0.0/24" });
        assert.equal(asPassed.vip, "10.77.0.172");
        assert.equal(asPassed.nfs.storageIp, "10.78.0.250");
    });

    it("keeps an address that is set, and names the key whose seed host number does not fit a small subnet", () => {
        const config = accepted({ ...SEED_RAW, publicSubnet: "10.77.0.0/24", storageSubnet: "10.78.0.0/24", vip: "10.77.0.10" });
        assert.equal(config.vip, "10.77.0.10");
        assert.equal(config.directors[0].publicIp, "10.77.0.173");
        assertProblem(refused({ ...SEED_RAW, publicSubnet: "10.77.0.0/26" }), "vip", "outside publicSubnet 10.77.0.0/26");
    });

    it("moves the lab host address with the subnets", () => {
        const config = accepted({
            ...SEED_RAW,
            publicSubnet: "10.20.0.0/16",
            storageSubnet: "10.30.0.0/24",
            vip: "10.20.1.1",
            directorPublicIp: "10.20.1.2",
            directorStorageIp: "10.30.0.2",
            nfsStorageIp: "10.30.0.3",
            realServerPublicStart: "10.20.2.1",
            realServerStorageStart: "10.30.0.10",
        });
        assert.equal(config.publicHostIp, "10.20.0.1");
        assert.equal(config.storageHostIp, "10.30.0.1");
        assert.equal(config.realServers[3].publicIp, "10.20.2.4");
    });
});

describe("Pulumi.yaml and CONFIG_DEFAULTS", () => {
    it("is YAML a real parser reads, with every key's type, description and default (the line reader below is no YAML parser)", () => {
        const project = parseYamlLikeCloudInit(fs.readFileSync(projectFile("Pulumi.yaml"), "utf8")) as {
            config: Record<string, { type: string; description: string; default: unknown }>;
        };
        assert.deepEqual(Object.keys(project.config).sort(), Object.keys(CONFIG_DEFAULTS).sort());
        for (const [key, entry] of Object.entries(project.config)) {
            assert.equal(typeof entry.description, "string", `${key}'s description is one string`);
            assert.equal(String(entry.default), (CONFIG_DEFAULTS as Record<string, string>)[key], `${key}'s default`);
        }
    });

    it("declares every key that has a default, and documents the optional ones in a comment", () => {
        // Pulumi treats a declared key without a default as required.
        assert.deepEqual([...pulumiYamlConfig().declared].sort(), Object.keys(CONFIG_DEFAULTS).sort());
        const text = fs.readFileSync(projectFile("Pulumi.yaml"), "utf8");
        for (const key of CONFIG_KEYS.filter((k) => !(k in CONFIG_DEFAULTS))) {
            assert.match(text, new RegExp(`^#\\s+${key}\\s`, "m"), `Pulumi.yaml documents ${key}`);
        }
    });

    it("declares the same default as CONFIG_DEFAULTS for every key, and none for the optional ones", () => {
        assert.deepEqual(pulumiYamlConfig().defaults, { ...CONFIG_DEFAULTS });
    });
});

describe("net: IPv4 helpers", () => {
    it("parses dotted quads into 32-bit unsigned numbers", () => {
        assert.equal(parseIpv4("172.16.16.172"), 0xac1010ac);
        assert.equal(parseIpv4("0.0.0.0"), 0);
        assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
        assert.equal(formatIpv4(0xffffffff), "255.255.255.255");
        assert.equal(formatIpv4(parseIpv4("192.168.7.250") ?? -1), "192.168.7.250");
    });

    it("refuses leading zeros, octets above 255, the wrong number of parts and stray characters", () => {
        for (const text of [
            "01.2.3.4",
            "1.2.3.04",
            "00.1.2.3",
            "256.1.1.1",
            "1.2.3.1000",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.",
            "",
            " 1.2.3.4",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.-2.3.4",
            "0x1.2.3.4",
            "1e2.1.1.1",
        ]) {
            assert.equal(parseIpv4(text), undefined, JSON.stringify(text));
        }
    });

    it("parses a subnet in CIDR form, trimming blanks", () => {
        assert.deepEqual(parseSubnet(" 172.16.16.0/24 "), { cidr: "172.16.16.0/24", network: 0xac101000, prefixLength: 24 });
        assert.deepEqual(parseSubnet("10.20.0.0/16"), { cidr: "10.20.0.0/16", network: 0x0a140000, prefixLength: 16 });
    });

    it("refuses subnets with host bits, without a prefix, or with an unusable prefix length", () => {
        assert.equal(parseSubnet("172.16.16.1/24"), `"172.16.16.1/24" has host bits set; the subnet is 172.16.16.0/24`);
        assert.match(String(parseSubnet("172.16.16.0")), /not an IPv4 subnet in CIDR form/);
        assert.match(String(parseSubnet("172.16.16.0/")), /not an IPv4 subnet in CIDR form/);
        for (const text of ["172.16.16.0/31", "172.16.16.0/32", "10.0.0.0/8", "10.0.0.0/15", "300.1.1.0/24"]) {
            assert.match(String(parseSubnet(text)), /not a usable IPv4 subnet/, text);
        }
    });

    it("counts neither the network nor the broadcast address as a usable host", () => {
        const subnet = parseSubnet("192.168.7.0/24") as Subnet;
        assert.equal(isUsableHost(subnet, 0xc0a80700), false);
        assert.equal(isUsableHost(subnet, 0xc0a807ff), false);
        assert.equal(isUsableHost(subnet, 0xc0a80701), true);
        assert.equal(isUsableHost(subnet, 0xc0a807fe), true);
        assert.equal(isUsableHost(subnet, 0xc0a80800), false);
        assert.equal(firstHost(subnet), "192.168.7.1");
    });
});

describe("net: macFor", () => {
    it("gives a stable, locally administered QEMU MAC from the network index and the address", () => {
        assert.equal(macFor(1, "172.16.16.173"), "52:54:00:01:10:ad");
        assert.equal(macFor(1, "172.16.16.173"), macFor(1, "172.16.16.173"));
        assert.equal(macFor(2, "192.168.7.250"), "52:54:00:02:07:fa");
    });

    it("gives the same address on different networks different MACs", () => {
        assert.notEqual(macFor(1, "10.0.0.5"), macFor(2, "10.0.0.5"));
    });

    it("gives every usable address of the widest subnet parseSubnet accepts its own MAC", () => {
        const widest = [...Array(33).keys()].map((prefix) => parseSubnet(`10.0.0.0/${prefix}`)).find((s): s is Subnet => typeof s !== "string");
        assert.ok(widest, "parseSubnet accepts some prefix length");
        // macFor keeps an address's last two octets, so no subnet may be wider than /16.
        assert.ok(widest.prefixLength >= 16, `parseSubnet accepts /${widest.prefixLength}`);
        const size = 2 ** (32 - widest.prefixLength);
        const seen = new Set<string>();
        for (let address = widest.network + 1; address < widest.network + size - 1; address++) {
            seen.add(macFor(1, formatIpv4(address)));
        }
        assert.equal(seen.size, size - 2);
    });

    it("refuses a non-address", () => {
        assert.throws(() => macFor(1, "web1"), /"web1" is not an IPv4 address/);
    });
});

describe("validateConfig: beyond the seed (modes, two directors, health checks, more services)", () => {
    it("reads two directors, a mode, extra ports and health checks into typed settings", () => {
        const config = accepted({
            ...SEED_RAW,
            directors: "2",
            mode: "nat",
            extraPorts: "[8080, 8443]",
            healthCheck: "http",
            healthCheckPath: "/health?full=1",
            healthCheckInterval: "2",
            healthCheckTimeout: "1",
            healthCheckRetries: "0",
            sorryServer: "true",
            vrrpMasterPriority: "200",
        });
        assert.deepEqual(config.directors, [
            { name: "director", publicIp: "172.16.16.173", storageIp: "192.168.7.173" },
            { name: "director2", publicIp: "172.16.16.174", storageIp: "192.168.7.174" },
        ]);
        assert.equal(config.mode, "nat");
        assert.deepEqual(config.ports, [80, 8080, 8443]);
        assert.deepEqual(config.healthCheck, { kind: "http", path: "/health?full=1", expectedStatus: 200, intervalSeconds: 2, timeoutSeconds: 1, retries: 0 });
        assert.equal(config.sorryServer, true);
        assert.equal(config.vrrp.masterPriority, 200);
        assert.equal(usesKeepalived(config), true);
    });

    it("runs keepalived only for two directors, health checks or a sorry server", () => {
        assert.equal(usesKeepalived(accepted(SEED_RAW)), false);
        assert.equal(usesKeepalived(accepted({ ...SEED_RAW, healthCheck: "tcp" })), true, "health checks with one director");
        assert.equal(usesKeepalived(accepted({ ...SEED_RAW, directors: "2" })), true, "VRRP without health checks");
    });

    it("refuses an unknown mode, naming the three", () => {
        assertProblem(refused({ ...SEED_RAW, mode: "direct" }), "mode", `"direct"`, "dr", "nat", "tun");
    });

    it("refuses a third director", () => {
        assertProblem(refused({ ...SEED_RAW, directors: "3" }), "directors", "from 1 to 2");
    });

    it("checks the second director's addresses only when there is one, and against every other machine", () => {
        accepted({ ...SEED_RAW, director2PublicIp: "172.16.16.177" });
        assertProblem(
            refused({ ...SEED_RAW, directors: "2", director2PublicIp: "172.16.16.177" }),
            "realServers (web1).publicIp",
            "already used by director2PublicIp",
        );
        assertProblem(refused({ ...SEED_RAW, directors: "2", director2StorageIp: "10.0.0.1" }), "director2StorageIp", "outside storageSubnet");
    });

    it("claims the storage VIP only in NAT mode, where it must be free", () => {
        accepted({ ...SEED_RAW, storageVip: "192.168.7.250" });
        assertProblem(refused({ ...SEED_RAW, mode: "nat", storageVip: "192.168.7.250" }), "nfsStorageIp", "already used by storageVip");
    });

    it("refuses extra ports that are not a list of ports, or repeat one", () => {
        assertProblem(refused({ ...SEED_RAW, extraPorts: "8080" }), "extraPorts", "list of TCP ports");
        assertProblem(refused({ ...SEED_RAW, extraPorts: "[70000]" }), "extraPorts", "from 1 to 65535");
        assertProblem(refused({ ...SEED_RAW, extraPorts: "[80]" }), "extraPorts", "repeats port 80");
        assertProblem(refused({ ...SEED_RAW, extraPorts: "[8080, 8080]" }), "extraPorts", "give each service port once");
    });

    it("refuses unknown health checks and out-of-range timings", () => {
        const problems = refused({ ...SEED_RAW, healthCheck: "icmp", healthCheckInterval: "0", healthCheckStatus: "99", healthCheckPath: "health" });
        assertProblem(problems, "healthCheck", `"icmp"`, "none, http, tcp");
        assertProblem(problems, "healthCheckInterval", "from 1 to 3600");
        assertProblem(problems, "healthCheckStatus", "from 100 to 599");
        assertProblem(problems, "healthCheckPath", "starting with /");
    });

    it("refuses a sorry server without health checks, saying why", () => {
        assertProblem(refused({ ...SEED_RAW, sorryServer: "true" }), "sorryServer", "set healthCheck to http or tcp");
        assertProblem(refused({ ...SEED_RAW, sorryServer: "yes" }), "sorryServer", "not true or false");
    });

    it("refuses a BACKUP priority not below the MASTER's, and unknown VRRP authentication", () => {
        assertProblem(refused({ ...SEED_RAW, vrrpBackupPriority: "150" }), "vrrpBackupPriority", "not below vrrpMasterPriority 150");
        assertProblem(refused({ ...SEED_RAW, vrrpAuthentication: "ah" }), "vrrpAuthentication", "pass, none");
        assertProblem(refused({ ...SEED_RAW, vrrpRouterId: "256" }), "vrrpRouterId", "from 1 to 255");
    });
});
