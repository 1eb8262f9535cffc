// The guest-side files components/guestConfig.ts renders: cloud-config
// checked by cloud-init's own schema and YAML parser, network-config checked
// by cloud-init's own network parser, and every step script checked by
// shellcheck and then run against a sandbox to see what it would do.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LabConfig } from "../../components/config";
import {
    fillTemplate,
    GuestNic,
    instanceIdFor,
    renderMetaData,
    KERNEL_CMDLINE_MAX,
    readTemplate,
    renderKernelCmdline,
    renderNetworkConfig,
    renderStep,
    renderUserData,
    bashLiteral,
    stepCommand,
    StepName,
    StepParams,
    TEMPLATE_DIR,
    UserDataParams,
} from "../../components/guestConfig";
import { sha512Crypt } from "../../components/sha512Crypt";
import { realServerEntries } from "../../components/director";
import { macFor } from "../../components/net";
import { seedConfig } from "../helpers/seed";
import { assertSucceeded, StepSandbox } from "../helpers/stepSandbox";
import { CLOUD_INIT_HINT, makeTempDir, parseYamlLikeCloudInit, runCloudInitPython, runTool, SHELLCHECK_HINT } from "../helpers/tools";

const SEED = seedConfig();
const VIP = "172.16.16.172";
const FSTAB_TAG = "# lvs-dr-lab web root";

/** The parameters each step gets for the seed, as the role components pass them. */
function seedSteps(config: LabConfig): { [N in StepName]: StepParams[N] } {
    const web1 = config.realServers[0];
    const ports = config.ports.join(" ");
    return {
        "nfs-export": { EXPORT_PATH: config.nfsExportPath, CLIENT_SUBNET: config.storageSubnet.cidr, PAGE_CONTENT: config.pageContent },
        "real-server-forwarding": {
            MODE: config.mode,
            VIP: config.vip,
            PUBLIC_IP: web1.publicIp,
            STORAGE_IP: web1.storageIp,
            STORAGE_SUBNET: config.storageSubnet.cidr,
            NAT_GATEWAY: "",
        },
        "real-server-web": { SERVER_NAME: web1.name, NFS_SERVER: config.nfs.storageIp, EXPORT_PATH: config.nfsExportPath, PORTS: ports },
        "director-lb": {
            MODE: config.mode,
            VIP: config.vip,
            PORTS: ports,
            SCHEDULER: config.scheduler,
            PERSISTENCE: String(config.persistenceTimeout),
            REAL_SERVERS: realServerEntries(config.mode, config.realServers),
            NICS: "eth0 eth1",
            FORWARD_IP: "0",
            STATIC_ADDRESSES: `${config.vip}/24=eth0`,
            SORRY_PAGE: "",
            KEEPALIVED_CONF: "",
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
    const password = "Console0Password";
    const hash = sha512Crypt(password, "web1salt");
    const params: UserDataParams = {
        hostname: "web1",
        domain: "lvslab.internal",
        sshUser: "lab",
        sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTests lab@host\n",
        consolePasswordHash: hash,
    };

    it("passes cloud-init's own schema check (cloud-init schema -c)", () => {
        const file = writeTemp("user-data", renderUserData(params));
        const run = runTool("cloud-init", ["schema", "-c", file], CLOUD_INIT_HINT);
        assert.equal(run.status, 0, `cloud-init schema refused the user-data:\n${run.stdout}${run.stderr}`);
        assert.match(run.stdout, /Valid cloud-config/);
    });

    it("starts with the #cloud-config header and leaves no placeholder behind", () => {
        const text = renderUserData(params);
        assert.ok(text.startsWith("#cloud-config\n"));
        assert.doesNotMatch(text, /\{\{|\}\}/);
    });

    it("creates the SSH user with the key, no SSH passwords, and the console password as its hash only", () => {
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
        assert.deepEqual(data.chpasswd.users, [{ name: "lab", password: hash, type: "hash" }]);
        assert.doesNotMatch(renderUserData(params), new RegExp(password));
    });

    it("refuses a console password that is not a SHA-512 crypt hash: the password itself never goes to a guest", () => {
        assert.throws(() => renderUserData({ ...params, consolePasswordHash: password }), /SHA-512 crypt hash.*never as itself/);
        assert.throws(() => renderUserData({ ...params, consolePasswordHash: `${hash}\nruncmd: [x]` }), /SHA-512 crypt hash/);
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

describe("renderKernelCmdline (firstBoot kernel)", () => {
    const nics: GuestNic[] = [
        { name: "eth0", mac: "52:54:00:01:10:ad", address: "172.16.16.173", prefixLength: 24, gateway: "172.16.16.1" },
        { name: "eth1", mac: "52:54:00:02:07:ad", address: "192.168.7.173", prefixLength: 24 },
    ];
    const params = {
        hostname: "director",
        domain: "lvslab.internal",
        sshUser: "lab",
        sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake lab@host\n",
        nics,
    };
    const words = renderKernelCmdline(params).split(" ");
    const value = (name: string): string[] => words.filter((w) => w.startsWith(`${name}=`)).map((w) => w.slice(name.length + 1));

    it("roots on vda1 with the serial console, the kernel's NIC names and cloud-init off", () => {
        for (const word of ["root=/dev/vda1", "rw", "console=ttyS0,115200n8", "net.ifnames=0", "mitigations=off", "cloud-init=disabled"]) {
            assert.ok(words.includes(word), `${word} in ${words.join(" ")}`);
        }
    });

    it("carries the identity the provision unit reads: name, domain, user, key (type,body), one lvslab.nic per NIC in order; no password", () => {
        assert.deepEqual(value("lvslab.hostname"), ["director"]);
        assert.deepEqual(value("lvslab.domain"), ["lvslab.internal"]);
        assert.deepEqual(value("lvslab.user"), ["lab"]);
        assert.deepEqual(value("lvslab.sshkey"), ["ssh-ed25519,AAAAC3NzaC1lZDI1NTE5AAAAIFake"]);
        // Any user of the guest reads the command line: the console password's hash goes in fw_cfg.
        assert.equal(
            words.some((word) => /password|\$6\$/.test(word)),
            false,
            words.join(" "),
        );
        assert.deepEqual(value("lvslab.nic"), ["eth0,52:54:00:01:10:ad,172.16.16.173/24,172.16.16.1", "eth1,52:54:00:02:07:ad,192.168.7.173/24"]);
    });

    it("refuses values that would split or break the command line, and a line over the kernel's limit", () => {
        assert.throws(() => renderKernelCmdline({ ...params, hostname: "web 1" }), /hostname "web 1" cannot go on a kernel command line/);
        assert.throws(() => renderKernelCmdline({ ...params, sshUser: "lab,x" }), /sshUser/);
        assert.throws(() => renderKernelCmdline({ ...params, sshPublicKey: "ssh-ed25519 A\nssh-ed25519 B" }), /single line/);
        assert.throws(() => renderKernelCmdline({ ...params, sshPublicKey: "ssh-ed25519 AAAA,x" }), /not an OpenSSH public key line/);
        const longKey = `ssh-rsa ${"A".repeat(KERNEL_CMDLINE_MAX)} lab@host`;
        assert.throws(() => renderKernelCmdline({ ...params, sshPublicKey: longKey }), /over the kernel's 2047.*firstBoot: cloud-init/);
    });
});

describe("renderNetworkConfig", () => {
    const directorNics: GuestNic[] = [
        { name: "eth0", mac: macFor(1, SEED.directors[0].publicIp), address: SEED.directors[0].publicIp, prefixLength: 24, gateway: SEED.publicHostIp },
        { name: "eth1", mac: macFor(2, SEED.directors[0].storageIp), address: SEED.directors[0].storageIp, prefixLength: 24 },
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
                assert.ok(script.includes(`\nreadonly ${name}=${bashLiteral(String(value))}\n`), `${name} is set`);
            }
            assert.ok(script.includes("\nwrite_file() {"), "lib.sh is included");
            assert.ok(script.endsWith('\nrun_step "$@"\n'));
        });
    }

    it("director-lb carries the scheduler, DR mode and each real server with its weight", () => {
        const script = renderStep("director-lb", SEED_STEPS["director-lb"]);
        assert.ok(script.includes("\nreadonly SCHEDULER='rr'\n"));
        assert.ok(script.includes("\nreadonly MODE='dr'\n"));
        assert.ok(script.includes("\nreadonly REAL_SERVERS='172.16.16.177:1 172.16.16.178:1 172.16.16.179:1 172.16.16.180:1'\n"));
    });

    it("quotes values with single quotes, $, backquotes and # so bash reads them back exactly (bashLiteral)", () => {
        for (const value of ["it's", "'", "''", "", `a'b"c $HOME \`id\` \\n ; # end`, "two\nlines", "-n"]) {
            const run = runTool("bash", ["-c", `printf %s ${bashLiteral(value)}`], "apt-get install bash");
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
            ...Object.entries(outputs).map(([args, output]) => `        ${JSON.stringify(args)}) printf '%b\\n' ${JSON.stringify(output)} ;;`),
            "    esac",
            "}",
        ].join("\n");

    /** Every path of the director step, inside the sandbox directory `dir`. */
    function directorPaths(dir: string): Record<string, string> {
        return {
            SYSCTL_FILE: sandbox.file(`${dir}/60-lvslab-director.conf`),
            MODULES_FILE: sandbox.file(`${dir}/modules.conf`),
            ADDRESS_UNIT_FILE: sandbox.file(`${dir}/lvslab-vip.service`),
            RULES_FILE: sandbox.file(`${dir}/ipvsadm.rules`),
            IPVS_UNIT_FILE: sandbox.file(`${dir}/lvslab-ipvs.service`),
            KEEPALIVED_FILE: sandbox.file(`${dir}/keepalived.conf`),
            KEEPALIVED_MODE_FILE: sandbox.file(`${dir}/keepalived-mode`),
            SORRY_DIR: sandbox.file(`${dir}/sorry`),
            SORRY_SITE: sandbox.file(`${dir}/lvslab-sorry.conf`),
            SORRY_PORTS_FILE: sandbox.file(`${dir}/ports.conf`),
            // Absent unless a test creates it: ip_vs not loaded.
            IPVS_SYSCTL_DIR: sandbox.file(`${dir}/proc-sys-net-ipv4-vs`),
        };
    }

    /** What the director's sysctl file holds: redirects off, forwarding as the mode needs, and IPVS's handling of reused ports. */
    const directorSysctls = (nics: string[], forward: "0" | "1"): string =>
        ["all", "default", ...nics].map((scope) => `net.ipv4.conf.${scope}.send_redirects = 0\n`).join("") +
        `net.ipv4.ip_forward = ${forward}\n` +
        "net.ipv4.vs.conn_reuse_mode = 3\n" +
        "net.ipv4.vs.expire_nodest_conn = 1\n";

    /**
     * ipvsadm over a fake table: "services" lists the VIP:port services
     * present ("-A" adds one), "listing" is what `-Ln -t SERVICE` prints.
     * The `ip` stub shows the VIP on eth0 so the address check passes.
     */
    function directorStubs(dir: string, extra = ""): string {
        return [
            "ipvsadm() {",
            '    record ipvsadm "$@"',
            `    local state="$SANDBOX/${dir}"`,
            '    touch "$state/services" "$state/listing"',
            '    case "$1" in',
            '        -A) echo "$3" >>"$state/services" ;;',
            '        -D) grep -vxF "$3" "$state/services" >"$state/services.new" || true; mv "$state/services.new" "$state/services" ;;',
            '        -Ln) if [ "$#" -gt 1 ]; then grep -qxF "$3" "$state/services" || return 1; cat "$state/listing";',
            '             else sed "s/^/TCP  /" "$state/services"; fi ;;',
            `        -Sn) printf '%s\\n' '-A -t ${VIP}:80 -s rr' ;;`,
            "    esac",
            "}",
            ipStub({ "-o addr show dev eth0": `2: eth0    inet ${VIP}/24 scope global secondary eth0` }),
            extra,
        ].join("\n");
    }

    /** The ipvsadm calls that change the table. */
    function changesOf(calls: readonly string[]): string[] {
        return calls.filter((call) => /^ipvsadm -[AEDaed] /.test(call));
    }

    it("director-lb (ipvsadm): creates the service with the scheduler and adds every real server in DR mode (-g) with its weight", () => {
        const dir = "lb-fresh";
        fs.mkdirSync(sandbox.file(dir));
        const run = sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "apply", { paths: directorPaths(dir), stubs: directorStubs(dir) });
        assertSucceeded(run);
        const service = `${VIP}:80`;
        assert.deepEqual(changesOf(run.calls), [
            `ipvsadm -A -t ${service} -s rr`,
            ...[177, 178, 179, 180].map((n) => `ipvsadm -a -t ${service} -r 172.16.16.${n}:80 -g -w 1`),
        ]);
        assert.ok(run.calls.includes("modprobe ip_vs_rr"), run.calls.join("\n"));
        assert.equal(sandbox.read(`${dir}/modules.conf`), "ip_vs\nip_vs_rr\n");
        assert.equal(sandbox.read(`${dir}/60-lvslab-director.conf`), directorSysctls(["eth0", "eth1"], "0"));
        assert.equal(sandbox.read(`${dir}/ipvsadm.rules`), `-A -t ${service} -s rr\n`);
        assert.ok(
            sandbox
                .read(`${dir}/lvslab-ipvs.service`)
                .includes(`ExecStart=/bin/sh -c '/sbin/ipvsadm -C && /sbin/ipvsadm -R < ${sandbox.file(`${dir}/ipvsadm.rules`)}'`),
        );
        const unit = sandbox.read(`${dir}/lvslab-vip.service`);
        assert.ok(unit.includes(`ExecStart=/sbin/ip addr replace ${VIP}/24 dev eth0\n`), unit);
        assert.ok(unit.includes(`ExecStop=-/sbin/ip addr del ${VIP}/24 dev eth0\n`), unit);
        assert.ok(!run.calls.some((call) => call.startsWith("keepalived") || call.includes("keepalived")), "no keepalived in the seed");
    });

    it("director-lb: reschedules a new connection on a reused port (conn_reuse_mode 3) and off a drained or removed server (expire_nodest_conn 1), loading ip_vs before applying them", () => {
        const dir = "lb-sysctl";
        fs.mkdirSync(sandbox.file(dir));
        const run = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], SCHEDULER: "wlc" }), "apply", {
            paths: directorPaths(dir),
            stubs: directorStubs(dir),
        });
        assertSucceeded(run);
        const file = sandbox.file(`${dir}/60-lvslab-director.conf`);
        assert.equal(sandbox.read(`${dir}/60-lvslab-director.conf`), directorSysctls(["eth0", "eth1"], "0"));
        // The net.ipv4.vs.* keys exist only once ip_vs is loaded: both modprobes come before sysctl reads the file.
        const kernelCalls = run.calls.filter((call) => /^(modprobe|sysctl) /.test(call));
        assert.deepEqual(kernelCalls, ["modprobe ip_vs", "modprobe ip_vs_wlc", `sysctl -q -p ${file}`]);
        // At boot the modules file loads ip_vs (systemd-modules-load runs before systemd-sysctl).
        assert.equal(sandbox.read(`${dir}/modules.conf`), "ip_vs\nip_vs_wlc\n");

        const again = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], SCHEDULER: "wlc" }), "apply", {
            paths: directorPaths(dir),
            stubs: directorStubs(dir),
        });
        assertSucceeded(again);
        assert.doesNotMatch(again.stderr, /wrote .*60-lvslab-director\.conf/, "a second run leaves the file alone");
    });

    it("director-lb (remove): deletes its files and puts the kernel's defaults back, IPVS's too while ip_vs is loaded", () => {
        const dir = "lb-remove";
        fs.mkdirSync(sandbox.file(dir));
        assertSucceeded(sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "apply", { paths: directorPaths(dir), stubs: directorStubs(dir) }));
        fs.mkdirSync(sandbox.file(`${dir}/proc-sys-net-ipv4-vs`));
        const run = sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "remove", { paths: directorPaths(dir), stubs: directorStubs(dir) });
        assertSucceeded(run);
        assert.ok(!sandbox.exists(`${dir}/60-lvslab-director.conf`) && !sandbox.exists(`${dir}/modules.conf`), "its sysctl and modules files are gone");
        assert.deepEqual(
            run.calls.filter((call) => call.startsWith("sysctl ")),
            [
                "sysctl -q -w net.ipv4.conf.all.send_redirects=1",
                "sysctl -q -w net.ipv4.conf.default.send_redirects=1",
                "sysctl -q -w net.ipv4.ip_forward=0",
                "sysctl -q -w net.ipv4.vs.conn_reuse_mode=1",
                "sysctl -q -w net.ipv4.vs.expire_nodest_conn=0",
            ],
        );
        assert.ok(run.calls.includes(`ipvsadm -D -t ${VIP}:80`), run.calls.join("\n"));

        // ip_vs not loaded: no net.ipv4.vs.* to put back (sysctl would fail on them).
        fs.rmdirSync(sandbox.file(`${dir}/proc-sys-net-ipv4-vs`));
        const unloaded = sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "remove", { paths: directorPaths(dir), stubs: directorStubs(dir) });
        assertSucceeded(unloaded);
        assert.ok(!unloaded.calls.some((call) => call.includes("net.ipv4.vs.")), unloaded.calls.join("\n"));
        assert.ok(!unloaded.calls.some((call) => call.startsWith("modprobe")), "remove loads nothing");
    });

    it("director-lb (ipvsadm): brings an existing table to the wanted one in place: edits kept servers, adds new ones, deletes the rest and unwanted services, never flushes", () => {
        const dir = "lb-reconcile";
        fs.mkdirSync(sandbox.file(dir));
        fs.writeFileSync(sandbox.file(`${dir}/services`), `${VIP}:80\n${VIP}:8443\n`);
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
        const params = {
            ...SEED_STEPS["director-lb"],
            MODE: "tun" as const,
            SCHEDULER: "wrr",
            PERSISTENCE: "300",
            REAL_SERVERS: "172.16.16.177:3 172.16.16.178:0",
        };
        const run = sandbox.run(renderStep("director-lb", params), "apply", { paths: directorPaths(dir), stubs: directorStubs(dir) });
        assertSucceeded(run);
        const service = `${VIP}:80`;
        assert.deepEqual(changesOf(run.calls), [
            `ipvsadm -E -t ${service} -s wrr -p 300`,
            `ipvsadm -e -t ${service} -r 172.16.16.177:80 -i -w 3`,
            `ipvsadm -a -t ${service} -r 172.16.16.178:80 -i -w 0`,
            `ipvsadm -d -t ${service} -r 172.16.16.199:80`,
            `ipvsadm -D -t ${VIP}:8443`,
        ]);
    });

    it("director-lb (NAT): forwards IP, holds the real servers' gateway on the storage NIC too, and masquerades (-m)", () => {
        const dir = "lb-nat";
        fs.mkdirSync(sandbox.file(dir));
        const params = {
            ...SEED_STEPS["director-lb"],
            MODE: "nat" as const,
            FORWARD_IP: "1" as const,
            REAL_SERVERS: "192.168.7.177:1",
            STATIC_ADDRESSES: `${VIP}/24=eth0 192.168.7.172/24=eth1`,
        };
        const stubs = directorStubs(
            dir,
            ipStub({
                "-o addr show dev eth0": `2: eth0    inet ${VIP}/24 scope global secondary eth0`,
                "-o addr show dev eth1": "3: eth1    inet 192.168.7.172/24 scope global secondary eth1",
            }),
        );
        const run = sandbox.run(renderStep("director-lb", params), "apply", { paths: directorPaths(dir), stubs });
        assertSucceeded(run);
        assert.equal(sandbox.read(`${dir}/60-lvslab-director.conf`), directorSysctls(["eth0", "eth1"], "1"));
        assert.ok(changesOf(run.calls).includes(`ipvsadm -a -t ${VIP}:80 -r 192.168.7.177:80 -m -w 1`), run.calls.join("\n"));
        assert.ok(sandbox.read(`${dir}/lvslab-vip.service`).includes("ExecStart=/sbin/ip addr replace 192.168.7.172/24 dev eth1\n"));
    });

    it("director-lb: fails loudly when an address it holds does not come up", () => {
        const dir = "lb-no-vip";
        fs.mkdirSync(sandbox.file(dir));
        const run = sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "apply", {
            paths: directorPaths(dir),
            stubs: directorStubs(dir, ipStub({})),
        });
        assert.notEqual(run.status, 0);
        assert.match(run.stderr, /172\.16\.16\.172\/24 is not on eth0/);
    });

    describe("director-lb (keepalived)", () => {
        const conf = "# lvs-dr-lab: keepalived on director\nglobal_defs {\n}\n";
        /** keepalived accepting every config unless "refuse" exists; the service "active" once started. */
        const keepalivedStubs = (dir: string): string =>
            directorStubs(
                dir,
                [
                    `keepalived() { record keepalived "$@"; [ ! -f "$SANDBOX/${dir}/refuse" ]; }`,
                    "systemctl() {",
                    '    record systemctl "$@"',
                    '    case "$1 ${2:-}" in',
                    // keepalived sets up a service per port once it runs.
                    `        "restart keepalived") touch "$SANDBOX/${dir}/active"; for p in $PORTS; do echo "$VIP:$p"; done >>"$SANDBOX/${dir}/services" ;;`,
                    `        "is-active -q") [ "\${3:-}" = keepalived ] && [ -f "$SANDBOX/${dir}/active" ] ;;`,
                    "    esac",
                    "}",
                ].join("\n"),
            );

        it("hands the table from ipvsadm to keepalived: the restore unit and its services go, the tested config is installed and keepalived started", () => {
            const dir = "lb-keepalived";
            fs.mkdirSync(sandbox.file(dir));
            const seedRun = sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "apply", {
                paths: directorPaths(dir),
                stubs: keepalivedStubs(dir),
            });
            assertSucceeded(seedRun);
            const script = renderStep("director-lb", { ...SEED_STEPS["director-lb"], KEEPALIVED_CONF: conf });
            const run = sandbox.run(script, "apply", { paths: directorPaths(dir), stubs: keepalivedStubs(dir) });
            assertSucceeded(run);
            assert.ok(!sandbox.exists(`${dir}/lvslab-ipvs.service`) && !sandbox.exists(`${dir}/ipvsadm.rules`), "ipvsadm's restore is gone");
            assert.ok(run.calls.includes(`ipvsadm -D -t ${VIP}:80`), run.calls.join("\n"));
            assert.ok(
                run.calls.some((call) => /^keepalived --config-test -f \S+$/.test(call)),
                run.calls.join("\n"),
            );
            assert.equal(sandbox.read(`${dir}/keepalived.conf`), conf + "\n");
            assert.ok(run.calls.includes("systemctl restart keepalived"), run.calls.join("\n"));
            assert.ok(!changesOf(run.calls).some((call) => / -[aAeE] /.test(call)), "keepalived, not ipvsadm, fills the table");

            const again = sandbox.run(script, "apply", { paths: directorPaths(dir), stubs: keepalivedStubs(dir) });
            assertSucceeded(again);
            assert.ok(!again.calls.some((call) => /^systemctl (restart|reload) keepalived$/.test(call)), "an unchanged config leaves keepalived alone");

            const changedConf = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], KEEPALIVED_CONF: `${conf}# weight change\n` }), "apply", {
                paths: directorPaths(dir),
                stubs: keepalivedStubs(dir),
            });
            assertSucceeded(changedConf);
            assert.ok(changedConf.calls.includes("systemctl reload keepalived"), "a changed config is reloaded, keeping the VRRP state");

            const newMode = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], MODE: "tun", KEEPALIVED_CONF: `${conf}# tun\n` }), "apply", {
                paths: directorPaths(dir),
                stubs: keepalivedStubs(dir),
            });
            assertSucceeded(newMode);
            assert.ok(newMode.calls.includes("systemctl restart keepalived"), "a new forwarding mode restarts keepalived: a reload would keep the old one");

            const back = sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "apply", { paths: directorPaths(dir), stubs: keepalivedStubs(dir) });
            assertSucceeded(back);
            assert.ok(back.calls.includes("systemctl stop keepalived"), back.calls.join("\n"));
            assert.ok(!sandbox.exists("system/multi-user.target.wants/keepalived.service"), "keepalived no longer starts at boot");
            assert.ok(!sandbox.exists(`${dir}/keepalived.conf`) && sandbox.exists(`${dir}/lvslab-ipvs.service`), "and back to ipvsadm");
        });

        /** An `ip -o -4 addr show` that shows the VIP from its `from`-th call on (0: never). */
        const vipFrom = (dir: string, from: number): string =>
            [
                "ip() {",
                '    record ip "$@"',
                '    [ "$*" = "-o -4 addr show" ] || return 0',
                `    local n; n=$(cat "$SANDBOX/${dir}/ip-calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$SANDBOX/${dir}/ip-calls"`,
                `    if [ ${from} -gt 0 ] && [ "$n" -ge ${from} ]; then echo "2: eth0    inet ${VIP}/24 scope global secondary eth0"; fi`,
                "}",
            ].join("\n");

        it("after a restart, the MASTER's step ends only once it has held the VIP for two checks running", () => {
            const dir = "lb-vrrp-master";
            fs.mkdirSync(sandbox.file(dir));
            const master = `${conf}vrrp_instance VI_1 {\n    state MASTER\n}\n`;
            const run = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], STATIC_ADDRESSES: "", KEEPALIVED_CONF: master }), "apply", {
                paths: directorPaths(dir),
                stubs: `${keepalivedStubs(dir)}\n${vipFrom(dir, 3)}`,
            });
            assertSucceeded(run);
            assert.equal(run.calls.filter((call) => call === "ip -o -4 addr show").length, 4, "not held twice, then held twice");
            assert.doesNotMatch(run.stderr, /VRRP:/);
        });

        it("after a restart, the BACKUP's step waits while it holds the VIP, and past the bound says so and goes on", () => {
            const dir = "lb-vrrp-backup";
            fs.mkdirSync(sandbox.file(dir));
            const backup = `${conf}vrrp_instance VI_1 {\n    state BACKUP\n}\n`;
            const run = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], STATIC_ADDRESSES: "", KEEPALIVED_CONF: backup }), "apply", {
                paths: { ...directorPaths(dir), VRRP_SETTLE_SECONDS: "5" },
                stubs: `${keepalivedStubs(dir)}\n${vipFrom(dir, 1)}`,
            });
            assertSucceeded(run);
            assert.equal(run.calls.filter((call) => call === "ip -o -4 addr show").length, 5);
            assert.match(run.stderr, /VRRP: the BACKUP still holds 172\.16\.16\.172 after 5 s: is the MASTER down\?/);
            const released = sandbox.run(
                renderStep("director-lb", { ...SEED_STEPS["director-lb"], STATIC_ADDRESSES: "", MODE: "tun", KEEPALIVED_CONF: backup }),
                "apply",
                {
                    paths: directorPaths(dir),
                    stubs: `${keepalivedStubs(dir)}\n${vipFrom(dir, 0)}`,
                },
            );
            assertSucceeded(released);
            assert.equal(released.calls.filter((call) => call === "ip -o -4 addr show").length, 1, "not holding it: no wait");
        });

        it("refuses a config keepalived --config-test rejects, leaving the installed one alone", () => {
            const dir = "lb-keepalived-bad";
            fs.mkdirSync(sandbox.file(dir));
            fs.writeFileSync(sandbox.file(`${dir}/refuse`), "");
            const run = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], KEEPALIVED_CONF: conf }), "apply", {
                paths: directorPaths(dir),
                stubs: keepalivedStubs(dir),
            });
            assert.notEqual(run.status, 0);
            assert.match(run.stderr, /keepalived refused the rendered configuration/);
            assert.ok(!sandbox.exists(`${dir}/keepalived.conf`));
        });

        it("with VRRP holds no address itself: an earlier static VIP unit is stopped (its ExecStop removes the VIP) and removed", () => {
            const dir = "lb-vrrp";
            fs.mkdirSync(sandbox.file(dir));
            assertSucceeded(
                sandbox.run(renderStep("director-lb", SEED_STEPS["director-lb"]), "apply", { paths: directorPaths(dir), stubs: keepalivedStubs(dir) }),
            );
            const run = sandbox.run(renderStep("director-lb", { ...SEED_STEPS["director-lb"], STATIC_ADDRESSES: "", KEEPALIVED_CONF: conf }), "apply", {
                paths: directorPaths(dir),
                stubs: keepalivedStubs(dir),
            });
            assertSucceeded(run);
            assert.ok(run.calls.includes("systemctl disable --now lvslab-vip.service"), run.calls.join("\n"));
            assert.ok(!sandbox.exists(`${dir}/lvslab-vip.service`));
        });

        it("serves a sorry page on every service port from its own apache when asked, and takes it away again", () => {
            const dir = "lb-sorry";
            fs.mkdirSync(sandbox.file(dir));
            const params = { ...SEED_STEPS["director-lb"], PORTS: "80 8080", KEEPALIVED_CONF: conf, SORRY_PAGE: "sorry, it's down" };
            const run = sandbox.run(renderStep("director-lb", params), "apply", { paths: directorPaths(dir), stubs: keepalivedStubs(dir) });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/sorry/index.html`), "sorry, it's down\n");
            assert.equal(sandbox.read(`${dir}/ports.conf`), "Listen 80\nListen 8080\n");
            assert.ok(sandbox.read(`${dir}/lvslab-sorry.conf`).includes(`DocumentRoot ${sandbox.file(`${dir}/sorry`)}\n`));
            assert.equal(fs.readlinkSync(sandbox.file("apache2/sites-enabled/lvslab-sorry.conf")), "../sites-available/lvslab-sorry.conf");
            assert.equal(fs.readlinkSync(sandbox.file("apache2/mods-enabled/headers.load")), "../mods-available/headers.load");
            assert.equal(fs.readlinkSync(sandbox.file("system/multi-user.target.wants/apache2.service")), "/lib/systemd/system/apache2.service");
            const removed = sandbox.run(renderStep("director-lb", { ...params, SORRY_PAGE: "" }), "apply", {
                paths: directorPaths(dir),
                stubs: keepalivedStubs(dir),
            });
            assertSucceeded(removed);
            assert.ok(!sandbox.exists(`${dir}/lvslab-sorry.conf`) && !sandbox.exists(`${dir}/sorry/index.html`));
            assert.ok(removed.calls.includes("systemctl stop apache2"), removed.calls.join("\n"));
            assert.ok(!sandbox.exists("apache2/sites-enabled/lvslab-sorry.conf"), "the sorry site is switched off");
            assert.ok(!sandbox.exists("system/multi-user.target.wants/apache2.service"), "apache no longer starts at boot");
        });
    });

    describe("lib.sh", () => {
        /** The nfs-export step with its apply replaced by `body`: lib.sh's helpers run as a step runs them. */
        const withApply = (body: string): [string, { paths: Record<string, string>; stubs: string }] => [
            renderStep("nfs-export", SEED_STEPS["nfs-export"]),
            { paths: {}, stubs: `apply() {\n${body}\n}` },
        ];

        it("write_file gives each file its mode (0644, 0600, 0755), even over an interrupted write's leftover", () => {
            const dir = sandbox.file("lib-modes");
            fs.mkdirSync(dir);
            fs.writeFileSync(`${dir}/secret.lvslab-new`, "half", { mode: 0o666 });
            const [script, options] = withApply(
                [
                    `printf a | write_file ${dir}/plain 0644`,
                    `printf b | write_file ${dir}/secret 0600`,
                    `printf c | write_file ${dir}/tool 0755`,
                    `: >${dir}/after`,
                ].join("\n"),
            );
            const run = sandbox.run(script, "apply", options);
            assertSucceeded(run);
            const modeOf = (name: string): number => fs.statSync(`${dir}/${name}`).mode & 0o777;
            assert.deepEqual(
                ["plain", "secret", "tool", "after"].map((name) => [name, modeOf(name).toString(8)]),
                [
                    ["plain", "644"],
                    ["secret", "600"],
                    ["tool", "755"],
                    ["after", "644"],
                ],
                "each file its mode, and the step's umask back after",
            );
            assert.equal(fs.readFileSync(`${dir}/secret`, "utf8"), "b");
            assert.deepEqual(
                fs.readdirSync(dir).filter((name) => name.endsWith(".lvslab-new")),
                [],
            );
        });

        it("interface_with finds the NIC by address from one `ip` for all its calls, and says none for an address no NIC has", () => {
            const [script, options] = withApply(
                [
                    "interface_with 192.168.7.177 storage",
                    "interface_with 172.16.16.177 public",
                    "interface_with 10.9.9.9 none",
                    'printf "%s|%s|%s\\n" "$storage" "$public" "$none"',
                ].join("\n"),
            );
            const run = sandbox.run(script, "apply", {
                ...options,
                stubs: `${options.stubs}\n${ipStub({ "-o -4 addr show": "2: eth0    inet 172.16.16.177/24 brd 172.16.16.255 scope global eth0\n3: eth1    inet 192.168.7.177/24 scope global eth1" })}`,
            });
            assertSucceeded(run);
            assert.equal(run.stdout, "eth1|eth0|\n");
            assert.deepEqual(run.calls, ["ip -o -4 addr show"]);
        });
    });

    describe("real-server-forwarding", () => {
        const forwardingPaths = (dir: string): Record<string, string> => ({
            SYSCTL_FILE: sandbox.file(`${dir}/60-lvslab-real-server.conf`),
            MODULES_FILE: sandbox.file(`${dir}/lvslab-ipip.conf`),
            UNIT_FILE: sandbox.file(`${dir}/lvslab-forwarding.service`),
        });
        const nicsStub = (extra: Record<string, string> = {}): string =>
            ipStub({
                "-o -4 addr show": "2: eth0    inet 172.16.16.177/24 brd 172.16.16.255 scope global eth0\n3: eth1    inet 192.168.7.177/24 scope global eth1",
                "-o addr show dev lo": `1: lo    inet ${VIP}/32 scope global lo`,
                "-o addr show dev tunl0": `4: tunl0    inet ${VIP}/32 scope global tunl0`,
                "route show table 100": "default via 192.168.7.172 dev eth1",
                ...extra,
            });
        const arpLines = (ignore: number, announce: number): string[] =>
            ["all", "default", "lo", "eth0"].flatMap((scope) => [
                `net.ipv4.conf.${scope}.arp_ignore = ${ignore}`,
                `net.ipv4.conf.${scope}.arp_announce = ${announce}`,
            ]);

        it("dr: suppresses ARP (arp_ignore=1, arp_announce=2) for all, default, lo and the public NIC, and puts the VIP on lo as /32", () => {
            const dir = "rs-dr";
            const paths = forwardingPaths(dir);
            const script = renderStep("real-server-forwarding", SEED_STEPS["real-server-forwarding"]);
            const run = sandbox.run(script, "apply", { paths, stubs: nicsStub() });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/60-lvslab-real-server.conf`), `${arpLines(1, 2).join("\n")}\n`);
            assert.ok(run.calls.includes(`sysctl -q -p ${paths.SYSCTL_FILE}`), run.calls.join("\n"));
            const unit = sandbox.read(`${dir}/lvslab-forwarding.service`);
            assert.ok(unit.includes(`ExecStart=/sbin/ip addr replace ${VIP}/32 dev lo\n`), unit);
            assert.ok(!sandbox.exists(`${dir}/lvslab-ipip.conf`));
            assert.ok(!run.calls.includes("systemctl daemon-reload"), "a new unit file is read when started: no reload");
            assert.ok(run.calls.includes("systemctl start lvslab-forwarding.service"), run.calls.join("\n"));
            assert.equal(fs.readlinkSync(sandbox.file("system/multi-user.target.wants/lvslab-forwarding.service")), paths.UNIT_FILE, "enabled by its link");

            const again = sandbox.run(script, "apply", { paths, stubs: nicsStub() });
            assertSucceeded(again);
            assert.doesNotMatch(again.stderr, /wrote/, "a second apply rewrites nothing");
            assert.ok(!again.calls.includes("systemctl stop lvslab-forwarding.service"), "nor stops the unit");

            const removed = sandbox.run(script, "remove", { paths, stubs: nicsStub() });
            assertSucceeded(removed);
            assert.ok(!sandbox.exists(`${dir}/60-lvslab-real-server.conf`) && !sandbox.exists(`${dir}/lvslab-forwarding.service`));
            assert.ok(removed.calls.includes("systemctl disable --now lvslab-forwarding.service"), removed.calls.join("\n"));
            for (const scope of ["all", "default", "lo"]) {
                assert.ok(
                    removed.calls.includes(`sysctl -q -w net.ipv4.conf.${scope}.arp_ignore=0 net.ipv4.conf.${scope}.arp_announce=0`),
                    removed.calls.join("\n"),
                );
            }
        });

        it("tun: loads ipip (now and at boot), puts the VIP on tunl0, keeps ARP suppressed and turns reverse-path filtering off for tunl0; the DR unit is stopped first", () => {
            const dir = "rs-tun";
            const paths = forwardingPaths(dir);
            assertSucceeded(sandbox.run(renderStep("real-server-forwarding", SEED_STEPS["real-server-forwarding"]), "apply", { paths, stubs: nicsStub() }));
            const run = sandbox.run(renderStep("real-server-forwarding", { ...SEED_STEPS["real-server-forwarding"], MODE: "tun" }), "apply", {
                paths,
                stubs: nicsStub(),
            });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/lvslab-ipip.conf`), "ipip\n");
            assert.ok(run.calls.includes("modprobe ipip"), run.calls.join("\n"));
            assert.equal(
                sandbox.read(`${dir}/60-lvslab-real-server.conf`),
                `${[...arpLines(1, 2), "net.ipv4.conf.all.rp_filter = 0", "net.ipv4.conf.tunl0.rp_filter = 0"].join("\n")}\n`,
            );
            const unit = sandbox.read(`${dir}/lvslab-forwarding.service`);
            assert.ok(unit.includes(`ExecStart=/sbin/ip addr replace ${VIP}/32 dev tunl0\n`), unit);
            assert.ok(!unit.includes("dev lo"), unit);
            const stop = run.calls.indexOf("systemctl stop lvslab-forwarding.service");
            const start = run.calls.indexOf("systemctl start lvslab-forwarding.service");
            assert.ok(stop >= 0 && stop < start, "the old (DR) unit stops, taking the VIP off lo, before the new one starts");
            const reload = run.calls.indexOf("systemctl daemon-reload");
            assert.ok(reload > stop && reload < start, "a changed unit file is reloaded between the stop and the start");
        });

        it("nat: no VIP and ARP as usual; replies from the storage address are routed back through the director by a rule of their own", () => {
            const dir = "rs-nat";
            const paths = forwardingPaths(dir);
            const params = { ...SEED_STEPS["real-server-forwarding"], MODE: "nat" as const, NAT_GATEWAY: "192.168.7.172" };
            const run = sandbox.run(renderStep("real-server-forwarding", params), "apply", { paths, stubs: nicsStub() });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/60-lvslab-real-server.conf`), `${[...arpLines(0, 0), "net.ipv4.conf.eth1.rp_filter = 2"].join("\n")}\n`);
            const unit = sandbox.read(`${dir}/lvslab-forwarding.service`);
            for (const line of [
                "ExecStart=/sbin/ip route replace 192.168.7.0/24 dev eth1 table 100",
                "ExecStart=/sbin/ip route replace default via 192.168.7.172 dev eth1 table 100",
                "ExecStart=/sbin/ip rule add priority 1000 from 192.168.7.177 table 100",
                "ExecStop=-/sbin/ip rule del priority 1000",
            ]) {
                assert.ok(unit.includes(`${line}\n`), `${line}\n---\n${unit}`);
            }
            assert.ok(!unit.includes(VIP), "NAT puts no VIP on the real server");

            const missing = sandbox.run(renderStep("real-server-forwarding", params), "apply", { paths, stubs: nicsStub({ "route show table 100": "" }) });
            assert.notEqual(missing.status, 0);
            assert.match(missing.stderr, /no route via 192\.168\.7\.172 in table 100/);
        });

        it("fails loudly when no NIC carries the server's address", () => {
            const run = sandbox.run(renderStep("real-server-forwarding", SEED_STEPS["real-server-forwarding"]), "apply", {
                paths: forwardingPaths("rs-missing"),
                stubs: ipStub({}),
            });
            assert.notEqual(run.status, 0);
            assert.match(run.stderr, /no interface carries 172\.16\.16\.177/);
        });
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
        assert.ok(run.calls.includes("systemctl start nfs-server"), run.calls.join("\n"));
        assert.equal(fs.readlinkSync(sandbox.file("system/multi-user.target.wants/nfs-server.service")), "/lib/systemd/system/nfs-server.service");
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
        /** A /proc/mounts that shows the share on the web root of `dir`. */
        const webRootMounted = (dir: string): string => {
            const file = sandbox.file(`${dir}-proc-mounts`);
            fs.writeFileSync(file, `rootfs / ext4 rw 0 0\n192.168.7.250:/opt/wwwroot ${sandbox.file(`${dir}/html`)} nfs4 rw,relatime 0 0\n`);
            return file;
        };
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
            assert.ok(conf.includes(`DocumentRoot ${sandbox.file(`${dir}/html`)}\n`), "extra ports, with no VirtualHost, serve the share too");
            assert.ok(conf.includes(`Alias /whoami ${sandbox.file(`${dir}/identity`)}/whoami\n`), conf);
            assert.equal(sandbox.read(`${dir}/ports.conf`), "Listen 80\n");
            assert.ok(run.calls.includes("answers 80 /whoami"), run.calls.join("\n"));
            assert.ok(run.calls.includes("systemctl restart apache2"), run.calls.join("\n"));

            assert.ok(run.calls.includes(`mount ${sandbox.file(`${dir}/html`)}`), run.calls.join("\n"));

            const again = sandbox.run(script, "apply", { paths: { ...webPaths(dir), MOUNTS_FILE: webRootMounted(dir) } });
            assertSucceeded(again);
            assert.doesNotMatch(again.stderr, /wrote/, "a second apply rewrites nothing");
            assert.ok(!again.calls.includes("systemctl restart apache2"), "nor restarts apache");
            assert.ok(!again.calls.some((call) => call.startsWith("mount ")), "nor mounts what is mounted");
        });

        // Not mounted yet; mount fails `failures` times (with the server's refusal) before it works.
        const storeStub = (dir: string, failures: number): string =>
            `mount() { record mount "$@"; local n; n=$(cat "$SANDBOX/${dir}-mounts" 2>/dev/null || echo 0); echo $((n + 1)) > "$SANDBOX/${dir}-mounts"; [ "$n" -ge ${failures} ] || { echo "mount.nfs: access denied by server" >&2; return 32; }; }`;

        it("waits for the store's export, mounting until it works, while apache is set up", () => {
            const dir = "web-wait";
            const run = sandbox.run(script, "apply", { paths: webPaths(dir), stubs: storeStub(dir, 2) });
            assertSucceeded(run);
            const mounts = run.calls.filter((call) => call === `mount ${sandbox.file(`${dir}/html`)}`);
            assert.equal(mounts.length, 3, run.calls.join("\n"));
            assert.ok(run.calls.includes("systemctl restart apache2"), run.calls.join("\n"));
            assert.match(run.stderr, /serving 192\.168\.7\.250:\/opt\/wwwroot/, "done only once the share is mounted");
        });

        it("fails at once when apache does not answer, ending the wait for the share with it", () => {
            const dir = "web-no-apache";
            const started = Date.now();
            const run = sandbox.run(script, "apply", {
                // A wait that, left running, would hold the step (and its SSH session) open for 25 s.
                paths: { ...webPaths(dir), MOUNT_WAIT_SECONDS: "25" },
                // The stubbed mount fails fast and for good: only the trap ends the wait early.
                stubs: `${storeStub(dir, 1_000_000_000)}\nanswers() { record answers "$@"; return 1; }`,
            });
            assert.notEqual(run.status, 0);
            assert.match(run.stderr, /apache does not answer on port 80/);
            assert.ok(Date.now() - started < 10_000, `the step took ${Date.now() - started} ms: the background wait outlived it`);
        });

        it("answers: a 2xx from apache on the port is an answer; a 404, a closed port or a silent one are not", async () => {
            const body = /\nanswers\(\) \{\n[\s\S]*?\n\}\n/.exec(readTemplate("steps/real-server-web.sh"));
            assert.ok(body, "real-server-web.sh defines answers()");
            const server = http.createServer((request, response) => {
                if (request.url === "/silent") {
                    return; // never answers: the 10 s read bound must end the wait
                }
                response.writeHead(request.url === "/whoami" ? 200 : 404).end("web1\n");
            });
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            const port = (server.address() as AddressInfo).port;
            const closed = await new Promise<number>((resolve) => {
                const probe = http.createServer().listen(0, "127.0.0.1", () => {
                    const free = (probe.address() as AddressInfo).port;
                    probe.close(() => resolve(free));
                });
            });
            const ask = (askPort: number, askPath: string): Promise<number> =>
                new Promise((resolve) => {
                    execFile("bash", ["-c", `${body[0]}answers ${askPort} ${askPath}`], { timeout: 20_000 }, (error) =>
                        resolve(error ? ((error as { code?: number }).code ?? -1) : 0),
                    );
                });
            try {
                assert.equal(await ask(port, "/whoami"), 0);
                assert.notEqual(await ask(port, "/missing"), 0);
                assert.notEqual(await ask(closed, "/whoami"), 0);
                const started = Date.now();
                assert.notEqual(await ask(port, "/silent"), 0);
                assert.ok(Date.now() - started < 15_000, "a silent server is given up on after 10 s");
            } finally {
                server.closeAllConnections();
                server.close();
            }
        });

        it("gives up with mount's own error once the wait is over", () => {
            const dir = "web-no-store";
            const run = sandbox.run(script, "apply", { paths: { ...webPaths(dir), MOUNT_WAIT_SECONDS: "0" }, stubs: storeStub(dir, 1000) });
            assert.notEqual(run.status, 0);
            assert.match(run.stderr, /could not mount 192\.168\.7\.250:\/opt\/wwwroot on .* within 0 s: mount\.nfs: access denied by server/);
        });

        it("installs only the packages a stock image lacks", () => {
            const dir = "web-packages";
            fs.rmSync(sandbox.file("dpkg-info/nfs-common.list"));
            try {
                const run = sandbox.run(script, "apply", { paths: webPaths(dir) });
                assertSucceeded(run);
                assert.ok(run.calls.includes("apt-get install -y -q --no-install-recommends nfs-common"), run.calls.join("\n"));
            } finally {
                fs.writeFileSync(sandbox.file("dpkg-info/nfs-common.list"), "");
            }
            const again = sandbox.run(script, "apply", { paths: webPaths(dir) });
            assert.ok(!again.calls.some((call) => call.startsWith("apt-get")), "nothing to install on the lab's image");
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
            const run = sandbox.run(script, "remove", { paths: { ...webPaths(dir), MOUNTS_FILE: webRootMounted(dir) } });
            assertSucceeded(run);
            assert.equal(sandbox.read(`${dir}/fstab`), "");
            assert.ok(!sandbox.exists(`${dir}/identity/whoami`) && !sandbox.exists(`${dir}/lvslab-identity.conf`));
            assert.ok(run.calls.includes(`umount -l ${sandbox.file(`${dir}/html`)}`), run.calls.join("\n"));
        });
    });
});

describe("stepCommand", () => {
    const script = renderStep("real-server-forwarding", SEED_STEPS["real-server-forwarding"]);

    for (const action of ["apply", "remove"] as const) {
        it(`carries the script base64-encoded so that decoding gives it back exactly (${action})`, () => {
            const command = stepCommand(script, action);
            const match = /^echo ([A-Za-z0-9+/=]+) \| base64 -d > (\/tmp\/lvslab-step\.\$\$) && sudo bash \2 (\w+); status=\$\?; rm -f \2; exit \$status$/.exec(
                command,
            );
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
