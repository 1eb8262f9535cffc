// The resource graph of the lab for the default (seed) stack, with Pulumi's
// mocks: what gets declared, how it is wired, what the guests are told to do,
// and what changes when the number of real servers does.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isSecret, labMocks, plain, Recorded } from "../helpers/labMocks";
import { StepSandbox } from "../helpers/stepSandbox";

let recorded: Recorded[] = [];

pulumi.runtime.setMocks(
    labMocks((resource) => recorded.push(resource)),
    "lvs-dr-lab",
    "dev",
    false,
);

// The program is imported only after the mocks are in place.
import type * as ProgramModule from "../../components/program";
import type { LabConfig } from "../../components/config";
import { CONSOLE_PASSWORD_FW_CFG } from "../../components/guestConfig";
import { sha512Crypt } from "../../components/sha512Crypt";

let program: typeof ProgramModule;
let keyPath: string;
/** Holds the fake key pair; made by the first suite, removed after all of them. */
let dir: string;
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function configFor(overrides: Record<string, string> = {}): LabConfig {
    return program.loadLabConfig({ baseImage: keyPath, sshKeyPath: keyPath, domainType: "qemu", storagePool: "lvslab", ...overrides });
}

function unwrap<T>(output: pulumi.Output<T> | T): Promise<T> {
    return pulumi.Output.isInstance(output) ? new Promise((resolve) => (output as pulumi.Output<T>).apply(resolve)) : Promise.resolve(output);
}

/** Declares the lab with mocks and waits until every resource is registered. */
async function declare(config: LabConfig): Promise<{ resources: Recorded[]; outputs: Record<string, unknown> }> {
    recorded = [];
    const outputs = program.lab(config);
    const resolved: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(outputs)) {
        resolved[key] = await unwrap(pulumi.output(value));
    }
    // Registrations complete asynchronously; give the queue a few turns.
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { resources: recorded, outputs: resolved };
}

const ofKind = (resources: Recorded[], kind: string): Recorded[] => resources.filter((r) => r.type.endsWith(`:${kind}`));

/** The mocks' RandomPassword results: the VRRP password (8) and the console password (20). */
const MOCK_VRRP_PASSWORD = "Pw0".padEnd(8, "x");
const MOCK_CONSOLE_PASSWORD = "Pw0".padEnd(20, "x");

/**
 * No guest step's command text holds a secret: the official provider prints
 * a failing command in full. Not the passwords, not the private key, and the
 * commands are not secret values themselves.
 */
function assertNoSecretInCommands(resources: Recorded[]): void {
    const steps = ofKind(resources, "Command");
    assert.ok(steps.length > 0);
    for (const step of steps) {
        for (const key of ["create", "update", "delete"]) {
            const value = step.inputs[key];
            if (value === undefined) {
                continue;
            }
            assert.ok(!isSecret(value), `${step.name}'s ${key} is not a secret`);
            const texts = [String(value)];
            const embedded = /echo ([A-Za-z0-9+/=]+) \| base64 -d/.exec(String(value));
            if (embedded) {
                texts.push(Buffer.from(embedded[1], "base64").toString("utf8"));
            }
            for (const text of texts) {
                for (const secretText of [MOCK_VRRP_PASSWORD, MOCK_CONSOLE_PASSWORD, "PRIVATE KEY"]) {
                    assert.ok(!text.includes(secretText), `${step.name}'s ${key} holds ${secretText}`);
                }
            }
        }
    }
}

/** The script a guest step runs, decoded from its create command. */
function stepScript(step: Recorded): string {
    const match = /echo ([A-Za-z0-9+/=]+) \| base64 -d/.exec(String(plain(step.inputs.create)));
    assert.ok(match, `step ${step.name} has no embedded script`);
    return Buffer.from(match[1], "base64").toString("utf8");
}

describe("the lab's resource graph (seed topology)", () => {
    let resources: Recorded[];
    let outputs: Record<string, unknown>;

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-graph-"));
        keyPath = path.join(dir, "id_ed25519");
        fs.writeFileSync(keyPath, "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n");
        fs.writeFileSync(`${keyPath}.pub`, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests lab@test\n");
        program = await import("../../components/program");
        ({ resources, outputs } = await declare(configFor()));
    });

    it("declares six domains, two networks, one base image and one overlay and seed per VM", () => {
        assert.equal(ofKind(resources, "Domain").length, 6);
        assert.equal(ofKind(resources, "Network").length, 2);
        const volumes = ofKind(resources, "Volume");
        const base = volumes.filter((v) => v.inputs.source !== undefined);
        const overlays = volumes.filter((v) => v.inputs.backingVolumePath !== undefined);
        assert.equal(base.length, 1);
        assert.equal(overlays.length, 6);
        assert.ok(overlays.every((v) => v.inputs.backingVolumePath === `/pool/${String(base[0].inputs.name)}`));
        assert.equal(ofKind(resources, "CloudInitDisk").length, 6);
    });

    it("makes the public network NAT and the storage network isolated, with the host on .1", () => {
        const networks = ofKind(resources, "Network");
        const byMode = Object.fromEntries(networks.map((n) => [n.inputs.mode, n.inputs]));
        assert.equal(byMode.nat.hostAddress, "172.16.16.1");
        assert.equal(byMode.isolated.hostAddress, "192.168.7.1");
        for (const network of networks) {
            assert.ok(String(network.inputs.bridgeName).length <= 15, "bridge names fit Linux's 15 characters");
        }
    });

    it("puts the director and every real server on both networks and the NFS store on storage only", () => {
        const domains = ofKind(resources, "Domain");
        const nicsOf = (suffix: string): { network: string; mac: string }[] => {
            const domain = domains.find((d) => String(d.inputs.name).endsWith(`-${suffix}`));
            assert.ok(domain, `a domain for ${suffix}`);
            return domain.inputs.nics as { network: string; mac: string }[];
        };
        const director = nicsOf("director");
        assert.deepEqual(
            director.map((n) => n.network),
            ["lvslab-ab12cd-public", "lvslab-ab12cd-storage"],
        );
        // MACs carry the network index and the address's last two octets.
        assert.deepEqual(
            director.map((n) => n.mac),
            ["52:54:00:01:10:ad", "52:54:00:02:07:ad"],
        );
        for (const [index, web] of ["web1", "web2", "web3", "web4"].entries()) {
            const nics = nicsOf(web);
            assert.equal(nics.length, 2);
            assert.equal(nics[0].mac, `52:54:00:01:10:${(177 + index).toString(16)}`);
        }
        assert.deepEqual(
            nicsOf("nfs").map((n) => n.network),
            ["lvslab-ab12cd-storage"],
        );
    });

    it("gives each guest static addresses in its network-config, matched by MAC", () => {
        const seed = ofKind(resources, "CloudInitDisk").find((d) => String(d.inputs.name).includes("-director-"));
        assert.ok(seed);
        const network = JSON.parse(String(seed.inputs.networkConfig)) as {
            ethernets: Record<string, { match: { macaddress: string }; addresses: string[]; routes?: unknown[] }>;
        };
        assert.deepEqual(network.ethernets.eth0.addresses, ["172.16.16.173/24"]);
        assert.deepEqual(network.ethernets.eth1.addresses, ["192.168.7.173/24"]);
        assert.equal(network.ethernets.eth0.match.macaddress, "52:54:00:01:10:ad");
        assert.ok(network.ethernets.eth0.routes, "the default route goes via the public network");
        assert.equal(network.ethernets.eth1.routes, undefined);
    });

    it("has the director forward to every real server in DR mode with its weight, scheduled rr, ipvsadm keeping the table", () => {
        const lb = resources.find((r) => r.name === "director-lb");
        assert.ok(lb);
        const script = stepScript(lb);
        assert.match(script, /readonly SCHEDULER='rr'/);
        assert.match(script, /readonly MODE='dr'/);
        assert.match(script, /readonly PORTS='80'/);
        assert.match(script, /readonly REAL_SERVERS='172\.16\.16\.177:1 172\.16\.16\.178:1 172\.16\.16\.179:1 172\.16\.16\.180:1'/);
        assert.match(script, /readonly VIP='172\.16\.16\.172'/);
        assert.match(script, /readonly STATIC_ADDRESSES='172\.16\.16\.172\/24=eth0'/, "one director holds the VIP itself");
        assert.match(script, /readonly KEEPALIVED_CONF=''/, "the seed has no keepalived");
        assert.match(script, /readonly FORWARD_IP='0'/);
    });

    it("turns ICMP redirects off on both director NICs and suppresses ARP for the VIP on the real servers", () => {
        const director = stepScript(resources.find((r) => r.name === "director-lb") as Recorded);
        assert.match(director, /readonly NICS='eth0 eth1'/);
        assert.match(director, /send_redirects = 0/);
        const web = stepScript(resources.find((r) => r.name === "web1-forwarding") as Recorded);
        assert.match(web, /readonly MODE='dr'/);
        assert.match(web, /for scope in all default lo "\$public_nic"/);
        assert.match(web, /ExecStart=\/sbin\/ip addr replace \$VIP\/32 dev lo/);
    });

    it("exports the web root to the storage subnet and mounts it on every real server at boot", () => {
        const exportScript = stepScript(resources.find((r) => r.name === "nfs-export") as Recorded);
        assert.match(exportScript, /readonly EXPORT_PATH='\/opt\/wwwroot'/);
        assert.match(exportScript, /readonly CLIENT_SUBNET='192\.168\.7\.0\/24'/);
        assert.match(exportScript, /rw,sync,no_root_squash/);
        const webScript = stepScript(resources.find((r) => r.name === "web3-web") as Recorded);
        assert.match(webScript, /readonly NFS_SERVER='192\.168\.7\.250'/);
        assert.match(webScript, /nfs defaults,_netdev/);
    });

    it("connects every step over SSH with a secret key and a bounded wait", () => {
        const steps = ofKind(resources, "Command");
        assert.equal(steps.length, 1 + 2 * 4 + 1, "one NFS step, two per real server, one on the director");
        for (const step of steps) {
            const wrapped = step.inputs.connection as Record<string, unknown>;
            assert.ok(isSecret(wrapped), `${step.name}'s connection (with the private key) is a secret`);
            const connection = wrapped.value as Record<string, unknown>;
            assert.match(String(connection.privateKey), /BEGIN OPENSSH PRIVATE KEY/);
            assert.equal(connection.user, "lab");
            assert.ok(Number(connection.dialErrorLimit) > 0, "the SSH wait is bounded");
            assert.ok(String(step.inputs.delete).includes("remove"), `${step.name} has an undo`);
            const machine = step.name.slice(0, step.name.lastIndexOf("-"));
            assert.deepEqual(step.inputs.triggers, [`${machine}-vm-id`], `${step.name} runs again when ${machine}'s VM is made anew`);
        }
    });

    it("carries no secret in any guest step's create, update or delete text, and sends no stdin where none is needed", () => {
        assertNoSecretInCommands(resources);
        assert.ok(ofKind(resources, "Command").every((step) => step.inputs.stdin === undefined));
    });

    it("exports what a smoke test needs", () => {
        assert.equal(outputs.vipUrl, "http://172.16.16.172/");
        assert.equal(outputs.nfsExport, "192.168.7.250:/opt/wwwroot");
        const servers = outputs.realServers as { name: string; publicIp: string; storageIp: string; weight: number; sshHint: string }[];
        assert.deepEqual(
            servers.map((s) => [s.name, s.publicIp, s.storageIp, s.weight]),
            [
                ["web1", "172.16.16.177", "192.168.7.177", 1],
                ["web2", "172.16.16.178", "192.168.7.178", 1],
                ["web3", "172.16.16.179", "192.168.7.179", 1],
                ["web4", "172.16.16.180", "192.168.7.180", 1],
            ],
        );
        assert.match(servers[0].sshHint, /^ssh -i \S+ lab@172\.16\.16\.177$/);
        assert.equal((outputs.director as { publicIp: string }).publicIp, "172.16.16.173");
        assert.equal(outputs.ipvsTable, "IP Virtual Server version 1.2.1\n");
        assert.equal((outputs.libvirt as { domains: string[] }).domains.length, 6);
    });

    it("adds a real server by adding its own resources and changing only the director's table", async () => {
        const four = resources;
        const five = (await declare(configFor({ realServerCount: "5" }))).resources;
        const names = (list: Recorded[]): Set<string> => new Set(list.map((r) => `${r.type}::${r.name}`));
        const added = [...names(five)].filter((n) => !names(four).has(n));
        assert.ok(added.length > 0);
        assert.ok(
            added.every((n) => n.split("::")[1].startsWith("web5")),
            `only web5's resources are new: ${added.join(", ")}`,
        );
        assert.deepEqual(
            [...names(four)].filter((n) => !names(five).has(n)),
            [],
        );
        const changed = four
            .filter((r) => r.type !== "lvslab:index:Director" && r.type.startsWith("lvslab:") === false)
            .filter((r) => {
                const twin = five.find((f) => f.type === r.type && f.name === r.name);
                return JSON.stringify(twin?.inputs) !== JSON.stringify(r.inputs);
            })
            .map((r) => r.name);
        // The director's facts follow its table: they are read again.
        assert.deepEqual(changed, ["director-lb", "director-facts"]);
    });

    it("switches the forwarding mode in place: only the director's table and each real server's forwarding change", async () => {
        const dr = resources;
        const nat = (await declare(configFor({ mode: "nat" }))).resources;
        const key = (r: Recorded): string => `${r.type}::${r.name}`;
        assert.deepEqual(dr.map(key).sort(), nat.map(key).sort(), "no resource is added or removed");
        const changed = dr
            .filter((r) => JSON.stringify(nat.find((n) => key(n) === key(r))?.inputs) !== JSON.stringify(r.inputs))
            .map((r) => r.name)
            .sort();
        assert.deepEqual(changed, [
            "director-facts",
            "director-lb",
            "web1-facts",
            "web1-forwarding",
            "web2-facts",
            "web2-forwarding",
            "web3-facts",
            "web3-forwarding",
            "web4-facts",
            "web4-forwarding",
        ]);
        const director = stepScript(nat.find((r) => r.name === "director-lb") as Recorded);
        assert.match(
            director,
            /readonly REAL_SERVERS='192\.168\.7\.177:1 192\.168\.7\.178:1 192\.168\.7\.179:1 192\.168\.7\.180:1'/,
            "NAT reaches the servers on storage",
        );
        assert.match(director, /readonly FORWARD_IP='1'/);
        assert.match(director, /readonly STATIC_ADDRESSES='172\.16\.16\.172\/24=eth0 192\.168\.7\.172\/24=eth1'/);
        const web = stepScript(nat.find((r) => r.name === "web2-forwarding") as Recorded);
        assert.match(web, /readonly MODE='nat'/);
        assert.match(web, /readonly NAT_GATEWAY='192\.168\.7\.172'/);
    });
});

describe("the lab's resource graph (two directors, HTTP health checks, two ports)", () => {
    let resources: Recorded[];
    let outputs: Record<string, unknown>;
    before(async () => {
        ({ resources, outputs } = await declare(configFor({ directors: "2", healthCheck: "http", extraPorts: "[8080]" })));
    });

    /** The keepalived.conf a director's step installs. */
    function keepalivedConf(name: string): string {
        const match = /\nreadonly KEEPALIVED_CONF='([^']*)'\n/.exec(stepScript(resources.find((r) => r.name === `${name}-lb`) as Recorded));
        assert.ok(match, `${name}-lb carries a keepalived.conf`);
        return match[1];
    }

    it("declares seven domains: a MASTER and a BACKUP director", () => {
        assert.equal(ofKind(resources, "Domain").length, 7);
        assert.deepEqual(
            (outputs.directors as { name: string; role: string; publicIp: string }[]).map((d) => [d.name, d.role, d.publicIp]),
            [
                ["director", "MASTER", "172.16.16.173"],
                ["director2", "BACKUP", "172.16.16.174"],
            ],
        );
    });

    it("leaves the VIP to VRRP and gives both directors the same virtual servers, with the higher priority on the MASTER", () => {
        const master = keepalivedConf("director");
        const backup = keepalivedConf("director2");
        assert.match(master, /state MASTER\n\s+interface eth0\n\s+virtual_router_id 51\n\s+priority 150\n/);
        assert.match(backup, /state BACKUP\n\s+interface eth0\n\s+virtual_router_id 51\n\s+priority 100\n/);
        assert.match(master, /virtual_ipaddress \{\n\s+172\.16\.16\.172\/24 dev eth0\n\s+\}/);
        const servers = (conf: string): string => conf.slice(conf.indexOf("virtual_server"));
        assert.equal(servers(master), servers(backup));
        assert.equal((servers(master).match(/HTTP_GET/g) ?? []).length, 8, "four servers checked on each of two ports");
        assert.match(servers(master), /virtual_server 172\.16\.16\.172 8080 \{/);
        for (const name of ["director", "director2"]) {
            assert.match(stepScript(resources.find((r) => r.name === `${name}-lb`) as Recorded), /readonly STATIC_ADDRESSES=''/);
        }
    });

    it("shares one generated VRRP password, given to each director step on its stdin and never in its commands", () => {
        const passwords = resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword" && r.name.includes("vrrp"));
        assert.equal(passwords.length, 1);
        for (const director of ["director", "director2"]) {
            const step = resources.find((r) => r.name === `${director}-lb`) as Recorded;
            assert.ok(isSecret(step.inputs.stdin), `${step.name}'s stdin is a secret`);
            assert.equal(plain(step.inputs.stdin), `${MOCK_VRRP_PASSWORD}\n`);
            assert.match(keepalivedConf(director), /auth_pass @LVSLAB_VRRP_PASSWORD@\n/, "the conf names the password by its placeholder");
            assert.ok(!isSecret(step.inputs.create), `${step.name}'s script holds no secret, so it is not one`);
        }
    });

    it("carries no secret in any guest step's create, update or delete text", () => {
        assertNoSecretInCommands(resources);
    });

    describe("the director step, run in a sandbox", () => {
        let sandbox: StepSandbox;
        before(() => {
            sandbox = new StepSandbox("director-stdin");
        });
        after(() => sandbox.cleanup());

        /** Runs director2's step as the graph declares it, its standard input (fd 3 once the step has kept it there) from `stdin`. */
        function runDirectorStep(dir: string, stdin: string) {
            fs.mkdirSync(sandbox.file(dir));
            fs.writeFileSync(sandbox.file(`${dir}/stdin`), stdin);
            const paths: Record<string, string> = {};
            for (const [name, file] of Object.entries({
                SYSCTL_FILE: "sysctl.conf",
                MODULES_FILE: "modules.conf",
                ADDRESS_UNIT_FILE: "lvslab-vip.service",
                RULES_FILE: "ipvsadm.rules",
                IPVS_UNIT_FILE: "lvslab-ipvs.service",
                KEEPALIVED_FILE: "keepalived.conf",
                KEEPALIVED_MODE_FILE: "keepalived-mode",
                SORRY_DIR: "sorry",
                SORRY_SITE: "lvslab-sorry.conf",
                SORRY_PORTS_FILE: "ports.conf",
                IPVS_SYSCTL_DIR: "proc-sys-net-ipv4-vs",
            })) {
                paths[name] = sandbox.file(`${dir}/${file}`);
            }
            const script = stepScript(resources.find((r) => r.name === "director2-lb") as Recorded);
            return sandbox.run(script, "apply", { paths, stubs: `exec 3<"$SANDBOX/${dir}/stdin"` });
        }

        it("puts the password from its standard input into keepalived.conf, which only the file holds", () => {
            const run = runDirectorStep("with-password", `${MOCK_VRRP_PASSWORD}\n`);
            assert.equal(run.status, 0, run.stderr);
            const installed = sandbox.read("with-password/keepalived.conf");
            assert.match(installed, new RegExp(`auth_pass ${MOCK_VRRP_PASSWORD}\n`));
            assert.ok(!installed.includes("@LVSLAB_VRRP_PASSWORD@"));
            assert.ok(!`${run.stdout}${run.stderr}${run.calls.join("\n")}`.includes(MOCK_VRRP_PASSWORD), "no output or command line shows the password");
        });

        it("fails, installing nothing, when no password comes", () => {
            const run = runDirectorStep("without-password", "");
            assert.notEqual(run.status, 0);
            assert.match(run.stderr, /the VRRP password \(1-8 letters or digits\) did not come on standard input/);
            assert.ok(!sandbox.exists("without-password/keepalived.conf"));
        });
    });

    it("has apache listen on both ports on every real server", () => {
        assert.match(stepScript(resources.find((r) => r.name === "web4-web") as Recorded), /readonly PORTS='80 8080'/);
    });
});

describe("the lab's resource graph (firstBoot kernel: the image's kernel booted directly)", () => {
    let resources: Recorded[];
    let outputs: Record<string, unknown>;

    before(async () => {
        const image = path.join(dir, "lvslab-debian12.qcow2");
        for (const file of [image, path.join(dir, "lvslab-debian12.vmlinuz"), path.join(dir, "lvslab-debian12.initrd")]) {
            fs.writeFileSync(file, "");
        }
        ({ resources, outputs } = await declare(configFor({ baseImage: image })));
    });

    it("imports the kernel and initramfs into the pool beside the base image and makes no seeds", () => {
        const sources = ofKind(resources, "Volume")
            .map((v) => v.inputs.source)
            .filter((source) => source !== undefined)
            .map((source) => path.basename(String(source)))
            .sort();
        assert.deepEqual(sources, ["lvslab-debian12.initrd", "lvslab-debian12.qcow2", "lvslab-debian12.vmlinuz"]);
        assert.equal(ofKind(resources, "CloudInitDisk").length, 0);
        const volumes = (outputs.libvirt as { volumes: string[]; firstBoot: string }).volumes;
        assert.ok(volumes.includes("lvslab-ab12cd-vmlinuz") && volumes.includes("lvslab-ab12cd-initrd"), volumes.join(", "));
        assert.ok(!volumes.some((v) => v.endsWith("-seed.iso")), volumes.join(", "));
        assert.equal((outputs.libvirt as { firstBoot: string }).firstBoot, "kernel");
    });

    it("boots every domain from that kernel with its identity on the command line, the console password's hash in a secret fw_cfg entry", () => {
        const domains = ofKind(resources, "Domain");
        assert.equal(domains.length, 6);
        const hashes = new Set<string>();
        for (const domain of domains) {
            assert.equal(domain.inputs.kernelPath, "/pool/lvslab-ab12cd-vmlinuz");
            assert.equal(domain.inputs.initrdPath, "/pool/lvslab-ab12cd-initrd");
            assert.equal(domain.inputs.cloudInitPath, undefined);
            // Any user of a guest reads its command line: no password, no hash on it.
            assert.doesNotMatch(String(plain(domain.inputs.kernelCmdline)), /password|\$6\$/);
            assert.ok(!String(plain(domain.inputs.kernelCmdline)).includes(MOCK_CONSOLE_PASSWORD));
            assert.ok(isSecret(domain.inputs.firmwareConfig), "the fw_cfg entries carry the password's hash: a secret in the state");
            const hash = (plain(domain.inputs.firmwareConfig) as Record<string, string>)[CONSOLE_PASSWORD_FW_CFG];
            const salt = hash.split("$")[2];
            assert.equal(hash, sha512Crypt(MOCK_CONSOLE_PASSWORD, salt), "the hash is the console password's");
            hashes.add(hash);
        }
        assert.equal(hashes.size, 6, "each machine's hash has its own salt");
        const director = domains.find((d) => String(d.inputs.name).endsWith("-director"));
        assert.ok(director);
        const words = String(plain(director.inputs.kernelCmdline)).split(" ");
        assert.ok(words.includes("lvslab.hostname=director"));
        assert.ok(words.includes("lvslab.nic=eth0,52:54:00:01:10:ad,172.16.16.173/24,172.16.16.1"), words.join(" "));
        assert.ok(words.includes("lvslab.nic=eth1,52:54:00:02:07:ad,192.168.7.173/24"), words.join(" "));
        const nfs = domains.find((d) => String(d.inputs.name).endsWith("-nfs"));
        assert.ok(nfs);
        assert.deepEqual(
            String(plain(nfs.inputs.kernelCmdline))
                .split(" ")
                .filter((w) => w.startsWith("lvslab.nic=")),
            ["lvslab.nic=eth0,52:54:00:02:07:fa,192.168.7.250/24"],
        );
    });
});
