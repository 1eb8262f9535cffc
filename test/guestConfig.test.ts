// The guest-side files components/guestConfig.ts renders: cloud-config
// checked by cloud-init's own schema and YAML parser, network-config checked
// by cloud-init's own network parser, and every step script checked by
// shellcheck and then run against a sandbox to see what it would do.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabConfig } from "../components/config";
import {
    fillTemplate,
    GuestNic,
    instanceIdFor,
    renderMetaData,
    renderNetworkConfig,
    renderStep,
    renderUserData,
    shellQuote,
    stepCommand,
    StepName,
    StepParams,
    TEMPLATE_DIR,
    UserDataParams,
} from "../components/guestConfig";
import { macFor } from "../components/net";
import { seedConfig } from "./helpers/seed";
import { assertSucceeded, StepSandbox } from "./helpers/stepSandbox";
import { CLOUD_INIT_HINT, makeTempDir, parseYamlLikeCloudInit, runCloudInitPython, runTool, SHELLCHECK_HINT } from "./helpers/tools";

const SEED = seedConfig();
const VIP = "172.16.16.172";
const FSTAB_TAG = "# lvs-dr-lab web root";

/** The parameters each step gets for the seed, as the role components pass them. */
function seedSteps(config: LabConfig): { [N in StepName]: StepParams[N] } {
    const web1 = config.realServers[0];
    const port = String(config.port);
    return {
        "nfs-export": { EXPORT_PATH: config.nfsExportPath, CLIENT_SUBNET: config.storageSubnet.cidr, PAGE_CONTENT: config.pageContent },
        "real-server-vip": { VIP: config.vip, PUBLIC_IP: web1.publicIp },
        "real-server-web": { SERVER_NAME: web1.name, NFS_SERVER: config.nfs.storageIp, EXPORT_PATH: config.nfsExportPath, PORT: port },
        "director-vip": { VIP: config.vip, PREFIX_LENGTH: String(config.publicSubnet.prefixLength), PUBLIC_IP: config.director.publicIp, PORT: port },
        "director-ipvs": {
            VIP: config.vip,
            PORT: port,
            SCHEDULER: config.scheduler,
            PERSISTENCE: String(config.persistenceTimeout),
            FORWARDING: "g",
            // "address:weight" pairs, as components/director.ts builds them.
            REAL_SERVERS: config.realServers.map((server) => `${server.publicIp}:${server.weight}`).join(" "),
        },
    };
}
const SEED_STEPS = seedSteps(SEED);
const STEP_NAMES = Object.keys(SEED_STEPS) as StepName[];

const temp = makeTempDir("guestconfig");
after(() => temp.cleanup());

function writeTemp(name: string, content: string): string {
    const file = path.join(temp.dir, name);
    fs.writeFileSync(file, content);
    return file;
}

/** shellcheck's verdict on a script; fails the test with its findings. */
function assertShellcheckClean(name: string, script: string): void {
    const file = writeTemp(`${name}.sh`, script);
    const run = runTool("shellcheck", ["-s", "bash", "-f", "gcc", file], SHELLCHECK_HINT);
    assert.equal(run.status, 0, `shellcheck found problems in the rendered ${name} step:\n${run.stdout}${run.stderr}`);
}

describe("fillTemplate", () => {
    it("replaces every placeholder, however spaced, as often as it occurs", () => {
        assert.equal(fillTemplate("{{a}} {{ a }} {{  b  }}", { a: "1", b: "2" }), "1 1 2");
    });

    it("inserts values literally, even ones that look like placeholders or replacement patterns", () => {
        assert.equal(fillTemplate("x={{ a }}", { a: "{{ b }} $& $1" }), "x={{ b }} $& $1");
    });

    it("refuses a placeholder without a value, naming it", () => {
        assert.throws(() => fillTemplate("host: {{ hostname }}", {}), /placeholder \{\{ hostname \}\} has no value/);
    });

    it("refuses a value without a placeholder, naming it", () => {
        assert.throws(() => fillTemplate("host: {{ hostname }}", { hostname: "web1", fqdn: "web1.lab" }), /no placeholder for: fqdn/);
    });
});

describe("renderUserData", () => {
    const hostile = `pa'ss"wo:rd #not-a-comment \\ {{ sshUser }} $& - [x] {y} é\u007f\u0085`;
    const params: UserDataParams = {
        hostname: "web1",
        domain: "lvslab.internal",
        sshUser: "lab",
        sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTests lab@host\n",
        consolePassword: hostile,
    };

    it("passes cloud-init's own schema check (cloud-init schema -c)", () => {
        const file = writeTemp("user-data", renderUserData(params));
        const run = runTool("cloud-init", ["schema", "-c", file], CLOUD_INIT_HINT);
        assert.equal(run.status, 0, `cloud-init schema refused the user-data:\n${run.stdout}${run.stderr}`);
        assert.match(run.stdout, /Valid cloud-config/);
    });

    it("starts with the #cloud-config header and leaves no placeholder behind", () => {
        const text = renderUserData({ ...params, consolePassword: "plain" });
        assert.ok(text.startsWith("#cloud-config\n"));
        assert.doesNotMatch(text, /\{\{|\}\}/);
    });

    it("creates the SSH user with the key, no SSH passwords, and the console password intact despite quotes, colons and #", () => {
        const data = parseYamlLikeCloudInit(renderUserData(params)) as {
            hostname: string;
            fqdn: string;
            ssh_pwauth: boolean;
            disable_root: boolean;
            users: { name: string; ssh_authorized_keys: string[]; sudo: string }[];
            chpasswd: { expire: boolean; users: { name: string; password: string; type: string }[] };
        };
        assert.equal(data.hostname, "web1");
        assert.equal(data.fqdn, "web1.lvslab.internal");
        assert.equal(data.ssh_pwauth, false);
        assert.equal(data.disable_root, true);
        assert.equal(data.users.length, 1);
        assert.equal(data.users[0].name, "lab");
        assert.deepEqual(data.users[0].ssh_authorized_keys, ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTests lab@host"]);
        assert.equal(data.users[0].sudo, "ALL=(ALL) NOPASSWD:ALL");
        assert.deepEqual(data.chpasswd.users, [{ name: "lab", password: hostile, type: "text" }]);
    });

    it("refuses a public key that spans lines", () => {
        assert.throws(() => renderUserData({ ...params, sshPublicKey: "ssh-ed25519 AAAA a\nssh-rsa BBBB b" }), /single line/);
    });
});

describe("renderMetaData and instanceIdFor", () => {
    it("gives NoCloud meta-data with exactly the instance id and the hostname", () => {
        assert.deepEqual(parseYamlLikeCloudInit(renderMetaData("web1", "web1-0123456789ab")), {
            "instance-id": "web1-0123456789ab",
            "local-hostname": "web1",
        });
    });

    it("derives a stable instance id that changes when any part does", () => {
        const id = instanceIdFor("web1", "network", "key");
        assert.match(id, /^web1-[0-9a-f]{12}$/);
        assert.equal(instanceIdFor("web1", "network", "key"), id);
        assert.notEqual(instanceIdFor("web1", "network", "key2"), id);
        assert.notEqual(instanceIdFor("web1", "networkkey"), id);
    });
});

describe("renderNetworkConfig", () => {
    const directorNics: GuestNic[] = [
        { name: "eth0", mac: macFor(1, SEED.director.publicIp), address: SEED.director.publicIp, prefixLength: 24, gateway: SEED.publicHostIp },
        { name: "eth1", mac: macFor(2, SEED.director.storageIp), address: SEED.director.storageIp, prefixLength: 24 },
    ];

    it("is JSON of network-config version 2: NICs matched by MAC and renamed, addresses with prefix, the default route only where there is a gateway", () => {
        assert.deepEqual(JSON.parse(renderNetworkConfig(directorNics)), {
            version: 2,
            ethernets: {
                eth0: {
                    match: { macaddress: "52:54:00:01:10:ad" },
                    "set-name": "eth0",
                    addresses: ["172.16.16.173/24"],
                    routes: [{ to: "0.0.0.0/0", via: "172.16.16.1" }],
                },
                eth1: {
                    match: { macaddress: "52:54:00:02:07:ad" },
                    "set-name": "eth1",
                    addresses: ["192.168.7.173/24"],
                },
            },
        });
    });

    it("is understood by cloud-init's own network parser: static addresses on the right MACs, one default route via the lab host", () => {
        // cloud-init parses v2 itself whenever netplan is absent (Debian 12).
        const summary = runCloudInitPython(
            [
                "import json, sys, yaml",
                "from cloudinit.net.network_state import parse_net_config_data",
                "state = parse_net_config_data(yaml.safe_load(sys.stdin.read()))",
                "out = {}",
                "for iface in state.iter_interfaces():",
                "    addresses, default_via = [], []",
                "    for subnet in iface.get('subnets', []):",
                "        addresses.append('%s/%s' % (subnet['address'], subnet['prefix']))",
                "        if subnet.get('gateway'): default_via.append(subnet['gateway'])",
                "        default_via += [r['gateway'] for r in subnet.get('routes', []) if r.get('prefix') == 0]",
                "    out[iface['name']] = {'mac': iface.get('mac_address'), 'addresses': addresses, 'defaultVia': default_via}",
                "print(json.dumps(out))",
            ].join("\n"),
            renderNetworkConfig(directorNics),
        );
        assert.deepEqual(JSON.parse(summary), {
            eth0: { mac: "52:54:00:01:10:ad", addresses: ["172.16.16.173/24"], defaultVia: ["172.16.16.1"] },
            eth1: { mac: "52:54:00:02:07:ad", addresses: ["192.168.7.173/24"], defaultVia: [] },
        });
    });

    it("gives a storage-only machine (the NFS store) no default route", () => {
        const nfs = JSON.parse(renderNetworkConfig([{ name: "eth0", mac: macFor(2, SEED.nfs.storageIp), address: SEED.nfs.storageIp, prefixLength: 24 }])) as {
            ethernets: Record<string, Record<string, unknown>>;
        };
        assert.deepEqual(Object.keys(nfs.ethernets), ["eth0"]);
        assert.equal(nfs.ethernets.eth0.routes, undefined);
    });
});

describe("renderStep: every step, rendered with the seed's values", () => {
    it("covers every step script under cloud-init/steps", () => {
        const files = fs
            .readdirSync(path.join(TEMPLATE_DIR, "steps"))
            .filter((file) => file.endsWith(".sh") && file !== "lib.sh")
            .map((file) => file.slice(0, -3));
        assert.deepEqual([...STEP_NAMES].sort(), files.sort());
    });

    for (const step of STEP_NAMES) {
        it(`${step}: passes shellcheck -s bash`, () => {
            assertShellcheckClean(step, renderStep(step, SEED_STEPS[step]));
        });

        it(`${step}: is one bash script: strict mode, its parameters read-only, the helpers, the dispatch on apply/remove`, () => {
            const script = renderStep(step, SEED_STEPS[step]);
            assert.ok(script.startsWith("#!/bin/bash\n"));
            assert.ok(script.includes("\nset -euo pipefail\n"));
            assert.ok(script.includes(`\nreadonly STEP='${step}'\n`));
            for (const [name, value] of Object.entries(SEED_STEPS[step])) {
                assert.ok(script.includes(`\nreadonly ${name}=${shellQuote(String(value))}\n`), `${name} is set`);
            }
            assert.ok(script.includes("\nwrite_file() {"), "lib.sh is included");
            assert.ok(script.endsWith('\nrun_step "$@"\n'));
        });
    }

    it("director-ipvs carries the scheduler, gateway (DR) forwarding and each real server with its weight", () => {
        const script = renderStep("director-ipvs", SEED_STEPS["director-ipvs"]);
        assert.ok(script.includes("\nreadonly SCHEDULER='rr'\n"));
        assert.ok(script.includes("\nreadonly FORWARDING='g'\n"));
        assert.ok(script.includes("\nreadonly REAL_SERVERS='172.16.16.177:1 172.16.16.178:1 172.16.16.179:1 172.16.16.180:1'\n"));
    });

    it("quotes values with single quotes, $, backquotes and # so bash reads them back exactly (shellQuote)", () => {
        for (const value of ["it's", "'", "''", "", `a'b"c $HOME \`id\` \\n ; # end`, "two\nlines", "-n"]) {
            const run = runTool("bash", ["-c", `printf %s ${shellQuote(value)}`], "apt-get install bash");
            assert.equal(run.status, 0, run.stderr);
            assert.equal(run.stdout, value);
        }
    });

    it("still passes shellcheck with hostile values in every parameter", () => {
        const hostile = `it's "odd" $HOME \`id\` ; # x`;
        assertShellcheckClean("nfs-export-hostile", renderStep("nfs-export", { EXPORT_PATH: hostile, CLIENT_SUBNET: hostile, PAGE_CONTENT: hostile }));
    });
});

describe("renderStep: what each step does, run in a sandbox", () => {
    let sandbox: StepSandbox;
    before(() => {
        sandbox = new StepSandbox("steps");
    });
    after(() => sandbox.cleanup());

    /** An `ip` stub: the listed "args" => output pairs, nothing otherwise. */
    const ipStub = (outputs: Record<string, string>): string =>
        [
            "ip() {",
            '    record ip "$@"',
            '    case "$*" in',
            ...Object.entries(outputs).map(([args, output]) => `        ${JSON.stringify(args)}) printf '%s\\n' ${JSON.stringify(output)} ;;`),
            "    esac",
            "}",
        ].join("\n");

    it("director-ipvs: creates the service with the scheduler and adds every real server in DR mode (-g) with its weight", () => {
        const dir = "ipvs-fresh";
        fs.mkdirSync(sandbox.file(dir));
        fs.writeFileSync(sandbox.file(`${dir}/listing`), "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
        const run = sandbox.run(renderStep("director-ipvs", SEED_STEPS["director-ipvs"]), "apply", {
            paths: ipvsPaths(dir),
            stubs: ipvsadmStub(dir),
        });
        assertSucceeded(run);
        const service = `${VIP}:80`;
        assert.deepEqual(changesOf(run.calls), [
            `ipvsadm -A -t ${service} -s rr`,
            ...[177, 178, 179, 180].map((n) => `ipvsadm -a -t ${service} -r 172.16.16.${n}:80 -g -w 1`),
        ]);
        assert.ok(run.calls.includes("modprobe ip_vs_rr"), run.calls.join("\n"));
        assert.equal(sandbox.read(`${dir}/modules.conf`), "ip_vs\nip_vs_rr\n");
        assert.equal(sandbox.read(`${dir}/ipvsadm.rules`), `-A -t ${service} -s rr\n`);
        assert.ok(sandbox.read(`${dir}/unit`).includes(`ExecStart=/bin/sh -c '/sbin/ipvsadm -C && /sbin/ipvsadm -R < ${sandbox.file(`${dir}/ipvsadm.rules`)}'`));
    });

    it("director-ipvs: brings an existing table to the wanted one in place: edits kept servers, adds new ones, deletes the rest, never flushes", () => {
        const dir = "ipvs-reconcile";
        fs.mkdirSync(sandbox.file(dir));
        fs.writeFileSync(sandbox.file(`${dir}/exists`), "");
        fs.writeFileSync(
            sandbox.file(`${dir}/listing`),
            [
                "Prot LocalAddress:Port Scheduler Flags",
                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
                `TCP  ${VIP}:80 rr`,
                "  -> 172.16.16.177:80             Route   1      3          0",
                "  -> 172.16.16.199:80             Route   1      0          0",
                "",
            ].join("\n"),
        );
        const params = { ...SEED_STEPS["director-ipvs"], SCHEDULER: "wrr", PERSISTENCE: "300", REAL_SERVERS: "172.16.16.177:3 172.16.16.178:0" };
        const run = sandbox.run(renderStep("director-ipvs", params), "apply", { paths: ipvsPaths(dir), stubs: ipvsadmStub(dir) });
        assertSucceeded(run);
        const service = `${VIP}:80`;
        assert.deepEqual(changesOf(run.calls), [
            `ipvsadm -E -t ${service} -s wrr -p 300`,
            `ipvsadm -e -t ${service} -r 172.16.16.177:80 -g -w 3`,
            `ipvsadm -a -t ${service} -r 172.16.16.178:80 -g -w 0`,
            `ipvsadm -d -t ${service} -r 172.16.16.199:80`,
        ]);
    });

    function ipvsPaths(dir: string): Record<string, string> {
        return { RULES_FILE: sandbox.file(`${dir}/ipvsadm.rules`), MODULES_FILE: sandbox.file(`${dir}/modules.conf`), UNIT_FILE: sandbox.file(`${dir}/unit`) };
    }

    /** ipvsadm with the service present once "exists" is there (or after -A), listing "listing". */
    function ipvsadmStub(dir: string): string {
        return [
            "ipvsadm() {",
            '    record ipvsadm "$@"',
            `    local state="$SANDBOX/${dir}"`,
            '    case "$1" in',
            '        -A) touch "$state/exists" ;;',
            '        -Ln) if [ "$#" -gt 1 ]; then [ -f "$state/exists" ] || return 1; cat "$state/listing"; fi ;;',
            `        -Sn) printf '%s\\n' '-A -t ${VIP}:80 -s rr' ;;`,
            "    esac",
            "}",
        ].join("\n");
    }

    /** The ipvsadm calls that change the table. */
    function changesOf(calls: readonly string[]): string[] {
        return calls.filter((call) => /^ipvsadm -[AEaed] /.test(call));
    }

    it("real-server-vip: suppresses ARP (arp_ignore=1, arp_announce=2) for all, default, lo and the public NIC, and puts the VIP on lo as /32", () => {
        const dir = "rs-vip";
        const paths = { SYSCTL_FILE: sandbox.file(`${dir}/60-lvslab-arp.conf`), UNIT_FILE: sandbox.file(`${dir}/lvslab-vip.service`) };
        const stubs = ipStub({
            "-o -4 addr show": "2: eth0    inet 172.16.16.177/24 brd 172.16.16.255 scope global eth0",
            "-o addr show dev lo": `1: lo    inet ${VIP}/32 scope global lo`,
        });
        const script = renderStep("real-server-vip", SEED_STEPS["real-server-vip"]);
        const run = sandbox.run(script, "apply", { paths, stubs });
        assertSucceeded(run);
        const expected = ["all", "default", "lo", "eth0"].flatMap((scope) => [`net.ipv4.conf.${scope}.arp_ignore = 1`, `net.ipv4.conf.${scope}.arp_announce = 2`]);
        assert.equal(sandbox.read(`${dir}/60-lvslab-arp.conf`), `${expected.join("\n")}\n`);
        assert.ok(run.calls.includes(`sysctl -q -p ${paths.SYSCTL_FILE}`), run.calls.join("\n"));
        const unit = sandbox.read(`${dir}/lvslab-vip.service`);
        assert.ok(unit.includes(`ExecStart=/sbin/ip addr replace ${VIP}/32 dev lo\n`), unit);
        assert.ok(run.calls.includes("systemctl restart lvslab-vip.service"), run.calls.join("\n"));

        const again = sandbox.run(script, "apply", { paths, stubs });
        assertSucceeded(again);
        assert.doesNotMatch(again.stderr, /wrote/, "a second apply rewrites nothing");

        const removed = sandbox.run(script, "remove", { paths, stubs });
        assertSucceeded(removed);
        assert.ok(!sandbox.exists(`${dir}/60-lvslab-arp.conf`) && !sandbox.exists(`${dir}/lvslab-vip.service`));
        assert.ok(removed.calls.includes(`ip addr del ${VIP}/32 dev lo`), removed.calls.join("\n"));
        for (const scope of ["all", "default", "lo"]) {
            assert.ok(removed.calls.includes(`sysctl -q -w net.ipv4.conf.${scope}.arp_ignore=0 net.ipv4.conf.${scope}.arp_announce=0`), removed.calls.join("\n"));
        }
    });

    it("director-vip: turns send_redirects off for all, default and the public NIC, and holds the VIP on that NIC with the packet filter open", () => {
        const dir = "dir-vip";
        const paths = { SYSCTL_FILE: sandbox.file(`${dir}/60-lvslab-director.conf`), UNIT_FILE: sandbox.file(`${dir}/lvslab-vip.service`) };
        const run = sandbox.run(renderStep("director-vip", SEED_STEPS["director-vip"]), "apply", {
            paths,
            stubs: ipStub({
                "-o -4 addr show": "2: eth0    inet 172.16.16.173/24 brd 172.16.16.255 scope global eth0",
                "-o addr show dev eth0": `2: eth0    inet ${VIP}/24 scope global secondary eth0`,
            }),
        });
        assertSucceeded(run);
        assert.equal(
            sandbox.read(`${dir}/60-lvslab-director.conf`),
            "net.ipv4.conf.all.send_redirects = 0\nnet.ipv4.conf.default.send_redirects = 0\nnet.ipv4.conf.eth0.send_redirects = 0\n",
        );
        const unit = sandbox.read(`${dir}/lvslab-vip.service`);
        assert.ok(unit.includes(`ExecStart=/sbin/ip addr replace ${VIP}/24 dev eth0\n`), unit);
        assert.ok(unit.includes(`iptables -C INPUT -d ${VIP}/32 -p tcp --dport 80 -j ACCEPT 2>/dev/null || iptables -I INPUT -d ${VIP}/32 -p tcp --dport 80 -j ACCEPT`), unit);
    });

    it("director-vip: fails loudly when no NIC carries the director's address", () => {
        const dir = "dir-vip-missing";
        const run = sandbox.run(renderStep("director-vip", SEED_STEPS["director-vip"]), "apply", {
            paths: { SYSCTL_FILE: sandbox.file(`${dir}/sysctl.conf`), UNIT_FILE: sandbox.file(`${dir}/unit`) },
            stubs: ipStub({}),
        });
        assert.notEqual(run.status, 0);
        assert.match(run.stderr, /no interface carries 172\.16\.16\.173/);
    });

    it("nfs-export: exports the path rw,sync,no_root_squash to the storage subnet and writes the page exactly, quotes and all", () => {
        const exportPath = sandbox.file("nfs/wwwroot");
        const page = `it's "welcome" to $HOME \`id\` \\ ; # 100%s`;
        const exportsFile = sandbox.file("nfs/lvslab.exports");
        const run = sandbox.run(renderStep("nfs-export", { ...SEED_STEPS["nfs-export"], EXPORT_PATH: exportPath, PAGE_CONTENT: page }), "apply", {
            paths: { EXPORTS_FILE: exportsFile },
            stubs: `exportfs() { record exportfs "$@"; if [ "$1" = -v ]; then printf '%s\\t%s\\n' "$EXPORT_PATH" '192.168.7.0/24(rw)'; fi; }`,
        });
        assertSucceeded(run);
        assert.equal(fs.readFileSync(exportsFile, "utf8"), `${exportPath} 192.168.7.0/24(rw,sync,no_root_squash,no_subtree_check)\n`);
        assert.equal(fs.readFileSync(path.join(exportPath, "index.html"), "utf8"), `${page}\n`);
        assert.ok(run.calls.includes("systemctl enable --now nfs-server"), run.calls.join("\n"));
        assert.ok(run.calls.includes("exportfs -ra"), run.calls.join("\n"));
    });

    describe("real-server-web", () => {
        const script = renderStep("real-server-web", SEED_STEPS["real-server-web"]);
        const webPaths = (dir: string): Record<string, string> => ({
            WEB_ROOT: sandbox.file(`${dir}/html`),
            IDENTITY_DIR: sandbox.file(`${dir}/identity`),
            CONF_FILE: sandbox.file(`${dir}/lvslab-identity.conf`),
            PORTS_FILE: sandbox.file(`${dir}/ports.conf`),
            FSTAB_FILE: sandbox.file(`${dir}/fstab`),
        });
        const fstabLine = (dir: string): string => `192.168.7.250:/opt/wwwroot ${sandbox.file(`${dir}/html`)} nfs defaults,_netdev,nofail 0 0 ${FSTAB_TAG}`;

        it("serves /var/www/html", () => {
            assert.ok(script.includes("\nWEB_ROOT=/var/www/html\n"));
        });

        it("mounts the export again at boot via an fstab line with _netdev, replacing an old lab line and keeping the others", () => {
            const dir = "web-fstab";
            fs.mkdirSync(sandbox.file(dir));
            fs.writeFileSync(sandbox.file(`${dir}/fstab`), `/dev/vda1 / ext4 defaults 0 1\n192.168.7.9:/old /var/www/html nfs defaults 0 0 ${FSTAB_TAG}\n`);
            const run = sandbox.run(script, "apply", { paths: webPaths(dir) });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/fstab`), `/dev/vda1 / ext4 defaults 0 1\n${fstabLine(dir)}\n`);
            assert.equal(sandbox.read(`${dir}/identity/whoami`), "web1\n");
            const conf = sandbox.read(`${dir}/lvslab-identity.conf`);
            assert.ok(conf.includes('Header always set X-Real-Server "web1"\n'), conf);
            assert.ok(conf.includes(`Alias /whoami ${sandbox.file(`${dir}/identity`)}/whoami\n`), conf);
            assert.equal(sandbox.read(`${dir}/ports.conf`), "Listen 80\n");
            assert.ok(run.calls.includes("systemctl restart apache2"), run.calls.join("\n"));

            const again = sandbox.run(script, "apply", { paths: webPaths(dir) });
            assertSucceeded(again);
            assert.doesNotMatch(again.stderr, /wrote/, "a second apply rewrites nothing");
            assert.ok(!again.calls.includes("systemctl restart apache2"), "nor restarts apache");
        });

        it("copes with a missing /etc/fstab", () => {
            const dir = "web-no-fstab";
            const run = sandbox.run(script, "apply", { paths: webPaths(dir) });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/fstab`), `${fstabLine(dir)}\n`);
        });

        it("removes its fstab line even when it is the only one, and its identity files", () => {
            const dir = "web-remove";
            assertSucceeded(sandbox.run(script, "apply", { paths: webPaths(dir) }));
            const run = sandbox.run(script, "remove", { paths: webPaths(dir) });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/fstab`), "");
            assert.ok(!sandbox.exists(`${dir}/identity/whoami`) && !sandbox.exists(`${dir}/lvslab-identity.conf`));
            assert.ok(run.calls.includes(`umount -l ${sandbox.file(`${dir}/html`)}`), run.calls.join("\n"));
        });
    });
});

describe("stepCommand", () => {
    const script = renderStep("real-server-vip", SEED_STEPS["real-server-vip"]);

    for (const action of ["apply", "remove"] as const) {
        it(`carries the script base64-encoded so that decoding gives it back exactly (${action})`, () => {
            const command = stepCommand(script, action);
            const match = /^echo ([A-Za-z0-9+/=]+) \| base64 -d > (\/tmp\/lvslab-step\.\$\$) && sudo bash \2 (\w+); status=\$\?; rm -f \2; exit \$status$/.exec(command);
            assert.ok(match, command.slice(0, 200));
            assert.equal(match[3], action);
            assert.equal(Buffer.from(match[1], "base64").toString("utf8"), script);
            const decoded = runTool("bash", ["-c", `echo ${match[1]} | base64 -d`], "apt-get install coreutils");
            assert.equal(decoded.stdout, script, "coreutils base64 decodes it too");
        });
    }

    it("runs the script with the action and hands back its exit status", () => {
        const fakeBin = path.join(temp.dir, "fake-sudo");
        fs.mkdirSync(fakeBin);
        fs.writeFileSync(path.join(fakeBin, "sudo"), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
        const run = runTool("bash", ["-c", stepCommand('echo "ran $1"\nexit 7\n', "remove")], "apt-get install bash", {
            env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ""}` },
        });
        assert.equal(run.stdout, "ran remove\n");
        assert.equal(run.status, 7);
    });
});
