import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultNic, machineNamed, macOwners, nicOf, topologyFromOutputs } from "../../../scripts/tools/topology";
import { seedOutputs } from "./fixtures";

describe("the lab's machines, from the stack outputs", () => {
    const topology = topologyFromOutputs(seedOutputs(), "dev");

    it("lists the director, the real servers and the NFS store with their libvirt domains", () => {
        assert.deepEqual(
            topology.machines.map((m) => [m.name, m.role, m.domain]),
            [
                ["director", "director", "lvslab-k3x9-director"],
                ["web1", "realServer", "lvslab-k3x9-web1"],
                ["web2", "realServer", "lvslab-k3x9-web2"],
                ["web3", "realServer", "lvslab-k3x9-web3"],
                ["web4", "realServer", "lvslab-k3x9-web4"],
                ["nfs", "nfs", "lvslab-k3x9-nfs"],
            ],
        );
    });

    it("gives each NIC the MAC the program gave it (52:54:00, network index, last two octets)", () => {
        const web1 = machineNamed(topology, "web1");
        assert.equal(nicOf(web1, "public").mac, "52:54:00:01:10:b1");
        assert.equal(nicOf(web1, "storage").mac, "52:54:00:02:07:b1");
        assert.equal(macOwners(topology).get("52:54:00:02:07:fa"), "nfs storage");
    });

    it("reaches the NFS store on its storage address, the others on their public one", () => {
        assert.equal(machineNamed(topology, "nfs").sshAddress, "192.168.7.250");
        assert.equal(defaultNic(machineNamed(topology, "nfs")), "storage");
        assert.equal(machineNamed(topology, "director").sshAddress, "172.16.16.173");
    });

    it("refuses an unknown machine, listing the known ones", () => {
        assert.throws(() => machineNamed(topology, "web9"), /no machine "web9" in this lab; the machines are: director, web1, web2, web3, web4, nfs/);
        assert.throws(() => machineNamed(topology, undefined), /name a machine: one of director, web1/);
    });

    it("refuses a NIC the machine does not have", () => {
        assert.throws(() => nicOf(machineNamed(topology, "nfs"), "public"), /nfs has no public NIC \(it has: storage\)/);
    });

    it("refuses a stack without a lab, naming scripts/lab up", () => {
        assert.throws(() => topologyFromOutputs({}, "e2e"), /stack e2e has no lab .*scripts\/lab up --stack e2e/);
    });
});
