import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { holdsAddress, mergeIpvsStats, parseDomainInterfaces, parseDomainStates, parseIpvsTable, parseNetworkXml } from "../../../scripts/tools/parse";
import { directorFromProbe } from "../../../scripts/tools/live";
import { IP_ADDR_HOLDER, IPVSADM_LN, IPVSADM_STATS, VIRSH_LIST_ALL } from "./fixtures";

describe("reading what the lab's tools print", () => {
    it("ipvsadm -Ln: each real server with its forwarding, weight and connection counts", () => {
        const [service] = parseIpvsTable(IPVSADM_LN);
        assert.equal(service.protocol, "TCP");
        assert.equal(service.address, "172.16.16.172:80");
        assert.equal(service.scheduler, "rr");
        assert.deepEqual(service.destinations[0], { address: "172.16.16.177", port: 80, forward: "Route", weight: 1, active: 2, inactive: 11 });
        assert.equal(service.destinations.length, 4);
        assert.equal(service.destinations[3].weight, 0);
    });

    it("keeps a service's flags (persistence) apart from its scheduler", () => {
        const [service] = parseIpvsTable("TCP  172.16.16.172:80 wlc persistent 300\n  -> 172.16.16.177:80  Masq 2 0 0\n");
        assert.equal(service.scheduler, "wlc");
        assert.equal(service.flags, "persistent 300");
        assert.equal(service.destinations[0].forward, "Masq");
    });

    it("ipvsadm -Ln --stats --exact: connections, packets and bytes join the table's entries", () => {
        const [service] = mergeIpvsStats(parseIpvsTable(IPVSADM_LN), IPVSADM_STATS);
        assert.equal(service.destinations[0].connections, 13);
        assert.equal(service.destinations[0].inPackets, 78);
        assert.equal(service.destinations[0].inBytes, 5241);
        assert.equal(service.destinations[3].connections, 12);
    });

    it("one SSH probe of a director: its table, counters and whether it holds the VIP", () => {
        const live = directorFromProbe(`${IPVSADM_LN}@@stats\n${IPVSADM_STATS}@@addr\n${IP_ADDR_HOLDER}`, "172.16.16.172");
        assert.equal(live.holdsVip, true);
        assert.equal(live.services[0].destinations[1].connections, 13);
        assert.equal(directorFromProbe(`${IPVSADM_LN}@@stats\n@@addr\n`, "172.16.16.172").holdsVip, false);
    });

    it("an address is held only when listed exactly (.17 is not .172)", () => {
        assert.equal(holdsAddress(IP_ADDR_HOLDER, "172.16.16.17"), false);
        assert.equal(holdsAddress(IP_ADDR_HOLDER, "172.16.16.173"), true);
    });

    it("virsh list --all: running and shut-off domains by name", () => {
        const states = parseDomainStates(VIRSH_LIST_ALL);
        assert.equal(states.get("lvslab-k3x9-web3"), "shut off");
        assert.equal(states.get("lvslab-k3x9-director"), "running");
        assert.equal(states.size, 6);
    });

    it("virsh domiflist: each NIC's tap, network and MAC", () => {
        const rows = parseDomainInterfaces(` Interface   Type      Source               Model    MAC
-------------------------------------------------------------------------
 vnet4       network   lvslab-k3x9-public   virtio   52:54:00:01:10:b1
 vnet5       network   lvslab-k3x9-storage  virtio   52:54:00:02:07:B1
`);
        assert.deepEqual(
            rows.map((r) => [r.device, r.source, r.mac]),
            [
                ["vnet4", "lvslab-k3x9-public", "52:54:00:01:10:b1"],
                ["vnet5", "lvslab-k3x9-storage", "52:54:00:02:07:b1"],
            ],
        );
    });

    it("a network's XML: its bridge, the lab host's address and prefix, NAT or isolated", () => {
        const nat = parseNetworkXml(
            "<network><name>p</name><forward mode='nat'/><bridge name='lvk3x9-p' stp='on' delay='0'/><ip address='172.16.16.1' netmask='255.255.255.0'/></network>",
        );
        assert.deepEqual(nat, { bridge: "lvk3x9-p", hostAddress: "172.16.16.1", prefixLength: 24, forward: "nat" });
        const isolated = parseNetworkXml("<network><bridge name='lvk3x9-s'/><ip address='192.168.7.1' prefix='24'/></network>");
        assert.equal(isolated.forward, "isolated");
        assert.equal(isolated.prefixLength, 24);
    });
});
