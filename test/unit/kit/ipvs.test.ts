// The directors' IPVS state as the proofs read it: connection entries and
// the source ports that still have one, and the IPVS settings every
// director must have.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { livePorts, parseConnectionEntries, sysctlProblems } from "../../../proofs/kit";

describe("ipvsadm -Lnc and the live entries", () => {
    const listing = [
        "IPVS connection entries",
        "pro expire state       source             virtual            destination",
        "TCP 01:57  FIN_WAIT    172.16.16.1:20001  172.16.16.172:80   172.16.16.177:80",
        "TCP 00:02  FIN_WAIT    172.16.16.1:20002  172.16.16.172:80   172.16.16.177:80",
        "TCP 14:59  ESTABLISHED 172.16.16.1:20003  172.16.16.172:80   172.16.16.178:80",
        "TCP 01:10  TIME_WAIT   172.16.16.1:20004  172.16.16.172:80   192.168.7.177:80",
        "TCP 01:30  FIN_WAIT    172.16.16.9:20005  172.16.16.172:80   172.16.16.177:80",
        "TCP 01:30  FIN_WAIT    172.16.16.1:20006  172.16.16.172:8080 172.16.16.177:8080",
        "",
    ].join("\n");

    it("parses each entry with its expiry in seconds, skipping the headings", () => {
        const entries = parseConnectionEntries(listing);
        assert.equal(entries.length, 6);
        assert.deepEqual(entries[0], {
            protocol: "TCP",
            expiresSeconds: 117,
            state: "FIN_WAIT",
            source: "172.16.16.1:20001",
            virtual: "172.16.16.172:80",
            destination: "172.16.16.177:80",
        });
        assert.equal(entries[2].expiresSeconds, 899);
    });

    it("counts a port live only with an entry from this client to this service and server that lives long enough", () => {
        const entries = parseConnectionEntries(listing);
        const want = { clientAddress: "172.16.16.1", virtual: "172.16.16.172:80", destination: "172.16.16.177:80", minSeconds: 3 };
        assert.deepEqual(livePorts(entries, { ...want, ports: [20001, 20002, 20003, 20004, 20005, 20006, 20007] }), [20001]);
        assert.deepEqual(livePorts(entries, { ...want, destination: "192.168.7.177:80", ports: [20004] }), [20004], "NAT: the storage address");
    });
});

describe("sysctlProblems", () => {
    it("wants conn_reuse_mode 3 and expire_nodest_conn 1 on every director", () => {
        assert.deepEqual(sysctlProblems({ director: "3\n1\n", director2: "3\n1\n" }), []);
        assert.deepEqual(sysctlProblems({ director: "1\n0\n", director2: "unreadable (timeout)" }), [
            "director: net.ipv4.vs.conn_reuse_mode is 1, not 3; net.ipv4.vs.expire_nodest_conn is 0, not 1",
            "director2: its IPVS settings could not be read (unreadable (timeout))",
        ]);
    });
});
