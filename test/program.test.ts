// The resource graph of the lab for the default (seed) stack, with Pulumi's
// mocks: what gets declared, how it is wired, what the guests are told to do,
// and what changes when the number of real servers does.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    parent?: string;
}

let recorded: Recorded[] = [];

pulumi.runtime.setMocks(
    {
        newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
            const inputs = args.inputs as Record<string, unknown>;
            recorded.push({ type: args.type, name: args.name, inputs });
            const state: Record<string, unknown> = { ...inputs };
            if (args.type.endsWith(":Volume") || args.type.endsWith(":CloudInitDisk")) {
                state.path = `/pool/${String(inputs.name)}`;
            }
            if (args.type === "random:index/randomString:RandomString") {
                state.result = "ab12cd";
            }
            if (args.type === "random:index/randomPassword:RandomPassword") {
                state.result = "console-password";
            }
            if (args.type === "command:remote:Command") {
                state.stdout = "IP Virtual Server version 1.2.1\n";
                state.stderr = "";
            }
            return { id: `${args.name}-id`, state };
        },
        call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
            return args.inputs as Record<string, unknown>;
        },
    },
    "lvs-dr-lab",
    "dev",
    false,
);

// The program is imported only after the mocks are in place.
import type * as ProgramModule from "../program";
import type { LabConfig } from "../components/config";

let program: typeof ProgramModule;
let keyPath: string;

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

/** The script a guest step runs, decoded from its create command. */
function stepScript(step: Recorded): string {
    const match = /echo ([A-Za-z0-9+/=]+) \| base64 -d/.exec(String(step.inputs.create));
    assert.ok(match, `step ${step.name} has no embedded script`);
    return Buffer.from(match[1], "base64").toString("utf8");
}

describe("the lab's resource graph (seed topology)", () => {
    let resources: Recorded[];
    let outputs: Record<string, unknown>;

    let dir: string;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-graph-"));
        keyPath = path.join(dir, "id_ed25519");
        fs.writeFileSync(keyPath, "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n");
        fs.writeFileSync(`${keyPath}.pub`, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests lab@test\n");
        program = await import("../program");
        ({ resources, outputs } = await declare(configFor()));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

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
        assert.deepEqual(director.map((n) => n.network), ["lvslab-ab12cd-public", "lvslab-ab12cd-storage"]);
        // MACs carry the network index and the address's last two octets.
        assert.deepEqual(director.map((n) => n.mac), ["52:54:00:01:10:ad", "52:54:00:02:07:ad"]);
        for (const [index, web] of ["web1", "web2", "web3", "web4"].entries()) {
            const nics = nicsOf(web);
            assert.equal(nics.length, 2);
            assert.equal(nics[0].mac, `52:54:00:01:10:${(177 + index).toString(16)}`);
        }
        assert.deepEqual(nicsOf("nfs").map((n) => n.network), ["lvslab-ab12cd-storage"]);
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

    it("has the director forward to every real server in gateway mode with its weight, scheduled rr", () => {
        const ipvs = resources.find((r) => r.name === "director-ipvs");
        assert.ok(ipvs);
        const script = stepScript(ipvs);
        assert.match(script, /readonly SCHEDULER='rr'/);
        assert.match(script, /readonly FORWARDING='g'/);
        assert.match(script, /readonly REAL_SERVERS='172\.16\.16\.177:1 172\.16\.16\.178:1 172\.16\.16\.179:1 172\.16\.16\.180:1'/);
        assert.match(script, /readonly VIP='172\.16\.16\.172'/);
        assert.match(script, /ipvsadm -a -t "\$service" -r "\$address:\$PORT" "-\$FORWARDING" -w "\$weight"/);
    });

    it("turns ICMP redirects off on the director and suppresses ARP for the VIP on the real servers", () => {
        const directorVip = stepScript(resources.find((r) => r.name === "director-vip") as Recorded);
        assert.match(directorVip, /for scope in all default "\$public_nic"/);
        assert.match(directorVip, /send_redirects = 0/);
        const webVip = stepScript(resources.find((r) => r.name === "web1-vip") as Recorded);
        assert.match(webVip, /for scope in all default lo "\$public_nic"/);
        assert.match(webVip, /arp_ignore = 1/);
        assert.match(webVip, /arp_announce = 2/);
        assert.match(webVip, /ip addr replace \$VIP\/32 dev lo/);
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
        assert.equal(steps.length, 1 + 2 * 4 + 2, "one NFS step, two per real server, two on the director");
        const secretSignature = "4dabf18193072939515e22adb298388d";
        for (const step of steps) {
            const wrapped = step.inputs.connection as Record<string, unknown>;
            assert.ok(secretSignature in wrapped, `${step.name}'s connection (with the private key) is a secret`);
            const connection = wrapped.value as Record<string, unknown>;
            assert.match(String(connection.privateKey), /BEGIN OPENSSH PRIVATE KEY/);
            assert.equal(connection.user, "lab");
            assert.ok(Number(connection.dialErrorLimit) > 0, "the SSH wait is bounded");
            assert.ok(String(step.inputs.delete).includes("remove"), `${step.name} has an undo`);
        }
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
        assert.ok(added.every((n) => n.split("::")[1].startsWith("web5")), `only web5's resources are new: ${added.join(", ")}`);
        assert.deepEqual([...names(four)].filter((n) => !names(five).has(n)), []);
        const changed = four
            .filter((r) => r.type !== "lvslab:index:Director" && r.type.startsWith("lvslab:") === false)
            .filter((r) => {
                const twin = five.find((f) => f.type === r.type && f.name === r.name);
                return JSON.stringify(twin?.inputs) !== JSON.stringify(r.inputs);
            })
            .map((r) => r.name);
        assert.deepEqual(changed, ["director-ipvs"]);
    });
});
