import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { alreadyClear, checkImpairment, clearArgs, explainTcFailure, netemArgs, netemInShow, showArgs } from "../../scripts/tools/impair";

describe("netem on a machine's link", () => {
    it("delay with jitter, loss and rate become one tc qdisc replace", () => {
        assert.deepEqual(netemArgs("vnet6", { delayMs: 100, jitterMs: 20, lossPercent: 5, rate: "10mbit" }), ["qdisc", "replace", "dev", "vnet6", "root", "netem", "delay", "100ms", "20ms", "loss", "5%", "rate", "10mbit"]);
        assert.deepEqual(netemArgs("vnet6", { lossPercent: 100 }), ["qdisc", "replace", "dev", "vnet6", "root", "netem", "loss", "100%"]);
    });

    it("a rate alone is a token bucket (tbf), which kernels without netem have", () => {
        assert.deepEqual(netemArgs("vnet6", { rate: "1mbit" }), ["qdisc", "replace", "dev", "vnet6", "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms"]);
        assert.equal(netemInShow("qdisc tbf 80da: root refcnt 3 rate 1Mbit burst 4Kb lat 400ms \n"), "qdisc tbf 80da: root refcnt 3 rate 1Mbit burst 4Kb lat 400ms");
    });

    it("a kernel without netem is named as the cause, with what still works", () => {
        assert.match(explainTcFailure("Error: Specified qdisc kind is unknown.", { delayMs: 200 }) ?? "", /kernel has no netem .*--rate alone works/);
        assert.equal(explainTcFailure("Cannot find device \"vnet9\"", { delayMs: 200 }), undefined);
    });

    it("refuses what tc would refuse, naming the option", () => {
        assert.throws(() => checkImpairment({}), /--delay MS, --jitter MS, --loss PCT, --rate R/);
        assert.throws(() => checkImpairment({ jitterMs: 10 }), /--jitter varies a delay: give --delay too/);
        assert.throws(() => checkImpairment({ lossPercent: 101 }), /--loss is a percentage, 0 to 100/);
        assert.throws(() => checkImpairment({ delayMs: -1 }), /--delay must be a number of 0 or more/);
        assert.throws(() => checkImpairment({ rate: "fast" }), /--rate "fast" is not a rate tc understands/);
    });

    it("clears and shows the root qdisc; clearing a link that has none is not a failure", () => {
        assert.deepEqual(clearArgs("vnet6"), ["qdisc", "del", "dev", "vnet6", "root"]);
        assert.deepEqual(showArgs("vnet6"), ["-s", "qdisc", "show", "dev", "vnet6"]);
        assert.equal(alreadyClear("Error: Cannot delete qdisc with handle of zero."), true);
        assert.equal(alreadyClear("Cannot find device \"vnet9\""), false);
    });

    it("finds netem in tc's listing", () => {
        assert.equal(netemInShow("qdisc netem 8001: root refcnt 2 limit 1000 delay 100ms  20ms loss 5%\n Sent 0 bytes 0 pkt\n"), "qdisc netem 8001: root refcnt 2 limit 1000 delay 100ms  20ms loss 5%");
        assert.equal(netemInShow("qdisc noqueue 0: root refcnt 2\n"), undefined);
    });
});
