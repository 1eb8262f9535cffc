// The XML the libvirt layer hands to virsh, and its readers of virsh's XML.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
    DomainSpec,
    escapeXml,
    parseDomainNics,
    parseVolumeXml,
    renderDomainXml,
    renderNetworkXml,
    unescapeXml,
    xmlAttr,
    xmlText,
} from "../../../components/libvirt";

/** Every element <tag .../> or <tag ...>, in order, as its opening tag text. */
function elements(xml: string, tag: string): string[] {
    return [...xml.matchAll(new RegExp(`<${tag}(?:[\\s/][^>]*)?>`, "g"))].map((m) => m[0]);
}

/** The body of the first <tag>...</tag> block containing `marker`. */
function block(xml: string, tag: string, marker: string): string {
    const found = [...xml.matchAll(new RegExp(`<${tag}\\b[\\s\\S]*?</${tag}>`, "g"))].map((m) => m[0]).find((b) => b.includes(marker));
    assert.ok(found, `no <${tag}> block with ${marker} in:\n${xml}`);
    return found;
}

const baseDomain: DomainSpec = {
    name: "lab-web1",
    domainType: "qemu",
    vcpus: 2,
    memoryMiB: 512,
    diskPath: "/pool/lab-web1.qcow2",
    diskFormat: "qcow2",
    cloudInitPath: "/pool/lab-web1-seed.iso",
    nics: [
        { network: "lab-public", mac: "52:54:00:00:00:01" },
        { network: "lab-storage", mac: "52:54:00:00:00:02" },
    ],
    consoleLogPath: "/var/log/lab-web1-console.log",
    cpuModel: "qemu64",
};

describe("the network XML", () => {
    it("forwards with NAT on a nat network and has the host address with its prefix", () => {
        const xml = renderNetworkXml({
            name: "lab-public",
            bridgeName: "lvsbr0",
            mode: "nat",
            hostAddress: "172.16.16.1",
            prefixLength: 24,
        });
        assert.equal(xmlText(xml, "name"), "lab-public");
        assert.equal(xmlAttr(xml, "forward", "mode"), "nat");
        assert.equal(xmlAttr(xml, "bridge", "name"), "lvsbr0");
        assert.equal(xmlAttr(xml, "ip", "address"), "172.16.16.1");
        assert.equal(xmlAttr(xml, "ip", "prefix"), "24");
    });

    it("has no <forward> at all on an isolated network", () => {
        const xml = renderNetworkXml({
            name: "lab-storage",
            bridgeName: "lvsbr1",
            mode: "isolated",
            hostAddress: "192.168.7.1",
            prefixLength: 24,
        });
        assert.deepEqual(elements(xml, "forward"), []);
        assert.equal(xmlAttr(xml, "ip", "address"), "192.168.7.1");
    });

    it("hands out no DHCP leases, and runs no DNS unless asked", () => {
        const spec = { name: "n", bridgeName: "b", mode: "nat" as const, hostAddress: "10.0.0.1", prefixLength: 24 };
        const quiet = renderNetworkXml(spec);
        assert.deepEqual(elements(quiet, "dhcp"), []);
        assert.deepEqual(elements(quiet, "range"), []);
        assert.equal(xmlAttr(quiet, "dns", "enable"), "no");
        const withDns = renderNetworkXml({ ...spec, dns: true });
        assert.deepEqual(elements(withDns, "dns"), []);
        assert.deepEqual(elements(withDns, "dhcp"), []);
    });

    it("escapes XML special characters in values", () => {
        const xml = renderNetworkXml({ name: `a&b<c>'"`, bridgeName: "b'r", mode: "nat", hostAddress: "10.0.0.1", prefixLength: 24 });
        assert.ok(xml.includes("<name>a&amp;b&lt;c&gt;&apos;&quot;</name>"), xml);
        assert.equal(xmlText(xml, "name"), `a&b<c>'"`);
        assert.equal(xmlAttr(xml, "bridge", "name"), "b'r");
    });
});

describe("the domain XML", () => {
    const xml = renderDomainXml(baseDomain);

    it("has the domain type, name, vcpus and memory in MiB", () => {
        assert.match(xml, /^<domain type='qemu'>/);
        assert.equal(xmlText(xml, "name"), "lab-web1");
        assert.equal(xmlText(xml, "vcpu"), "2");
        assert.equal(xmlText(xml, "memory"), "512");
        assert.equal(xmlAttr(xml, "memory", "unit"), "MiB");
        assert.match(renderDomainXml({ ...baseDomain, domainType: "kvm" }), /^<domain type='kvm'>/);
    });

    it("attaches the overlay as virtio vda in its format", () => {
        const disk = block(xml, "disk", "device='disk'");
        assert.equal(xmlAttr(disk, "source", "file"), "/pool/lab-web1.qcow2");
        assert.equal(xmlAttr(disk, "driver", "type"), "qcow2");
        assert.equal(xmlAttr(disk, "target", "dev"), "vda");
        assert.equal(xmlAttr(disk, "target", "bus"), "virtio");
        const raw = block(renderDomainXml({ ...baseDomain, diskFormat: "raw" }), "disk", "device='disk'");
        assert.equal(xmlAttr(raw, "driver", "type"), "raw");
    });

    it("attaches the seed ISO as a read-only raw cdrom", () => {
        const cdrom = block(xml, "disk", "device='cdrom'");
        assert.equal(xmlAttr(cdrom, "source", "file"), "/pool/lab-web1-seed.iso");
        assert.equal(xmlAttr(cdrom, "driver", "type"), "raw");
        assert.equal(elements(cdrom, "readonly").length, 1);
        assert.equal(elements(block(xml, "disk", "device='disk'"), "readonly").length, 0);
    });

    it("boots from the disk's boot loader unless a kernel is given, then boots that kernel with its initrd and command line, and has no cdrom without a seed", () => {
        assert.equal(elements(block(xml, "os", "<type"), "boot").length, 1);
        assert.equal(xmlText(xml, "kernel"), undefined);
        const direct = renderDomainXml({
            ...baseDomain,
            cloudInitPath: undefined,
            kernelPath: "/pool/lab-vmlinuz",
            initrdPath: "/pool/lab-initrd",
            kernelCmdline: "root=/dev/vda1 ro lvslab.hostname=web1 a<b&c",
        });
        const os = block(direct, "os", "<type");
        assert.equal(xmlText(os, "kernel"), "/pool/lab-vmlinuz");
        assert.equal(xmlText(os, "initrd"), "/pool/lab-initrd");
        assert.equal(xmlText(os, "cmdline"), "root=/dev/vda1 ro lvslab.hostname=web1 a<b&c");
        assert.equal(elements(os, "boot").length, 0, "no boot device order when the kernel is given");
        assert.doesNotMatch(direct, /device='cdrom'/);
        assert.match(direct, /device='disk'/);
    });

    it("gives fw_cfg entries as libvirt's sysinfo of type fwcfg, their text escaped, and none when there are none", () => {
        assert.doesNotMatch(xml, /<sysinfo/);
        const withEntries = renderDomainXml({ ...baseDomain, firmwareConfig: { "opt/lvslab/b": "$6$s$h<&>", "opt/lvslab/a": "one" } });
        const sysinfo = block(withEntries, "sysinfo", "type='fwcfg'");
        assert.deepEqual(
            [...sysinfo.matchAll(/<entry\b[^>]*>[^<]*<\/entry>/g)].map(([entry]) => [xmlAttr(entry, "entry", "name"), xmlText(entry, "entry")]),
            [
                ["opt/lvslab/a", "one"],
                ["opt/lvslab/b", "$6$s$h<&>"],
            ],
        );
    });

    it("refuses a fw_cfg name QEMU keeps for itself or cannot hold", () => {
        assert.throws(() => renderDomainXml({ ...baseDomain, firmwareConfig: { "etc/x": "v" } }), /must be "opt\/"/);
        assert.throws(() => renderDomainXml({ ...baseDomain, firmwareConfig: { [`opt/${"x".repeat(60)}`]: "v" } }), /at most 55/);
        assert.throws(() => renderDomainXml({ ...baseDomain, firmwareConfig: { "opt/a'b": "v" } }), /must be "opt\/"/);
    });

    it("has one virtio NIC per entry, in order, each with its MAC and network", () => {
        assert.deepEqual(parseDomainNics(xml), [
            { network: "lab-public", mac: "52:54:00:00:00:01", model: "virtio" },
            { network: "lab-storage", mac: "52:54:00:00:00:02", model: "virtio" },
        ]);
        const swapped = renderDomainXml({ ...baseDomain, nics: [...baseDomain.nics].reverse() });
        assert.deepEqual(
            parseDomainNics(swapped).map((n) => n.network),
            ["lab-storage", "lab-public"],
        );
        assert.deepEqual(parseDomainNics(renderDomainXml({ ...baseDomain, nics: [] })), []);
    });

    it("logs the serial console to the given file and makes it the console", () => {
        const serial = block(xml, "serial", "<log");
        assert.equal(xmlAttr(serial, "serial", "type"), "pty");
        assert.equal(xmlAttr(serial, "log", "file"), "/var/log/lab-web1-console.log");
        assert.equal(xmlAttr(block(xml, "console", "target"), "target", "type"), "serial");
    });

    it("uses a named CPU model for TCG and a CPU mode for the special names", () => {
        assert.equal(xmlAttr(xml, "cpu", "mode"), "custom");
        assert.equal(xmlText(xml, "model"), "qemu64");
        for (const mode of ["host-passthrough", "host-model", "maximum"]) {
            const x = renderDomainXml({ ...baseDomain, domainType: "kvm", cpuModel: mode });
            assert.equal(xmlAttr(x, "cpu", "mode"), mode);
            assert.equal(xmlText(x, "model"), undefined);
        }
    });

    it("escapes XML special characters in names and paths", () => {
        const x = renderDomainXml({
            ...baseDomain,
            name: "a&b",
            diskPath: "/p/<d>.qcow2",
            nics: [{ network: "n'1", mac: "52:54:00:00:00:01" }],
        });
        assert.ok(x.includes("<name>a&amp;b</name>"));
        assert.ok(x.includes("/p/&lt;d&gt;.qcow2"));
        assert.equal(parseDomainNics(x)[0].network, "n'1");
    });
});

describe("reading virsh's XML", () => {
    it("reads an overlay volume: its own path, size and format, and its backing store", () => {
        const xml = `<volume type='file'>
  <name>ov.qcow2</name>
  <key>/pool/ov.qcow2</key>
  <capacity unit='bytes'>67108864</capacity>
  <target>
    <path>/pool/ov.qcow2</path>
    <format type='qcow2'/>
  </target>
  <backingStore>
    <path>/pool/base&amp;1.img</path>
    <format type='raw'/>
  </backingStore>
</volume>`;
        assert.deepEqual(parseVolumeXml(xml), {
            name: "ov.qcow2",
            key: "/pool/ov.qcow2",
            path: "/pool/ov.qcow2",
            capacityBytes: 67108864,
            format: "qcow2",
            backingPath: "/pool/base&1.img",
            backingFormat: "raw",
        });
    });

    it("reads a volume without a backing store", () => {
        const info = parseVolumeXml(
            "<volume><name>a</name><key>/p/a</key><capacity unit='bytes'>5</capacity><target><path>/p/a</path><format type='iso'/></target></volume>",
        );
        assert.equal(info.format, "iso");
        assert.equal(info.backingPath, undefined);
    });

    it("round-trips escaping", () => {
        for (const s of ["plain", `&<>'"`, "&amp;", "a&#38;b"]) {
            assert.equal(unescapeXml(escapeXml(s)), s);
        }
        assert.equal(unescapeXml("&#38;&#x3c;"), "&<");
    });
});
