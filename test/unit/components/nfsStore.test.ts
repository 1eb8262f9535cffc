// An NfsStore built alone from hand-made Args on a cloud-init site, with
// Pulumi's mocks: its children, named from the component's name, its one NIC
// on the storage network, and the export step sharing the given directory
// with the given subnet.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { DeclarationWatch, isSecret, labMocks, plain, Recorded, stepParams } from "../../helpers/labMocks";
import { CONSOLE_PASSWORD, handMadeLogin, handMadeSite, handMadeSubnets, handMadeVm, LIBVIRT_PREFIX, PRIVATE_KEY, PUBLIC_KEY } from "./handMade";

const recorded: Recorded[] = [];

pulumi.runtime.setMocks(
    labMocks((resource) => recorded.push(resource)),
    "lvs-dr-lab",
    "components",
    false,
);

// The component is imported only after the mocks are in place.
import type * as NfsStoreModule from "../../../components/nfsStore";

function named(name: string): Recorded {
    const found = recorded.find((resource) => resource.name === name);
    assert.ok(found, `a resource named ${name}`);
    return found;
}

describe("an NfsStore on a cloud-init site, built from its Args", () => {
    let store: NfsStoreModule.NfsStore;
    const watch = new DeclarationWatch();

    before(async () => {
        const { NfsStore } = await import("../../../components/nfsStore");
        store = new NfsStore(
            "share",
            {
                machine: { name: "files", storageIp: "10.2.0.250" },
                site: handMadeSite({ kernelBoot: false }),
                vm: handMadeVm(),
                login: handMadeLogin(),
                subnets: handMadeSubnets(),
                exportPath: "/srv/share",
                pageContent: "it's the share",
            },
            { transformations: [watch.transformation] },
        );
        await watch.registered();
    });

    it("declares a disk, a NoCloud seed, a domain, the export step and its facts, named from the component's name, as its children", () => {
        assert.deepEqual(watch.childrenOf(store), [
            "command:remote:Command share-export",
            "pulumi-nodejs:dynamic/guest:Facts share-facts",
            "pulumi-nodejs:dynamic/libvirt:CloudInitDisk share-seed",
            "pulumi-nodejs:dynamic/libvirt:Domain share-vm",
            "pulumi-nodejs:dynamic/libvirt:Volume share-disk",
        ]);
        assert.equal(recorded.length, 6, "the component and its five children, nothing else");
    });

    it("exports the given directory with the given page to the given storage subnet", () => {
        const params = stepParams(named("share-export"));
        assert.deepEqual(params, { STEP: "nfs-export", EXPORT_PATH: "/srv/share", CLIENT_SUBNET: "10.2.0.0/24", PAGE_CONTENT: "it's the share" });
        assert.equal(store.exportTarget, "10.2.0.250:/srv/share");
    });

    it("runs the export step over SSH on its storage address with the given login", () => {
        const step = named("share-export");
        const connection = plain(step.inputs.connection) as Record<string, unknown>;
        assert.deepEqual([connection.host, connection.user, connection.privateKey], ["10.2.0.250", "operator", PRIVATE_KEY]);
        assert.deepEqual(step.inputs.triggers, ["share-vm-id"]);
        assert.equal(store.sshHint, "ssh -i /keys/id_ed25519 operator@10.2.0.250");
    });

    it("has one NIC, eth0 on the storage network, and boots from its seed in the site's pool", () => {
        const seed = named("share-seed");
        assert.equal(seed.inputs.connectionUri, "qemu+ssh://root@host-b/system");
        assert.equal(seed.inputs.pool, "labpool");
        assert.equal(seed.inputs.name, `${LIBVIRT_PREFIX}-files-seed.iso`);
        assert.deepEqual(
            JSON.parse(String(seed.inputs.networkConfig)),
            { version: 2, ethernets: { eth0: { match: { macaddress: "52:54:00:02:00:fa" }, "set-name": "eth0", addresses: ["10.2.0.250/24"] } } },
            "no public NIC, so no default route",
        );
        assert.ok(isSecret(seed.inputs.userData), "the user data carries the console password's hash");
        assert.match(String(plain(seed.inputs.userData)), /password: "\$6\$[^"]+"\n\s+type: hash/);
        assert.ok(!String(plain(seed.inputs.userData)).includes(CONSOLE_PASSWORD), "and not the password");
        assert.match(String(plain(seed.inputs.userData)), new RegExp(PUBLIC_KEY.split(" ")[1]));
        const domain = named("share-vm");
        assert.deepEqual(domain.inputs.nics, [{ network: `${LIBVIRT_PREFIX}-storage`, mac: "52:54:00:02:00:fa" }]);
        assert.equal(domain.inputs.cloudInitPath, `/pool/${LIBVIRT_PREFIX}-files-seed.iso`);
        assert.equal(domain.inputs.kernelCmdline, undefined);
        assert.equal(named("share-disk").inputs.capacityGiB, 12);
    });
});
