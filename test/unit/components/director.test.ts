// A Director built alone from hand-made Args, with Pulumi's mocks: its
// children, their names (from the component's name) and the inputs that
// carry its contract: the real servers with their weights, the mode, the
// VIP, and the VRRP password only on the step's standard input.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DeclarationWatch, isSecret, mocksForComponents, named, plain, Recorded, stepParams } from "../../helpers/labMocks";
import { handMadeLogin, handMadeSite, handMadeSubnets, handMadeVm, LIBVIRT_PREFIX, PRIVATE_KEY } from "./handMade";

const buildAlone = mocksForComponents();

// The component is imported only after the mocks are in place.
import type * as DirectorModule from "../../../components/director";
import type { HealthCheck, RealServerConfig, VrrpSettings } from "../../../components/config";
import { CONSOLE_PASSWORD_FW_CFG } from "../../../components/guestConfig";

const REAL_SERVERS: RealServerConfig[] = [
    { name: "a", publicIp: "10.1.0.11", storageIp: "10.2.0.11", weight: 1 },
    { name: "b", publicIp: "10.1.0.12", storageIp: "10.2.0.12", weight: 3 },
];
const NO_CHECK: HealthCheck = { kind: "none", path: "/", expectedStatus: 200, intervalSeconds: 3, timeoutSeconds: 2, retries: 1 };
const VRRP: VrrpSettings = { virtualRouterId: 61, masterPriority: 140, backupPriority: 90, advertIntervalSeconds: 2, authentication: "pass" };
const VRRP_PASSWORD = "Vrrp1234";

let components: typeof DirectorModule;

/** Builds one Director alone and waits until it and every child are registered. */
async function build(
    name: string,
    overrides: Omit<Partial<DirectorModule.DirectorArgs>, "balancing"> & { balancing?: Partial<DirectorModule.LoadBalancing> },
): Promise<{ director: DirectorModule.Director; watch: DeclarationWatch; resources: Recorded[] }> {
    components ??= await import("../../../components/director");
    const built = await buildAlone(
        (opts) =>
            new components.Director(
                name,
                {
                    machine: { name: "lb", publicIp: "10.1.0.5", storageIp: "10.2.0.5" },
                    site: handMadeSite({ kernelBoot: true }),
                    vm: handMadeVm(),
                    login: handMadeLogin(),
                    subnets: handMadeSubnets(),
                    role: "single",
                    vrrp: VRRP,
                    realServersReady: [],
                    ...overrides,
                    balancing: {
                        vip: "10.1.0.4",
                        mode: "dr",
                        ports: [80, 8080],
                        scheduler: "wrr",
                        persistenceTimeout: 0,
                        realServers: REAL_SERVERS,
                        healthCheck: NO_CHECK,
                        storageVip: "10.2.0.4",
                        keepalived: false,
                        ...overrides.balancing,
                    },
                },
                opts,
            ),
    );
    return { director: built.component, watch: built.watch, resources: built.resources };
}

describe("a Director alone in DR mode, built from its Args", () => {
    let built: Awaited<ReturnType<typeof build>>;
    before(async () => {
        built = await build("edge", {});
    });

    it("declares a disk, a domain, the load-balancing step and its facts, named from the component's name, as its children", () => {
        assert.deepEqual(built.watch.childrenOf(built.director), [
            "command:remote:Command edge-lb",
            "pulumi-nodejs:dynamic/guest:Facts edge-facts",
            "pulumi-nodejs:dynamic/libvirt:Domain edge-vm",
            "pulumi-nodejs:dynamic/libvirt:Volume edge-disk",
        ]);
        assert.deepEqual(
            built.resources.map((resource) => `${resource.type} ${resource.name}`).sort(),
            [
                "command:remote:Command edge-lb",
                "lvslab:index:Director edge",
                "pulumi-nodejs:dynamic/guest:Facts edge-facts",
                "pulumi-nodejs:dynamic/libvirt:Domain edge-vm",
                "pulumi-nodejs:dynamic/libvirt:Volume edge-disk",
            ],
            "nothing else: no seed on a kernel boot",
        );
    });

    it("overlays the site's base image in the site's pool, with the machine's name and the VM's size", () => {
        const disk = named(built.resources, "edge-disk");
        assert.equal(disk.inputs.connectionUri, "qemu+ssh://root@host-b/system");
        assert.equal(disk.inputs.pool, "labpool");
        assert.equal(disk.inputs.name, `${LIBVIRT_PREFIX}-lb.qcow2`);
        assert.equal(disk.inputs.backingVolumePath, `/pool/${LIBVIRT_PREFIX}-base.qcow2`);
        assert.equal(disk.inputs.capacityGiB, 12);
        const domain = named(built.resources, "edge-vm");
        assert.equal(domain.inputs.name, `${LIBVIRT_PREFIX}-lb`);
        assert.deepEqual([domain.inputs.domainType, domain.inputs.vcpus, domain.inputs.memoryMiB], ["qemu", 2, 768]);
        assert.deepEqual(domain.inputs.nics, [
            { network: `${LIBVIRT_PREFIX}-public`, mac: "52:54:00:01:00:05" },
            { network: `${LIBVIRT_PREFIX}-storage`, mac: "52:54:00:02:00:05" },
        ]);
        assert.equal(domain.inputs.kernelPath, `/pool/${LIBVIRT_PREFIX}-vmlinuz`);
        assert.ok(isSecret(domain.inputs.firmwareConfig), "the fw_cfg entry carries the console password's hash");
        assert.match(String((plain(domain.inputs.firmwareConfig) as Record<string, string>)[CONSOLE_PASSWORD_FW_CFG]), /^\$6\$/);
        assert.doesNotMatch(String(domain.inputs.kernelCmdline), /password|\$6\$/, "the public command line carries neither");
        const words = String(plain(domain.inputs.kernelCmdline)).split(" ");
        assert.ok(words.includes("lvslab.nic=eth0,52:54:00:01:00:05,10.1.0.5/24,10.1.0.1"), "public NIC with the lab host as gateway");
        assert.ok(words.includes("lvslab.nic=eth1,52:54:00:02:00:05,10.2.0.5/24"));
    });

    it("forwards to every real server with its weight, in DR mode, holding the VIP itself", () => {
        const params = stepParams(named(built.resources, "edge-lb"));
        assert.equal(params.REAL_SERVERS, "10.1.0.11:1 10.1.0.12:3");
        assert.equal(params.MODE, "dr");
        assert.equal(params.VIP, "10.1.0.4");
        assert.equal(params.PORTS, "80 8080");
        assert.equal(params.SCHEDULER, "wrr");
        assert.equal(params.FORWARD_IP, "0");
        assert.equal(params.STATIC_ADDRESSES, "10.1.0.4/24=eth0");
        assert.equal(params.KEEPALIVED_CONF, "", "ipvsadm keeps the table");
    });

    it("logs in as the given user with the given key, over the public address, and sends no stdin", () => {
        const step = named(built.resources, "edge-lb");
        assert.ok(isSecret(step.inputs.connection));
        const connection = plain(step.inputs.connection) as Record<string, unknown>;
        assert.deepEqual([connection.host, connection.user, connection.privateKey], ["10.1.0.5", "operator", PRIVATE_KEY]);
        assert.deepEqual(step.inputs.triggers, ["edge-vm-id"]);
        assert.equal(step.inputs.stdin, undefined);
        assert.equal(built.director.sshHint, "ssh -i /keys/id_ed25519 operator@10.1.0.5");
    });
});

describe("a Director as VRRP MASTER of a NAT pair, built from its Args", () => {
    let built: Awaited<ReturnType<typeof build>>;
    before(async () => {
        built = await build("pair-a", { role: "MASTER", vrrpPassword: pulumi.secret(VRRP_PASSWORD), balancing: { mode: "nat", keepalived: true } });
    });

    it("forwards to every real server's storage address with its weight and routes for them", () => {
        const params = stepParams(named(built.resources, "pair-a-lb"));
        assert.equal(params.REAL_SERVERS, "10.2.0.11:1 10.2.0.12:3");
        assert.equal(params.MODE, "nat");
        assert.equal(params.FORWARD_IP, "1");
        assert.equal(params.STATIC_ADDRESSES, "", "VRRP holds the VIP and the storage VIP");
    });

    it("renders keepalived.conf with its role, the VRRP settings and both floating addresses, the password only by placeholder", () => {
        const conf = stepParams(named(built.resources, "pair-a-lb")).KEEPALIVED_CONF;
        assert.match(conf, /state MASTER/);
        assert.match(conf, /virtual_router_id 61/);
        assert.match(conf, /priority 140/);
        assert.match(conf, /10\.1\.0\.4\/24 dev eth0/);
        assert.match(conf, /10\.2\.0\.4\/24 dev eth1/);
        assert.match(conf, /real_server 10\.2\.0\.12 80 \{[^}]*weight 3/);
        assert.match(conf, /@LVSLAB_VRRP_PASSWORD@/);
        assert.ok(!conf.includes(VRRP_PASSWORD));
    });

    it("hands the VRRP password to its step on standard input, as a secret", () => {
        const step = named(built.resources, "pair-a-lb");
        assert.ok(isSecret(step.inputs.stdin));
        assert.equal(plain(step.inputs.stdin), `${VRRP_PASSWORD}\n`);
        assert.equal(built.director.role, "MASTER");
    });
});
