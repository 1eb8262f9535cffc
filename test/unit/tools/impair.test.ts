import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    alreadyClear,
    checkImpairment,
    clearArgs,
    dropInListing,
    dropRuleset,
    dropTable,
    guestTcCommand,
    isUnknownQdisc,
    netemInShow,
    planImpairment,
    showArgs,
} from "../../../scripts/tools/impair";

describe("impairments on a machine's link", () => {
    it("with netem on the host, delay with jitter, loss and rate become one tc qdisc replace on the tap", () => {
        assert.deepEqual(planImpairment("vnet6", { delayMs: 100, jitterMs: 20, lossPercent: 5, rate: "10mbit" }, true), {
            hostQdisc: ["qdisc", "replace", "dev", "vnet6", "root", "netem", "delay", "100ms", "20ms", "loss", "5%", "rate", "10mbit"],
        });
        assert.deepEqual(planImpairment("vnet6", { lossPercent: 100 }, true), {
            hostQdisc: ["qdisc", "replace", "dev", "vnet6", "root", "netem", "loss", "100%"],
        });
    });

    it("without netem on the host: loss in nftables, rate in tbf, delay in the guest's own netem", () => {
        const plan = planImpairment("vnet6", { delayMs: 100, jitterMs: 20, lossPercent: 5, rate: "10mbit" }, false);
        assert.deepEqual(plan.hostQdisc, ["qdisc", "replace", "dev", "vnet6", "root", "tbf", "rate", "10mbit", "burst", "32kbit", "latency", "400ms"]);
        assert.deepEqual(plan.guestNetem, ["root", "netem", "delay", "100ms", "20ms"]);
        assert.match(plan.hostDrop ?? "", /oifname "vnet6" numgen random mod 100 < 5 counter drop/);
        assert.deepEqual(planImpairment("vnet6", { lossPercent: 100 }, false), { hostDrop: dropRuleset("vnet6", 100) });
    });

    it("a rate alone is always a token bucket on the tap", () => {
        for (const hostHasNetem of [true, false]) {
            assert.deepEqual(planImpairment("vnet6", { rate: "1mbit" }, hostHasNetem), {
                hostQdisc: ["qdisc", "replace", "dev", "vnet6", "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms"],
            });
        }
        assert.equal(
            netemInShow("qdisc tbf 80da: root refcnt 3 rate 1Mbit burst 4Kb lat 400ms \n"),
            "qdisc tbf 80da: root refcnt 3 rate 1Mbit burst 4Kb lat 400ms",
        );
    });

    it("loss of one protocol is nftables even where netem is, in the tap's own table, replaced in one transaction", () => {
        const ruleset = dropRuleset("vnet3", 100, "vrrp");
        assert.deepEqual(planImpairment("vnet3", { lossPercent: 100, proto: "vrrp" }, true), { hostDrop: ruleset });
        const lines = ruleset.split("\n");
        assert.deepEqual(lines.slice(0, 3), [
            "table bridge lvslab_impair_vnet3",
            "delete table bridge lvslab_impair_vnet3",
            "table bridge lvslab_impair_vnet3 {",
        ]);
        // Frames the bridge forwards and frames the lab host sends: both hooks, all of them (no numgen at 100 %).
        assert.equal(lines.filter((line) => line.trim() === 'oifname "vnet3" ip protocol vrrp counter drop').length, 2);
        assert.match(ruleset, /type filter hook forward priority 0; policy accept;/);
        assert.match(ruleset, /type filter hook output priority 0; policy accept;/);
        assert.equal(dropTable("vnet-1.2"), "lvslab_impair_vnet_1_2");
    });

    it("refuses what tc or nft would refuse, naming the option", () => {
        assert.throws(() => checkImpairment({}), /--delay MS, --jitter MS, --loss PCT, --rate R/);
        assert.throws(() => checkImpairment({ jitterMs: 10 }), /--jitter varies a delay: give --delay too/);
        assert.throws(() => checkImpairment({ lossPercent: 101 }), /--loss is a percentage, 0 to 100/);
        assert.throws(() => checkImpairment({ delayMs: -1 }), /--delay must be a number of 0 or more/);
        assert.throws(() => checkImpairment({ rate: "fast" }), /--rate "fast" is not a rate tc understands/);
        assert.throws(() => checkImpairment({ delayMs: 5, proto: "vrrp" }), /--proto says which frames --loss drops: give --loss too/);
        assert.throws(() => checkImpairment({ lossPercent: 5, proto: "vrrp; flush ruleset" }), /--proto "vrrp; flush ruleset" is not an IP protocol name/);
    });

    it("the guest's command finds the NIC by its MAC and refuses anything but tc words", () => {
        const command = guestTcCommand("52:54:00:AA:BB:01", "replace", ["root", "netem", "delay", "100ms"]);
        assert.match(command, /awk -v mac=52:54:00:aa:bb:01 /);
        assert.match(command, /sudo -n tc qdisc replace dev "\$dev" root netem delay 100ms$/);
        assert.match(guestTcCommand("52:54:00:aa:bb:01", "show", []), /sudo -n tc -s qdisc show dev "\$dev"$/);
        assert.throws(() => guestTcCommand("52:54:00:aa:bb:01", "replace", ["root;", "reboot"]), /refusing to build a guest command/);
        assert.throws(() => guestTcCommand("not-a-mac", "show", []), /refusing/);
    });

    it("clears and shows; clearing a link that has nothing is not a failure", () => {
        assert.deepEqual(clearArgs("vnet6"), ["qdisc", "del", "dev", "vnet6", "root"]);
        assert.deepEqual(showArgs("vnet6"), ["-s", "qdisc", "show", "dev", "vnet6"]);
        assert.equal(alreadyClear("Error: Cannot delete qdisc with handle of zero."), true);
        assert.equal(alreadyClear("Error: Could not process rule: No such file or directory\ndelete table bridge lvslab_impair_vnet3"), true);
        assert.equal(alreadyClear('Cannot find device "vnet9"'), false);
        assert.equal(isUnknownQdisc("Error: Specified qdisc kind is unknown."), true);
        assert.equal(isUnknownQdisc('Cannot find device "vnet9"'), false);
    });

    it("finds netem in tc's listing and the drop rule in nft's", () => {
        assert.equal(
            netemInShow("qdisc netem 8001: root refcnt 2 limit 1000 delay 100ms  20ms loss 5%\n Sent 0 bytes 0 pkt\n"),
            "qdisc netem 8001: root refcnt 2 limit 1000 delay 100ms  20ms loss 5%",
        );
        assert.equal(netemInShow("qdisc noqueue 0: root refcnt 2\n"), undefined);
        const listing =
            'table bridge lvslab_impair_vnet3 {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\toifname "vnet3" counter packets 12 bytes 840 drop\n\t}\n}\n';
        assert.equal(dropInListing(listing), 'oifname "vnet3" counter packets 12 bytes 840 drop');
        assert.equal(dropInListing("table bridge x {\n}\n"), undefined);
    });
});
