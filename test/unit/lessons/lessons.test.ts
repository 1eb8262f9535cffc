import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, it } from "node:test";
import { CONFIG_DEFAULTS } from "../../../components/config";
import { configToChange } from "../../../lessons/runner";
import { lessonList, lessonNamed, LESSONS, lessonVerdict, tallyLine } from "../../../lessons";
import { clearLessonMark, lessonMarkFile, markLesson, readLessonMark } from "../../../lessons/mark";
import { arpRepliesForVip, connectionsTo, freeAddresses, ipvsadmMethodFlag, parseNstat } from "../../../lessons/observe";
import { mergeIpvsStats, parseIpvsTable } from "../../../scripts/tools/parse";
import { movedShare } from "../../../lessons/schedulers";
import { parseFrame } from "../../../scripts/tools/capture";
import { topologyFromOutputs, machineNamed, macOwners } from "../../../scripts/tools/topology";
import { lessonBanner } from "../../../scripts/tools/view";
import { IPVSADM_LN, IPVSADM_STATS, seedOutputs } from "../tools/fixtures";

const topology = topologyFromOutputs(seedOutputs(), "dev");

describe("the lessons", () => {
    it("have unique names, a seed step, a few lines of why and a reference each", () => {
        assert.equal(new Set(LESSONS.map((lesson) => lesson.name)).size, LESSONS.length);
        for (const lesson of LESSONS) {
            assert.match(lesson.name, /^[a-z][a-z-]*$/, lesson.name);
            assert.ok(lesson.seedStep.length > 0 && lesson.reference.length > 0 && lesson.breaks.length > 0, lesson.name);
            assert.ok(lesson.why.length >= 3 && lesson.why.length <= 8, `${lesson.name}: ${lesson.why.length} lines of why`);
        }
    });

    it("break only machines the seed lab has, with plain commands, or by config keys the lab knows", () => {
        const context = { stackName: "dev", out: seedOutputs(), topology };
        const known = Object.keys(CONFIG_DEFAULTS);
        for (const lesson of LESSONS) {
            const changes = lesson.kind === "break" ? lesson.change(context) : [];
            const breakConfig = lesson.kind === "break" ? lesson.breakConfig : undefined;
            assert.ok(changes.length > 0 || breakConfig !== undefined || lesson.kind === "experiment", lesson.name);
            for (const key of [...Object.keys(breakConfig ?? {}), ...Object.keys(lesson.needs ?? {})]) {
                assert.ok(known.includes(key), `${lesson.name}: ${key}`);
            }
            for (const change of changes) {
                assert.doesNotThrow(() => machineNamed(topology, change.machine), `${lesson.name}: ${change.machine}`);
                assert.ok(change.command.trim().length > 0);
            }
        }
    });

    it("are listed with their mode and what they break, and found by name", () => {
        const list = lessonList().join("\n");
        for (const lesson of LESSONS) {
            assert.ok(list.includes(lesson.name) && list.includes(lesson.breaks), lesson.name);
        }
        assert.match(list, /tun-rp-filter .*\[mode tun\]/);
        assert.equal(lessonNamed("arp").name, "arp");
        assert.throws(() => lessonNamed("arpp"), /no lesson "arpp": the lessons are .*arp/);
    });
});

describe("the config a lesson switches to", () => {
    it("changes only the keys whose value, set or default, differs", () => {
        assert.deepEqual(configToChange({ mode: undefined, healthCheck: "http" }, { mode: "dr", healthCheck: "http" }), {});
        assert.deepEqual(configToChange({ mode: undefined, persistenceTimeout: "0" }, { mode: "tun", persistenceTimeout: "120" }), {
            mode: "tun",
            persistenceTimeout: "120",
        });
    });
});

describe("a lesson's verdict", () => {
    const seen = (symptom: boolean) => ({ lines: [], symptom });

    it("passes when the symptom showed while broken and was gone once put back", () => {
        assert.deepEqual(lessonVerdict(seen(true), seen(false)), { pass: true, problems: [] });
    });

    it("fails when the symptom never showed, stayed, or nothing was put back", () => {
        assert.deepEqual(lessonVerdict(seen(false), seen(false)).problems, ["the symptom did not show while the step was broken"]);
        assert.deepEqual(lessonVerdict(seen(true), seen(true)).problems, ["the symptom was still there after it was put back"]);
        assert.deepEqual(lessonVerdict(seen(true), undefined).problems, ["it was not put back"]);
    });
});

describe("what the lessons measure with", () => {
    it("counts requests by server", () => {
        assert.equal(tallyLine({ sent: 8, answered: 6, failed: 2, byServer: { web2: 3, web1: 3 } }), "6 of 8 requests answered (web1 3, web2 3), 2 failed");
        assert.equal(tallyLine({ sent: 4, answered: 0, failed: 4, byServer: {} }), "0 of 4 requests answered, 4 failed");
    });

    it("names the forwarding method as ipvsadm takes it", () => {
        assert.deepEqual(["dr", "tun", "nat"].map(ipvsadmMethodFlag), ["-g", "-i", "-m"]);
    });

    it("reads nstat's counters, a missing one as 0", () => {
        const text = "#kernel\nIpInAddrErrors                  12                 0.0\n";
        assert.deepEqual(parseNstat(text, ["IpInAddrErrors", "TcpExtIPReversePathFilter"]), { IpInAddrErrors: 12, TcpExtIPReversePathFilter: 0 });
    });

    it("reads ipvsadm --stats per real server and the connections sent between two readings", () => {
        const stats = mergeIpvsStats(parseIpvsTable(IPVSADM_LN), IPVSADM_STATS).flatMap((service) => service.destinations);
        assert.ok(stats.length >= 4);
        assert.equal(`${stats[0].address}:${stats[0].port}`, "172.16.16.177:80");
        const later = stats.map((entry) => (entry.address === "172.16.16.177" ? { ...entry, connections: (entry.connections ?? 0) + 5 } : entry));
        assert.equal(connectionsTo(stats, later, "172.16.16.177"), 5);
        assert.equal(connectionsTo(stats, later, "172.16.16.178"), 0);
    });

    it("counts the ARP replies for the VIP by whose MAC sent them", () => {
        const web1 = machineNamed(topology, "web1").nics[0].mac;
        const director = machineNamed(topology, "director").nics[0].mac;
        const line = (mac: string, vip: string) =>
            `12:00:00.000000 ${mac} > 52:54:00:00:00:01, ethertype ARP (0x0806), length 42: Reply ${vip} is-at ${mac}, length 28`;
        const frames = [line(web1, "172.16.16.172"), line(web1, "172.16.16.172"), line(director, "172.16.16.172"), line(web1, "172.16.16.177")]
            .map(parseFrame)
            .filter((frame) => frame !== undefined);
        assert.deepEqual(arpRepliesForVip(frames, "172.16.16.172", macOwners(topology)), { "web1 public": 2, "director public": 1 });
    });
});

describe("the schedulers experiment", () => {
    it("takes client addresses nobody in the subnet uses, from the low end", () => {
        const used = new Set(["172.16.16.2", "172.16.16.4"]);
        assert.deepEqual(freeAddresses("172.16.16.1", 24, used, 3), ["172.16.16.3", "172.16.16.5", "172.16.16.6"]);
        assert.equal(freeAddresses("10.0.0.1", 30, new Set(), 5).length, 1);
    });

    it("counts a client as moved when it lands elsewhere or fails", () => {
        const before = new Map<string, string | undefined>([
            ["a", "web1"],
            ["b", "web2"],
            ["c", "web3"],
            ["d", undefined],
        ]);
        const after = new Map<string, string | undefined>([
            ["a", "web1"],
            ["b", "web5"],
            ["c", undefined],
            ["d", "web1"],
        ]);
        assert.equal(movedShare(before, after), 0.75);
        assert.equal(movedShare(before, before), 0.25);
        assert.equal(movedShare(new Map(), after), 0);
    });
});

describe("the lesson's mark, which the view page shows", () => {
    it("is written, read and cleared per stack under LVSLAB_HOME", () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "lvslab-lessons-"));
        const was = process.env.LVSLAB_HOME;
        process.env.LVSLAB_HOME = home;
        try {
            assert.equal(lessonMarkFile("dev"), path.join(home, "lessons", "dev.json"));
            assert.equal(readLessonMark("dev"), undefined);
            markLesson("dev", { lesson: "arp", title: "The ARP problem", breaks: "web1: arp_ignore 0", stage: "broken" });
            assert.equal(readLessonMark("dev")?.lesson, "arp");
            assert.match(lessonBanner(readLessonMark("dev")), /Lesson <b>arp<\/b> \(The ARP problem\): broken on purpose: web1: arp_ignore 0/);
            clearLessonMark("dev");
            assert.equal(readLessonMark("dev"), undefined);
            assert.equal(lessonBanner(undefined), "");
            assert.equal(fs.existsSync(path.join(home, "lessons")), false);
        } finally {
            process.env.LVSLAB_HOME = was;
            if (was === undefined) {
                delete process.env.LVSLAB_HOME;
            }
            fs.rmSync(home, { recursive: true, force: true });
        }
    });
});
