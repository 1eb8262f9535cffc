// libvirt asked with virsh: a libvirt that cannot be asked is no proof that
// nothing is left, and the guests' CPU time from virsh domstats.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { leftovers, parseCpuTotals } from "../../../proofs/kit";

describe("leftovers", () => {
    it("fails, never reports nothing left, when libvirt cannot be asked", () => {
        const uri = "qemu:///system?socket=/nonexistent/lvslab-test/libvirt-sock";
        assert.throws(
            () => leftovers(uri, "lvslab", "lvslab-"),
            /cannot tell what is left: virsh -c qemu:\/\/\/system\?socket=\/nonexistent\S* list --all --name failed: .*/,
        );
    });
});

describe("guest CPU", () => {
    it("reads each domain's CPU seconds from virsh domstats", () => {
        const domstats = [
            "Domain: 'lvsfloor-m1-web1'",
            "  cpu.time=12345678901",
            "  cpu.user=9000000000",
            "  cpu.system=3000000000",
            "",
            "Domain: 'lvsfloor-m1-nfs'",
            "  cpu.time=9876543210",
            "",
        ].join("\n");
        assert.deepEqual(parseCpuTotals(domstats), { "lvsfloor-m1-web1": 12.35, "lvsfloor-m1-nfs": 9.88 });
        assert.deepEqual(parseCpuTotals(""), {});
    });
});
