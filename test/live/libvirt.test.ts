// The libvirt providers against a real libvirtd: a lab host of the test's
// own, started by labhost/labhost.sh from a root that does not exist yet
// (its own network and mount namespaces), reached from here through its
// socket. A second lab host beside it shows that two share nothing.
// These tests fail, never skip, when libvirtd cannot be had.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { CloudInitDiskInputs, CloudInitDiskOutputs, checkCloudInitDisk, cloudInitDiskProvider, seedSha256 } from "../../components/libvirt";
import { DomainInputs, DomainOutputs, checkDomain, domainProvider } from "../../components/libvirt";
import { NetworkInputs, NetworkOutputs, checkNetwork, networkProvider } from "../../components/libvirt";
import { VolumeInputs, VolumeOutputs, checkVolume, volumeProvider } from "../../components/libvirt";
import { parseDomainNics, parseVolumeXml, xmlAttr, xmlText } from "../../components/libvirt";

const ROOT = resolve(__dirname, "../../..");
const LABHOST = join(ROOT, "labhost/labhost.sh");
// Unique per run, so that leftovers of another run never collide with ours.
const TAG = randomBytes(3).toString("hex");
const P = `lvsunit-${TAG}`;
const SUBNET = 10 + (randomBytes(1)[0] % 200); // 10.254.SUBNET.0/24 and 10.254.SUBNET+1.0/24
const BR_NAT = `lvu${TAG}n`;
const BR_ISO = `lvu${TAG}i`;
const POOL = "lvslab";

const work = mkdtempSync(join(tmpdir(), "lvslab-real-"));
// qemu runs as libvirt-qemu and must reach the pool inside the root.
chmodSync(work, 0o711);
const HOST_ROOT = join(work, "labhost");
const POOL_DIR = join(HOST_ROOT, "pool");
const LAB_ENV = { ...process.env, LVSLAB_LABHOST: `lvsunit${TAG}`, LVSLAB_LABHOST_ROOT: HOST_ROOT };
const SECOND_ENV = { ...process.env, LVSLAB_LABHOST: `lvsunit${TAG}b`, LVSLAB_LABHOST_ROOT: join(work, "labhost-b") };
/** This lab host's libvirtd, from outside its namespaces. */
const URI = `qemu:///system?socket=${HOST_ROOT}/run/libvirt/libvirt-sock`;

interface Ran {
    code: number | null;
    stdout: string;
    stderr: string;
}

function run(file: string, args: string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = process.env): Ran {
    const r = spawnSync(file, args, { encoding: "utf8", timeout: timeoutMs, env });
    return { code: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

function labhost(...args: string[]): Ran {
    return run(LABHOST, args, 180_000, LAB_ENV);
}

function secondLabhost(...args: string[]): Ran {
    return run(LABHOST, args, 180_000, SECOND_ENV);
}

/** virsh that must succeed; returns stdout. */
function virshText(...args: string[]): string {
    const r = run("virsh", ["-q", "-c", URI, ...args]);
    assert.equal(r.code, 0, `virsh ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
}

/** The outputs of a create or update, which the providers always return. */
function outs<T>(r: { outs?: T }): T {
    assert.ok(r.outs, "no outputs");
    return r.outs;
}

/** virsh that may fail. */
function virshRaw(...args: string[]): Ran {
    return run("virsh", ["-q", "-c", URI, ...args]);
}

let server: Server | undefined;

/** Serializes a provider as pulumi.dynamic.Resource does and loads it back. */
async function serialized<T extends pulumi.dynamic.ResourceProvider>(provider: T, key: string): Promise<pulumi.dynamic.ResourceProvider> {
    const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    const file = join(work, `${key}.js`);
    writeFileSync(file, sf.text);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(file) as { handler: () => pulumi.dynamic.ResourceProvider }).handler();
}

// Why the lab host could not be had; every test then fails with it (a failed
// before() would only cancel them, which reads like a skip).
let labError: Error | undefined;
/** What the first start said. */
let startMessages = "";

before(() => {
    if (process.getuid?.() !== 0) {
        labError = new Error("the real-libvirt tests must run as root: libvirtd, network namespaces and bridges need it");
        return;
    }
    assert.equal(existsSync(HOST_ROOT), false);
    const t0 = Date.now();
    const r = labhost("start");
    if (r.code !== 0) {
        const logFile = join(HOST_ROOT, "labhost.log");
        const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-3000) : "(no log)";
        labError = new Error(`could not start libvirtd with labhost/labhost.sh start (exit ${r.code}):\n${r.stderr}\n--- ${logFile} (end) ---\n${log}`);
        return;
    }
    startMessages = r.stderr;
    console.log(`# lab host up in ${Date.now() - t0} ms`);
});

/** A test that needs the lab host: fails with the reason when there is none. */
function labIt(name: string, fn: () => Promise<void>): void {
    it(name, { timeout: 180_000 }, async () => {
        if (labError) {
            throw labError;
        }
        await fn();
    });
}

after(async () => {
    server?.close();
    const t0 = Date.now();
    // Stopping destroys whatever a failed test left running; --purge removes the root with it.
    const r = labhost("stop", "--purge");
    secondLabhost("stop", "--purge");
    console.log(`# lab host stopped in ${Date.now() - t0} ms (exit ${r.code})`);
    rmSync(work, { recursive: true, force: true });
    assert.equal(r.code, 0, `labhost.sh stop failed: ${r.stderr}`);
});

function netInputs(name: string, bridgeName: string, mode: "nat" | "isolated", third: number, connectionUri = URI): NetworkInputs {
    const c = checkNetwork({
        connectionUri,
        name,
        bridgeName,
        mode,
        hostAddress: `10.254.${third}.1`,
        prefixLength: 24,
    });
    assert.deepEqual(c.failures, []);
    return c.inputs;
}

describe("libvirt networks (real libvirtd)", () => {
    let nat: NetworkOutputs;
    let natId: string;

    labIt("a NAT network is defined, started and autostarted, with its bridge and address and no DHCP", async () => {
        const made = await networkProvider.create(netInputs(`${P}-pub`, BR_NAT, "nat", SUBNET));
        nat = outs(made);
        natId = made.id;
        assert.match(natId, /^[0-9a-f-]{36}$/);
        assert.equal(nat.uuid, natId);
        assert.equal(nat.bridgeName, BR_NAT);
        assert.equal(nat.active, true);
        const xml = virshText("net-dumpxml", `${P}-pub`);
        assert.equal(xmlAttr(xml, "forward", "mode"), "nat");
        assert.equal(xmlAttr(xml, "bridge", "name"), BR_NAT);
        assert.equal(xmlAttr(xml, "ip", "address"), `10.254.${SUBNET}.1`);
        assert.ok(!xml.includes("<dhcp"), xml);
        assert.match(virshText("net-info", `${P}-pub`), /Autostart:\s+yes/);
        // The bridge carries the host address, inside the lab host's namespace.
        const ip = labhost("exec", "ip", "-4", "-o", "addr", "show", "dev", BR_NAT);
        assert.equal(ip.code, 0, ip.stderr);
        assert.match(ip.stdout, new RegExp(`inet 10\\.254\\.${SUBNET}\\.1/24`));
        assert.notEqual(run("ip", ["link", "show", "dev", BR_NAT]).code, 0, "the bridge leaked into the host's own namespace");
        // Where br_netfilter is loaded, bridged frames must not meet
        // libvirt's masquerade rule (it breaks LVS-NAT).
        const setting = labhost("exec", "sh", "-c", "cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo absent");
        assert.match(setting.stdout.trim(), /^(0|absent)$/, "bridge-nf-call-iptables is off in the lab's namespace");
        // libvirt's files for it are in the lab host's root, not the machine's.
        assert.ok(existsSync(join(HOST_ROOT, "etc/libvirt/qemu/networks", `${P}-pub.xml`)), "the network's definition is not in the root");
        assert.equal(existsSync(`/etc/libvirt/qemu/networks/${P}-pub.xml`), false, "the network's definition reached the machine's /etc/libvirt");
    });

    labIt("an isolated network has no <forward>; made through the serialized provider", async () => {
        const provider = await serialized(networkProvider, "network");
        const made = await provider.create(netInputs(`${P}-iso`, BR_ISO, "isolated", SUBNET + 1));
        const xml = virshText("net-dumpxml", `${P}-iso`);
        assert.equal(xml.includes("<forward"), false, xml);
        assert.equal(outs(made).active, true);
    });

    labIt("read sees a network stopped behind its back, and the update it asks for starts it again", async () => {
        virshText("net-destroy", `${P}-pub`);
        const read = await networkProvider.read!(natId, nat);
        assert.equal(read.id, natId);
        const seen = read.props as NetworkOutputs;
        assert.equal(seen.active, false);
        const d = await networkProvider.diff!(natId, seen, netInputs(`${P}-pub`, BR_NAT, "nat", SUBNET));
        assert.deepEqual(d, { changes: true, replaces: [], deleteBeforeReplace: false });
        const updated = await networkProvider.update!(natId, seen, netInputs(`${P}-pub`, BR_NAT, "nat", SUBNET));
        assert.equal(outs(updated).active, true);
        assert.match(virshText("net-info", natId), /Active:\s+yes/);
    });

    labIt("a bridge name already taken fails with virsh's message and the network's name, leaving nothing defined", async () => {
        await assert.rejects(networkProvider.create(netInputs(`${P}-dup`, BR_NAT, "nat", SUBNET + 2)), (e: Error) => {
            assert.match(e.message, new RegExp(`^libvirt Network "${P}-dup": virsh net-(define|start) failed: error: .*`));
            assert.match(e.message, new RegExp(`${BR_NAT}|in use`));
            return true;
        });
        assert.notEqual(virshRaw("net-info", `${P}-dup`).code, 0, "the failed network is still defined");
    });

    labIt("a name already taken fails with libvirt's 'already exists'", async () => {
        await assert.rejects(
            networkProvider.create(netInputs(`${P}-pub`, `lvu${TAG}x`, "nat", SUBNET + 3)),
            new RegExp(`libvirt Network "${P}-pub": virsh net-define failed: error: .*already exists`),
        );
        // And the existing network was not touched.
        assert.match(virshText("net-info", `${P}-pub`), new RegExp(`Bridge:\\s+${BR_NAT}`));
    });

    labIt("read returns an empty id once the network is destroyed and undefined behind its back; delete then succeeds twice", async () => {
        const made = await networkProvider.create(netInputs(`${P}-tmp`, `lvu${TAG}t`, "isolated", SUBNET + 4));
        virshText("net-destroy", `${P}-tmp`);
        virshText("net-undefine", `${P}-tmp`);
        const read = await networkProvider.read!(made.id, outs(made));
        assert.equal(read.id, "");
        await networkProvider.delete!(made.id, outs(made));
        await networkProvider.delete!(made.id, outs(made));
    });

    labIt("delete destroys and undefines a running network, and succeeds again when it is gone", async () => {
        const made = await networkProvider.create(netInputs(`${P}-del`, `lvu${TAG}d`, "nat", SUBNET + 5));
        await networkProvider.delete!(made.id, outs(made));
        assert.notEqual(virshRaw("net-info", made.id).code, 0);
        assert.notEqual(labhost("exec", "ip", "link", "show", "dev", `lvu${TAG}d`).code, 0, "the bridge is still there");
        await networkProvider.delete!(made.id, outs(made));
    });
});

function volInputs(v: Partial<VolumeInputs> & { name: string }): VolumeInputs {
    const c = checkVolume({ connectionUri: URI, pool: POOL, ...v });
    assert.deepEqual(c.failures, []);
    return c.inputs;
}

const MiB = 1024 * 1024;
let baseVol: VolumeOutputs;
let overlayVol: VolumeOutputs;
let seed: CloudInitDiskOutputs;
let seedIn: CloudInitDiskInputs;

describe("libvirt volumes (real libvirtd)", () => {
    labIt("imports a qcow2 image from a local path, keeping its format and size", async () => {
        const img = join(work, "base.qcow2");
        const q = run("qemu-img", ["create", "-q", "-f", "qcow2", img, "16M"]);
        assert.equal(q.code, 0, q.stderr);
        const made = await volumeProvider.create(volInputs({ name: `${P}-base.qcow2`, source: img }));
        baseVol = outs(made);
        assert.equal(baseVol.format, "qcow2");
        assert.equal(baseVol.capacityBytes, 16 * MiB);
        assert.equal(made.id, baseVol.path);
        assert.ok(baseVol.path.endsWith(`/${P}-base.qcow2`), baseVol.path);
        assert.ok(existsSync(baseVol.path));
    });

    labIt("refuses to import an image that is itself an overlay, naming the volume", async () => {
        const ov = join(work, "overlay.qcow2");
        const q = run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", join(work, "base.qcow2"), "-F", "qcow2", ov]);
        assert.equal(q.code, 0, q.stderr);
        await assert.rejects(
            volumeProvider.create(volInputs({ name: `${P}-chain.qcow2`, source: ov })),
            new RegExp(`^Error: libvirt Volume "${P}-chain.qcow2": source .* is an overlay on .*base\\.qcow2; import a self-contained image`),
        );
    });

    labIt("makes a copy-on-write overlay on it, of the backing volume's size by default", async () => {
        const made = await volumeProvider.create(volInputs({ name: `${P}-ov.qcow2`, backingVolumePath: baseVol.path }));
        overlayVol = outs(made);
        assert.equal(overlayVol.format, "qcow2");
        assert.equal(overlayVol.capacityBytes, 16 * MiB);
        const info = parseVolumeXml(virshText("vol-dumpxml", overlayVol.path));
        assert.equal(info.backingPath, baseVol.path);
        assert.equal(info.backingFormat, "qcow2");
    });

    labIt("makes a larger overlay when capacityGiB says so", async () => {
        const made = await volumeProvider.create(volInputs({ name: `${P}-big.qcow2`, backingVolumePath: baseVol.path, capacityGiB: 1 }));
        assert.equal(outs(made).capacityBytes, 1024 * MiB);
        await volumeProvider.delete!(made.id, outs(made));
    });

    labIt("imports an image from an http URL (served on loopback)", async () => {
        const body = readFileSync(join(work, "base.qcow2"));
        server = createServer((req, res) => {
            if (req.url === "/base.qcow2") {
                res.writeHead(200, { "content-length": body.length });
                res.end(body);
            } else {
                res.writeHead(404);
                res.end();
            }
        });
        await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
        const port = (server.address() as AddressInfo).port;
        const made = await volumeProvider.create(volInputs({ name: `${P}-url.qcow2`, source: `http://127.0.0.1:${port}/base.qcow2` }));
        assert.equal(outs(made).format, "qcow2");
        assert.equal(outs(made).capacityBytes, 16 * MiB);
        await volumeProvider.delete!(made.id, outs(made));
        await assert.rejects(
            volumeProvider.create(volInputs({ name: `${P}-404.qcow2`, source: `http://127.0.0.1:${port}/missing` })),
            new RegExp(`libvirt Volume "${P}-404.qcow2": download of .* failed: HTTP 404`),
        );
        assert.notEqual(virshRaw("vol-info", "--pool", POOL, `${P}-404.qcow2`).code, 0);
        // A loopback port that was just freed: the reason reaches the user, not just "fetch failed".
        const closed = createServer();
        await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
        const freed = (closed.address() as AddressInfo).port;
        await new Promise<void>((r) => closed.close(() => r()));
        await assert.rejects(
            volumeProvider.create(volInputs({ name: `${P}-refused.qcow2`, source: `http://127.0.0.1:${freed}/x.qcow2` })),
            new RegExp(`download of http://127\\.0\\.0\\.1:${freed}/x\\.qcow2 failed: fetch failed: .*ECONNREFUSED`),
        );
    });

    labIt("a pool that does not exist fails with virsh's message and the volume's name", async () => {
        await assert.rejects(
            volumeProvider.create({ connectionUri: URI, pool: `${P}-nopool`, name: `${P}-x.qcow2`, backingVolumePath: baseVol.path }),
            new RegExp(`^Error: libvirt Volume "${P}-x.qcow2": virsh vol-create-as failed: error: .*[Pp]ool`),
        );
    });

    labIt("read returns an empty id for a volume removed behind libvirt's back; delete succeeds twice", async () => {
        const made = await volumeProvider.create(volInputs({ name: `${P}-gone.qcow2`, backingVolumePath: baseVol.path }));
        const seen = await volumeProvider.read!(made.id, outs(made));
        assert.equal(seen.id, made.id);
        rmSync(made.id);
        assert.equal((await volumeProvider.read!(made.id, outs(made))).id, "");
        await volumeProvider.delete!(made.id, outs(made));
        await volumeProvider.delete!(made.id, outs(made));
        assert.notEqual(virshRaw("vol-info", "--pool", POOL, `${P}-gone.qcow2`).code, 0);
    });

    labIt("a cloud-init seed ISO is labelled cidata and holds user-data, meta-data and network-config", async () => {
        const c = checkCloudInitDisk({
            connectionUri: URI,
            pool: POOL,
            name: `${P}-seed.iso`,
            userData: "#cloud-config\nhostname: web1 # <&>\n",
            metaData: "instance-id: web1\nlocal-hostname: web1\n",
            networkConfig: "version: 2\nethernets: {}\n",
        });
        assert.deepEqual(c.failures, []);
        seedIn = c.inputs;
        const made = await cloudInitDiskProvider.create(seedIn);
        seed = outs(made);
        assert.equal(made.id, seed.path);
        assert.equal(seed.sha256, seedSha256(seedIn.userData, seedIn.metaData, seedIn.networkConfig));
        const pvd = run("isoinfo", ["-d", "-i", seed.path]);
        assert.match(pvd.stdout, /^Volume id: cidata$/m);
        const listing = run("isoinfo", ["-R", "-f", "-i", seed.path]).stdout.split("\n").filter(Boolean).sort();
        assert.deepEqual(listing, ["/meta-data", "/network-config", "/user-data"]);
        for (const [file, want] of [
            ["/user-data", seedIn.userData],
            ["/meta-data", seedIn.metaData],
            ["/network-config", seedIn.networkConfig],
        ]) {
            assert.equal(run("isoinfo", ["-R", "-x", file, "-i", seed.path]).stdout, want, file);
        }
        const read = await cloudInitDiskProvider.read!(made.id, seed);
        assert.equal(read.id, made.id);
    });
});

describe("libvirt domains (real libvirtd)", () => {
    const macs = ["52:54:00:5a:00:01", "52:54:00:5a:00:02"];
    let inputs: DomainInputs;
    let dom: DomainOutputs;
    let domId: string;

    labIt("a qemu domain is defined and running, with its NICs in order, disks and console log", async () => {
        const c = checkDomain({
            connectionUri: URI,
            name: `${P}-vm`,
            domainType: "qemu",
            vcpus: 1,
            memoryMiB: 64,
            // Where both this process and the lab host see it: the pool is at the same path inside and out.
            consoleLogPath: join(POOL_DIR, `${P}-vm-console.log`),
            diskPath: overlayVol.path,
            cloudInitPath: seed.path,
            nics: [
                { network: `${P}-pub`, mac: macs[0].toUpperCase() },
                { network: `${P}-iso`, mac: macs[1] },
            ],
        });
        assert.deepEqual(c.failures, []);
        inputs = c.inputs;
        const made = await domainProvider.create(inputs);
        dom = outs(made);
        domId = made.id;
        assert.equal(dom.uuid, domId);
        assert.equal(dom.running, true);
        assert.match(virshText("domstate", domId), /^running/);
        const xml = virshText("dumpxml", `${P}-vm`);
        assert.match(xml, /^<domain type='qemu'/);
        assert.equal(xmlText(xml, "memory"), String(64 * 1024));
        assert.deepEqual(parseDomainNics(xml), [
            { network: `${P}-pub`, mac: macs[0], model: "virtio" },
            { network: `${P}-iso`, mac: macs[1], model: "virtio" },
        ]);
        assert.ok(xml.includes(`<source file='${overlayVol.path}'`), xml);
        assert.ok(xml.includes(`<source file='${seed.path}'`), xml);
        assert.match(xml, /<disk type='file' device='cdrom'>[\s\S]*?<readonly\/>[\s\S]*?<\/disk>/);
        assert.equal(dom.consoleLogPath, join(POOL_DIR, `${P}-vm-console.log`));
        assert.ok(existsSync(dom.consoleLogPath!), "no console log file");
    });

    labIt("with the default console log, a domain starts in a fresh root (qemu's log directory is there) and its log lands in the root", async () => {
        const disk = outs(await volumeProvider.create(volInputs({ name: `${P}-log.qcow2`, backingVolumePath: baseVol.path })));
        const c = checkDomain({
            connectionUri: URI,
            name: `${P}-log`,
            domainType: "qemu",
            vcpus: 1,
            memoryMiB: 64,
            diskPath: disk.path,
            cloudInitPath: seed.path,
            nics: [{ network: `${P}-iso`, mac: "52:54:00:5a:00:03" }],
        });
        assert.deepEqual(c.failures, []);
        const made = await domainProvider.create(c.inputs);
        assert.equal(outs(made).running, true);
        assert.equal(outs(made).consoleLogPath, `/var/log/libvirt/qemu/${P}-log-console.log`);
        assert.ok(existsSync(join(HOST_ROOT, "log/libvirt/qemu", `${P}-log-console.log`)), "the console log is not in the lab host's root");
        await domainProvider.delete!(made.id, outs(made));
        await volumeProvider.delete!(disk.path, disk);
    });

    labIt("a second domain of the same name fails with libvirt's message, and the first is untouched", async () => {
        await assert.rejects(domainProvider.create(inputs), new RegExp(`libvirt Domain "${P}-vm": virsh define failed: error: .*already exists`));
        assert.match(virshText("domstate", domId), /^running/);
    });

    labIt("read sees it; a domain shut off behind its back is started again by the update the diff asks for", async () => {
        const seen = await domainProvider.read!(domId, dom);
        assert.equal(seen.id, domId);
        assert.equal((seen.props as DomainOutputs).running, true);
        virshText("destroy", domId);
        const off = (await domainProvider.read!(domId, dom)).props as DomainOutputs;
        assert.equal(off.running, false);
        assert.deepEqual(await domainProvider.diff!(domId, off, inputs), { changes: true, replaces: [], deleteBeforeReplace: false });
        const up = await domainProvider.update!(domId, off, inputs);
        assert.equal(outs(up).running, true);
        assert.match(virshText("domstate", domId), /^running/);
    });

    labIt("delete destroys and undefines it and removes its console log; deleting again succeeds; read then finds nothing", async () => {
        await domainProvider.delete!(domId, dom);
        assert.notEqual(virshRaw("dominfo", domId).code, 0, "the domain is still defined");
        assert.equal(existsSync(dom.consoleLogPath!), false, "the console log is still there");
        await domainProvider.delete!(domId, dom);
        assert.equal((await domainProvider.read!(domId, dom)).id, "");
    });

    labIt("a start failure (a missing disk) surfaces virsh's message and leaves no domain defined", async () => {
        const bad = { ...inputs, name: `${P}-bad`, diskPath: "/nonexistent/lvslab.qcow2", consoleLogPath: join(POOL_DIR, `${P}-bad-console.log`) };
        await assert.rejects(domainProvider.create(bad), new RegExp(`libvirt Domain "${P}-bad": virsh start failed: error: .*`));
        assert.notEqual(virshRaw("dominfo", `${P}-bad`).code, 0);
        rmSync(bad.consoleLogPath, { force: true });
    });

    labIt("volumes and the seed ISO delete, and deleting them again succeeds", async () => {
        await volumeProvider.delete!(overlayVol.path, overlayVol);
        await cloudInitDiskProvider.delete!(seed.path, seed);
        await volumeProvider.delete!(baseVol.path, baseVol);
        for (const path of [overlayVol.path, seed.path, baseVol.path]) {
            assert.equal(existsSync(path), false, path);
        }
        await volumeProvider.delete!(overlayVol.path, overlayVol);
        await cloudInitDiskProvider.delete!(seed.path, seed);
        await volumeProvider.delete!(baseVol.path, baseVol);
        assert.equal(virshRaw("vol-list", POOL).stdout.includes(P), false, "volumes left in the pool");
    });
});

describe("lab hosts (real libvirtd)", () => {
    labIt("the first start made its root from nothing and said so; libvirt's state lives in it", async () => {
        assert.match(startMessages, /root .*\/labhost did not exist: created it/);
        assert.ok(existsSync(join(HOST_ROOT, "run/libvirt/libvirt-sock")), "no socket in the root");
        assert.ok(existsSync(join(HOST_ROOT, "lib/libvirt/dnsmasq")), "no dnsmasq state directory in the root");
        assert.ok(existsSync(join(HOST_ROOT, "etc/libvirt/storage", `${POOL}.xml`)), "the pool's definition is not in the root");
    });

    labIt("libvirtd, and so every guest it starts, runs at the guests' niceness (10), below the tools that drive them", async () => {
        const pid = readFileSync(join(HOST_ROOT, "run/libvirtd.pid"), "utf8").trim();
        // /proc/PID/stat: the niceness is the 19th field, the 17th after the ")" that ends the name.
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        assert.equal(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16], "10");
    });

    labIt("a second lab host runs beside it with its own socket and state, and the same names and subnets", async () => {
        const started = secondLabhost("start");
        assert.equal(started.code, 0, started.stderr);
        assert.match(started.stderr, /did not exist: created it/);
        const secondUri = secondLabhost("uri").stdout.trim();
        assert.notEqual(secondUri, URI);
        const mine = await networkProvider.create(netInputs(`${P}-side`, `lvu${TAG}s`, "nat", SUBNET + 6));
        // The second sees nothing of the first, and takes the very same network.
        const listed = run("virsh", ["-q", "-c", secondUri, "net-list", "--all", "--name"]);
        assert.equal(listed.code, 0, listed.stderr);
        assert.equal(listed.stdout.trim(), "");
        const twin = await networkProvider.create(netInputs(`${P}-side`, `lvu${TAG}s`, "nat", SUBNET + 6, secondUri));
        assert.equal(outs(twin).active, true);
        // Not empty: --purge-if-empty keeps the root; once empty, it goes.
        await networkProvider.delete!(twin.id, outs(twin));
        const stopped = secondLabhost("stop", "--purge-if-empty");
        assert.equal(stopped.code, 0, stopped.stderr);
        assert.equal(existsSync(join(work, "labhost-b")), false, "the empty second lab host kept its root");
        // The first never noticed.
        assert.match(virshText("net-info", `${P}-side`), /Active:\s+yes/);
        await networkProvider.delete!(mine.id, outs(mine));
    });

    labIt("--purge-if-empty keeps a root that still holds something", async () => {
        const started = secondLabhost("start");
        assert.equal(started.code, 0, started.stderr);
        const secondUri = secondLabhost("uri").stdout.trim();
        const kept = await networkProvider.create(netInputs(`${P}-kept`, `lvu${TAG}k`, "isolated", SUBNET + 7, secondUri));
        const stopped = secondLabhost("stop", "--purge-if-empty");
        assert.equal(stopped.code, 0, stopped.stderr);
        assert.match(stopped.stderr, /still holds .*keeping the root/);
        assert.ok(existsSync(join(work, "labhost-b", "etc/libvirt/qemu/networks", `${P}-kept.xml`)));
        // Started again, the definition is back (an up after a stop finds what it made).
        assert.equal(secondLabhost("start").code, 0);
        assert.match(run("virsh", ["-q", "-c", secondUri, "net-info", `${P}-kept`]).stdout, /Autostart:\s+yes/);
        await networkProvider.delete!(kept.id, outs(kept));
        assert.equal(secondLabhost("stop", "--purge").code, 0);
    });

    labIt("one lab host stopping leaves another's libvirt directories in place (the last one removes the mount points it made)", async () => {
        // The first lab host made the machine's missing libvirt mount points
        // (a fresh machine has no /run/libvirt); removing one while the second
        // runs would detach the second's bind mount on it.
        assert.equal(secondLabhost("start").code, 0);
        assert.equal(labhost("stop").code, 0);
        const inside = run(LABHOST, ["exec", "virsh", "-q", "-c", "qemu:///system", "pool-list", "--name"], 60_000, SECOND_ENV);
        assert.equal(inside.code, 0, `virsh inside the second lab host after the first stopped: ${inside.stderr}`);
        assert.match(inside.stdout, new RegExp(POOL));
        assert.equal(secondLabhost("stop", "--purge").code, 0);
        assert.equal(labhost("start").code, 0);
    });
});
