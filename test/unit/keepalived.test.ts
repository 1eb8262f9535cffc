// keepalived.conf as components/keepalived.ts renders it for each kind of
// lab: checked by keepalived's own parser (`keepalived --config-test`, in a
// network namespace that has the guests' eth0 and eth1, since keepalived
// refuses interfaces it can't see) and read back for what each block says.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { HealthCheck } from "../../components/config";
import { healthCheckWindowSeconds, KeepalivedParams, renderKeepalivedConf, VirtualService } from "../../components/keepalived";
import { makeTempDir, runTool } from "../helpers/tools";

const KEEPALIVED_HINT = "scripts/lab test installs it (labhost/test-packages.txt)";
const NETNS = `lvslab-kat-${process.pid}`;

const HTTP_CHECK: HealthCheck = { kind: "http", path: "/", expectedStatus: 200, intervalSeconds: 3, timeoutSeconds: 2, retries: 1 };

function service(overrides: Partial<VirtualService> = {}): VirtualService {
    return {
        vip: "172.16.16.172",
        port: 80,
        scheduler: "rr",
        mode: "dr",
        persistenceTimeout: 0,
        healthCheck: HTTP_CHECK,
        realServers: [177, 178, 179, 180].map((n) => ({ address: `172.16.16.${n}`, weight: 1 })),
        ...overrides,
    };
}

const PAIR_MASTER: KeepalivedParams = {
    routerName: "director",
    vrrp: {
        state: "MASTER",
        interface: "eth0",
        virtualRouterId: 51,
        priority: 150,
        advertIntervalSeconds: 1,
        password: "Ab3dE6gH",
        addresses: [{ address: "172.16.16.172", prefixLength: 24, device: "eth0" }],
        syncInterface: "eth1",
    },
    services: [service()],
};

const temp = makeTempDir("keepalived");
after(() => temp.cleanup());

describe("keepalived --config-test accepts every kind of lab", () => {
    before(() => {
        const add = runTool("ip", ["netns", "add", NETNS], "apt-get install iproute2");
        assert.equal(add.status, 0, add.stderr);
        const link = runTool("ip", ["-n", NETNS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"], "apt-get install iproute2");
        assert.equal(link.status, 0, link.stderr);
    });
    after(() => {
        runTool("ip", ["netns", "del", NETNS], "apt-get install iproute2");
    });

    const cases: Record<string, KeepalivedParams> = {
        "one director, HTTP checks (no VRRP)": { routerName: "director", services: [service()] },
        "MASTER, DR, HTTP checks": PAIR_MASTER,
        "BACKUP, NAT with the storage gateway, TCP checks, wrr, persistence, sorry server, two ports": {
            routerName: "director2",
            vrrp: {
                ...PAIR_MASTER.vrrp!,
                state: "BACKUP",
                priority: 100,
                addresses: [
                    { address: "172.16.16.172", prefixLength: 24, device: "eth0" },
                    { address: "192.168.7.172", prefixLength: 24, device: "eth1" },
                ],
            },
            services: [80, 8080].map((port) =>
                service({
                    port,
                    mode: "nat",
                    scheduler: "wrr",
                    persistenceTimeout: 300,
                    healthCheck: { ...HTTP_CHECK, kind: "tcp" },
                    sorryServer: { address: "127.0.0.1", port },
                    realServers: [
                        { address: "192.168.7.177", weight: 3 },
                        { address: "192.168.7.178", weight: 0 },
                    ],
                }),
            ),
        },
        "a pair without authentication, TUN, no checks": {
            ...PAIR_MASTER,
            vrrp: { ...PAIR_MASTER.vrrp!, password: undefined },
            services: [service({ mode: "tun", healthCheck: { ...HTTP_CHECK, kind: "none" } })],
        },
    };

    for (const [label, params] of Object.entries(cases)) {
        it(label, () => {
            const file = path.join(temp.dir, `${label.replace(/\W+/g, "-")}.conf`);
            fs.writeFileSync(file, renderKeepalivedConf(params));
            const run = runTool("ip", ["netns", "exec", NETNS, "keepalived", "--config-test", "-f", file], KEEPALIVED_HINT);
            assert.equal(run.status, 0, `keepalived refused ${file}:\n${run.stdout}${run.stderr}`);
        });
    }

    it("and the same check refuses a broken config, so it can fail", () => {
        const file = path.join(temp.dir, "broken.conf");
        fs.writeFileSync(file, renderKeepalivedConf(PAIR_MASTER).replace("lb_kind DR", "lb_kind SIDEWAYS"));
        const run = runTool("ip", ["netns", "exec", NETNS, "keepalived", "--config-test", "-f", file], KEEPALIVED_HINT);
        assert.notEqual(run.status, 0);
        assert.match(run.stdout + run.stderr, /SIDEWAYS/);
    });
});

describe("renderKeepalivedConf", () => {
    it("gives one virtual_server per port and one real_server per server, each with its weight and the HTTP check", () => {
        const conf = renderKeepalivedConf({ routerName: "director", services: [service(), service({ port: 8080 })] });
        assert.equal((conf.match(/^virtual_server 172\.16\.16\.172 (80|8080) \{$/gm) ?? []).length, 2);
        assert.equal((conf.match(/^ {4}real_server 172\.16\.16\.1(77|78|79|80) (80|8080) \{$/gm) ?? []).length, 8);
        assert.match(conf, /lb_algo rr\n\s+lb_kind DR\n/);
        assert.match(conf, /HTTP_GET \{\n\s+url \{\n\s+path \/\n\s+status_code 200\n\s+\}\n\s+connect_timeout 2\n\s+retry 1\n\s+delay_before_retry 1\n/);
        assert.doesNotMatch(conf, /vrrp_instance|lvs_sync_daemon|persistence_timeout|sorry_server/, "none of what was not asked for");
        assert.ok(conf.endsWith("}\n") && !conf.endsWith("\n\n"));
    });

    it("names the forwarding mode as keepalived does: DR, NAT, TUN", () => {
        for (const [mode, kind] of [
            ["dr", "DR"],
            ["nat", "NAT"],
            ["tun", "TUN"],
        ] as const) {
            assert.match(renderKeepalivedConf({ routerName: "d", services: [service({ mode })] }), new RegExp(`lb_kind ${kind}\\n`));
        }
    });

    it("gives the VRRP instance its state, priority, advert interval, password and floating addresses, and syncs connections over the storage NIC", () => {
        const conf = renderKeepalivedConf(PAIR_MASTER);
        assert.match(conf, /vrrp_instance lvslab \{\n\s+state MASTER\n\s+interface eth0\n\s+virtual_router_id 51\n\s+priority 150\n\s+advert_int 1\n/);
        assert.match(conf, /auth_type PASS\n\s+auth_pass Ab3dE6gH\n/);
        assert.match(conf, /virtual_ipaddress \{\n\s+172\.16\.16\.172\/24 dev eth0\n\s+\}/);
        assert.match(conf, /lvs_sync_daemon eth1 lvslab id 51\n/);
    });

    it("refuses a VRRP password keepalived would cut or misread", () => {
        assert.throws(() => renderKeepalivedConf({ ...PAIR_MASTER, vrrp: { ...PAIR_MASTER.vrrp!, password: "nine-char" } }), /1-8 letters or digits/);
    });
});

describe("healthCheckWindowSeconds", () => {
    it("is the interval plus every attempt timing out plus the pauses between them", () => {
        assert.equal(healthCheckWindowSeconds(HTTP_CHECK), 3 + 2 * 2 + 1);
        assert.equal(healthCheckWindowSeconds({ ...HTTP_CHECK, retries: 0, intervalSeconds: 1, timeoutSeconds: 1 }), 2);
        assert.equal(healthCheckWindowSeconds({ ...HTTP_CHECK, kind: "none" }), 0);
    });
});
