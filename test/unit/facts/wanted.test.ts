// What the lab wants each machine to show, read back as the guest's reader
// prints it, and the comparison that refresh, up and `scripts/lab check` make.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    compareFacts,
    describeDrift,
    directorWantedFacts,
    driftOf,
    nfsWantedFacts,
    parseFacts,
    realServerWantedFacts,
    shortDigest,
} from "../../../components/facts";

const SEED_DIRECTOR = {
    mode: "dr" as const,
    nics: ["eth0", "eth1"],
    staticAddresses: [{ address: "172.16.16.172", prefixLength: 24, device: "eth0" }],
    vip: "172.16.16.172",
    ports: [80],
    scheduler: "rr",
    persistenceTimeout: 0,
    realServers: [
        { address: "172.16.16.177", weight: 1 },
        { address: "172.16.16.178", weight: 1 },
    ],
};

describe("the director's wanted facts", () => {
    it("are the seed's steps: redirects off, forwarding off, IPVS's settings, the VIP, the service and each real server in gateway mode", () => {
        assert.deepEqual(directorWantedFacts(SEED_DIRECTOR), {
            "send_redirects all": "0",
            "send_redirects default": "0",
            "send_redirects eth0": "0",
            "send_redirects eth1": "0",
            ip_forward: "0",
            "ipvs conn_reuse_mode": "3",
            "ipvs expire_nodest_conn": "1",
            "address 172.16.16.172/24 on eth0": "present",
            "ipvs TCP 172.16.16.172:80": "rr",
            "ipvs TCP 172.16.16.172:80 -> 172.16.16.177:80": "Route weight 1",
            "ipvs TCP 172.16.16.172:80 -> 172.16.16.178:80": "Route weight 1",
        });
    });

    it("in NAT forward and masquerade, with persistence, per port; with keepalived its state and the conf's digest", () => {
        const facts = directorWantedFacts({
            ...SEED_DIRECTOR,
            mode: "nat",
            staticAddresses: [],
            ports: [80, 8080],
            scheduler: "wrr",
            persistenceTimeout: 300,
            realServers: [{ address: "192.168.7.177", weight: 3 }],
            keepalivedConf: "global_defs {\n}",
        });
        assert.equal(facts["ip_forward"], "1");
        assert.equal(facts["ipvs TCP 172.16.16.172:8080"], "wrr persistent 300");
        assert.equal(facts["ipvs TCP 172.16.16.172:8080 -> 192.168.7.177:8080"], "Masq weight 3");
        assert.equal(facts["keepalived"], "active");
        assert.equal(facts["keepalived.conf"], shortDigest("global_defs {\n}\n"));
        assert.match(facts["keepalived.conf"], /^sha256 [0-9a-f]{12}$/);
        assert.ok(!Object.keys(facts).some((name) => name.startsWith("address ")), "a VRRP pair holds no address of its own");
    });

    it("in TUN name the tunnel method", () => {
        assert.equal(directorWantedFacts({ ...SEED_DIRECTOR, mode: "tun" })["ipvs TCP 172.16.16.172:80 -> 172.16.16.177:80"], "Tunnel weight 1");
    });
});

describe("a real server's wanted facts", () => {
    const base = {
        vip: "172.16.16.172",
        publicNic: "eth0",
        storageNic: "eth1",
        natGateway: "192.168.7.172",
        storageIp: "192.168.7.177",
        ports: [80],
        nfsServer: "192.168.7.250",
        exportPath: "/opt/wwwroot",
    };

    it("in DR: ARP kept quiet everywhere, the VIP on lo, the share mounted and in fstab with _netdev, apache serving the page", () => {
        const facts = realServerWantedFacts({ ...base, mode: "dr" });
        for (const scope of ["all", "default", "lo", "eth0"]) {
            assert.equal(facts[`arp_ignore ${scope}`], "1");
            assert.equal(facts[`arp_announce ${scope}`], "2");
        }
        assert.equal(facts["address 172.16.16.172/32 on lo"], "present");
        assert.equal(facts["web root"], "192.168.7.250:/opt/wwwroot");
        assert.equal(facts["web root in fstab"], "192.168.7.250:/opt/wwwroot nfs defaults,_netdev,nofail");
        assert.equal(facts["page on port 80"], "answers with the page");
    });

    it("in TUN: the VIP on tunl0 and reverse-path filtering off; in NAT: replies via the director (the rule and its table), loose filtering on the storage NIC, no ARP suppression", () => {
        const tun = realServerWantedFacts({ ...base, mode: "tun" });
        assert.equal(tun["address 172.16.16.172/32 on tunl0"], "present");
        assert.equal(tun["rp_filter all"], "0");
        assert.equal(tun["MSS clamp on replies from 172.16.16.172"], "present");
        assert.equal(tun["address 172.16.16.172/32 on lo"], undefined);
        const nat = realServerWantedFacts({ ...base, mode: "nat" });
        assert.equal(nat["replies from 192.168.7.177 use table 100"], "present");
        assert.equal(nat["replies routed via 192.168.7.172"], "present");
        assert.equal(nat["rp_filter eth1"], "2");
        assert.equal(nat["arp_ignore all"], "0");
    });
});

describe("the NFS store's wanted facts", () => {
    it("are the seed's export line, the export active, the server running and the page", () => {
        assert.deepEqual(nfsWantedFacts({ exportPath: "/opt/wwwroot", clientSubnet: "192.168.7.0/24", pageContent: "welcome to beijing!!!" }), {
            "export line": "/opt/wwwroot 192.168.7.0/24(rw,sync,no_root_squash,no_subtree_check)",
            "export of /opt/wwwroot": "present",
            "nfs-server": "active",
            page: "welcome to beijing!!!",
        });
    });
});

describe("reading and comparing facts", () => {
    it("parses the reader's NAME<TAB>VALUE lines, values with spaces and tabs kept, other lines ignored", () => {
        assert.deepEqual(parseFacts("arp_ignore all\t1\nweb root\tnot mounted\nnoise without a tab\n\tno name\nodd\tva\tlue\n"), {
            "arp_ignore all": "1",
            "web root": "not mounted",
            odd: "va\tlue",
        });
    });

    it("names each drifted fact with both values, a fact the reader could not read included, and what the lab does not want", () => {
        const wanted = { "arp_ignore all": "1", "ipvs conn_reuse_mode": "3", "web root": "192.168.7.250:/opt/wwwroot" };
        const live = {
            "arp_ignore all": "0",
            "ipvs conn_reuse_mode": "missing",
            "web root": "192.168.7.250:/opt/wwwroot",
            "ipvs TCP 172.16.16.172:80 -> 172.16.16.199:80": "Route weight 1",
        };
        const drift = driftOf(wanted, live);
        assert.deepEqual(describeDrift(drift), [
            "arp_ignore all: wanted 1, live 0",
            "ipvs TCP 172.16.16.172:80 -> 172.16.16.199:80: wanted absent, live Route weight 1",
            "ipvs conn_reuse_mode: wanted 3, live missing",
        ]);
        assert.equal(driftOf(wanted, { ...wanted }).length, 0, "as wanted: no drift");
        assert.ok(
            compareFacts(wanted, {}).every((verdict) => !verdict.ok && verdict.live === "absent"),
            "nothing read: every fact absent",
        );
    });
});
