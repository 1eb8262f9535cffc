// A RealServer built alone from hand-made Args, with Pulumi's mocks: its
// children, named from the component's name, and the two steps' inputs: the
// forwarding step gets the VIP and the mode (and in NAT the way back), the
// web step the NFS export and the ports.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DeclarationWatch, isSecret, mocksForComponents, named, plain, Recorded, stepParams } from "../../helpers/labMocks";
import { handMadeLogin, handMadeSite, handMadeSubnets, handMadeVm, LIBVIRT_PREFIX, PRIVATE_KEY } from "./handMade";

const buildAlone = mocksForComponents();

// The component is imported only after the mocks are in place.
import type * as RealServerModule from "../../../components/realServer";

let components: typeof RealServerModule;

/** Builds one RealServer alone and waits until it and every child are registered. */
async function build(
    name: string,
    overrides: Partial<RealServerModule.RealServerArgs>,
): Promise<{ server: RealServerModule.RealServer; watch: DeclarationWatch; resources: Recorded[] }> {
    components ??= await import("../../../components/realServer");
    const built = await buildAlone(
        (opts) =>
            new components.RealServer(
                name,
                {
                    server: { name: "app7", publicIp: "10.1.0.27", storageIp: "10.2.0.27", weight: 5 },
                    site: handMadeSite({ kernelBoot: true, nicMtu: 1450 }),
                    vm: handMadeVm(),
                    login: handMadeLogin(),
                    subnets: handMadeSubnets(),
                    vip: "10.1.0.4",
                    mode: "tun",
                    natGateway: "10.2.0.4",
                    ports: [80, 8443],
                    nfsServer: "10.2.0.250",
                    nfsExportPath: "/srv/share",
                    pageContent: "hello from the share",
                    ...overrides,
                },
                opts,
            ),
    );
    return { server: built.component, watch: built.watch, resources: built.resources };
}

describe("a RealServer in TUN mode, built from its Args", () => {
    let built: Awaited<ReturnType<typeof build>>;
    before(async () => {
        built = await build("backend", {});
    });

    it("declares a disk, a domain, its forwarding and web steps and its facts, named from the component's name, as its children", () => {
        assert.deepEqual(built.watch.childrenOf(built.server), [
            "command:remote:Command backend-forwarding",
            "command:remote:Command backend-web",
            "pulumi-nodejs:dynamic/guest:Facts backend-facts",
            "pulumi-nodejs:dynamic/libvirt:Domain backend-vm",
            "pulumi-nodejs:dynamic/libvirt:Volume backend-disk",
        ]);
        assert.equal(built.resources.length, 6, "the component and its five children, nothing else");
    });

    it("is ready for traffic once both steps are done", () => {
        const stepNamed = (name: string) => built.watch.declared.find((entry) => entry.name === name)?.resource;
        assert.equal(built.server.ready.length, 2);
        assert.equal(built.server.ready[0], stepNamed("backend-forwarding"));
        assert.equal(built.server.ready[1], stepNamed("backend-web"));
    });

    it("gives the forwarding step the VIP, the mode, its addresses and the storage subnet, and no NAT gateway", () => {
        const params = stepParams(named(built.resources, "backend-forwarding"));
        assert.deepEqual(params, {
            STEP: "real-server-forwarding",
            MODE: "tun",
            VIP: "10.1.0.4",
            PUBLIC_IP: "10.1.0.27",
            STORAGE_IP: "10.2.0.27",
            STORAGE_SUBNET: "10.2.0.0/24",
            NAT_GATEWAY: "",
        });
    });

    it("gives the web step its name, the NFS export to mount and the ports to serve", () => {
        const params = stepParams(named(built.resources, "backend-web"));
        assert.equal(params.SERVER_NAME, "app7");
        assert.equal(params.NFS_SERVER, "10.2.0.250");
        assert.equal(params.EXPORT_PATH, "/srv/share");
        assert.equal(params.PORTS, "80 8443");
    });

    it("runs both steps over SSH on its public address with the given login, again when its VM is made anew", () => {
        for (const name of ["backend-forwarding", "backend-web"]) {
            const step = named(built.resources, name);
            const connection = plain(step.inputs.connection) as Record<string, unknown>;
            assert.deepEqual([connection.host, connection.user, connection.privateKey], ["10.1.0.27", "operator", PRIVATE_KEY]);
            assert.deepEqual(step.inputs.triggers, ["backend-vm-id"]);
        }
    });

    it("puts both NICs on the site's networks with the site's MTU, the public one routed via the lab host", () => {
        const domain = named(built.resources, "backend-vm");
        assert.equal(domain.inputs.connectionUri, "qemu+ssh://root@host-b/system");
        assert.equal(domain.inputs.name, `${LIBVIRT_PREFIX}-app7`);
        assert.deepEqual(domain.inputs.nics, [
            { network: `${LIBVIRT_PREFIX}-public`, mac: "52:54:00:01:00:1b", mtu: 1450 },
            { network: `${LIBVIRT_PREFIX}-storage`, mac: "52:54:00:02:00:1b", mtu: 1450 },
        ]);
        assert.ok(isSecret(domain.inputs.firmwareConfig));
        assert.doesNotMatch(String(domain.inputs.kernelCmdline), /password|\$6\$/);
        const words = String(plain(domain.inputs.kernelCmdline)).split(" ");
        assert.ok(words.includes("lvslab.nic=eth0,52:54:00:01:00:1b,10.1.0.27/24,10.1.0.1"));
        assert.ok(words.includes("lvslab.hostname=app7"));
        assert.equal(named(built.resources, "backend-disk").inputs.name, `${LIBVIRT_PREFIX}-app7.qcow2`);
    });

    it("reports its name, addresses, weight and SSH hint", () => {
        const { server } = built;
        assert.deepEqual([server.serverName, server.publicIp, server.storageIp, server.weight], ["app7", "10.1.0.27", "10.2.0.27", 5]);
        assert.equal(server.sshHint, "ssh -i /keys/id_ed25519 operator@10.1.0.27");
    });

    it("observes what its steps set, in TUN terms, after both steps, which it runs again when they drifted", () => {
        const facts = named(built.resources, "backend-facts");
        const wanted = facts.inputs.wanted as Record<string, string>;
        assert.equal(wanted["address 10.1.0.4/32 on tunl0"], "present");
        assert.equal(wanted["rp_filter tunl0"], "0");
        assert.equal(wanted["page on port 80"], "answers with the page");
        assert.equal(facts.inputs.host, built.server.publicIp);
        assert.deepEqual(
            (facts.inputs.steps as { name: string }[]).map((step) => step.name),
            ["backend-forwarding", "backend-web"],
        );
        assert.match(String(facts.inputs.reader), /readonly ROLE='real-server'\nreadonly MODE='tun'/);
    });
});

describe("a RealServer in NAT mode, built from its Args", () => {
    it("routes its replies back through the given NAT gateway", async () => {
        const built = await build("natted", { mode: "nat" });
        const params = stepParams(named(built.resources, "natted-forwarding"));
        assert.equal(params.MODE, "nat");
        assert.equal(params.NAT_GATEWAY, "10.2.0.4");
        assert.equal(params.VIP, "10.1.0.4");
    });
});
