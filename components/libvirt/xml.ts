// Pure renderers of libvirt XML, and small readers of what virsh prints.
// No I/O here: these are unit-tested on their own and captured by value into
// the dynamic providers' serialized code.

/** Escapes the five XML special characters, for text and attribute values. */
export function escapeXml(value: string): string {
    return value
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;")
        .replace(/'/g, "&apos;");
}

/** Undoes {@link escapeXml} (and numeric references) for values read back from virsh. */
export function unescapeXml(value: string): string {
    return value
        .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
        .replace(/&#([0-9]+);/g, (_m, dec: string) => String.fromCodePoint(parseInt(dec, 10)))
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'")
        .replace(/&amp;/g, "&");
}

/** What a libvirt network is made from. */
export interface NetworkSpec {
    name: string;
    bridgeName: string;
    /** nat: `<forward mode='nat'/>`; isolated: no `<forward>` at all. */
    mode: "nat" | "isolated";
    /** The host's address on the bridge; none: a bridge the host has no address on (isolated only). */
    hostAddress?: string;
    prefixLength?: number;
    /** libvirt's dnsmasq DNS service on the bridge (default false: no dnsmasq at all). */
    dns?: boolean;
    /** MTU of the bridge and of every guest NIC on it (libvirt's default, 1500, when absent). */
    mtu?: number;
}

/**
 * The network's XML. No `<dhcp>`: guests use static addresses. With dns off
 * as well, libvirt starts no dnsmasq for the network.
 */
export function renderNetworkXml(spec: NetworkSpec): string {
    const lines = [
        "<network>",
        `  <name>${escapeXml(spec.name)}</name>`,
        `  <bridge name='${escapeXml(spec.bridgeName)}' stp='on' delay='0'/>`,
    ];
    if (spec.mtu !== undefined) {
        lines.push(`  <mtu size='${spec.mtu}'/>`);
    }
    if (spec.mode === "nat") {
        lines.push("  <forward mode='nat'/>");
    }
    if (!spec.dns) {
        lines.push("  <dns enable='no'/>");
    }
    if (spec.hostAddress !== undefined) {
        lines.push(`  <ip address='${escapeXml(spec.hostAddress)}' prefix='${spec.prefixLength ?? 24}'/>`);
    }
    lines.push("</network>", "");
    return lines.join("\n");
}

/** One network interface of a domain. */
export interface NicSpec {
    /** libvirt network name. */
    network: string;
    /** MAC address, e.g. 52:54:00:12:34:56. */
    mac: string;
    /**
     * The NIC's MTU (`<mtu size=.../>`): qemu tells a virtio guest (host_mtu),
     * so the guest's own NIC takes it. libvirt 9 gives a network's `<mtu>` to
     * the tap device only, not to the guest. Default: none (1500).
     */
    mtu?: number;
}

/** CPU models with a meaning of their own; anything else is a named model. */
export const CPU_MODES = ["host-passthrough", "host-model", "maximum"] as const;

/** What a libvirt domain is made from. */
export interface DomainSpec {
    name: string;
    domainType: "kvm" | "qemu";
    vcpus: number;
    memoryMiB: number;
    /** Boot disk, attached as virtio `vda`. */
    diskPath: string;
    /** Format of the boot disk (qcow2 for the overlays this project makes). */
    diskFormat: string;
    /** NoCloud seed ISO, attached as a read-only IDE cdrom `hdc`; none when absent. */
    cloudInitPath?: string;
    /** Boot this kernel directly (no boot loader), with initrdPath and kernelCmdline. */
    kernelPath?: string;
    initrdPath?: string;
    kernelCmdline?: string;
    /**
     * QEMU fw_cfg entries, name ("opt/...") to text: what the guest must read
     * but its users must not (root-only files under
     * /sys/firmware/qemu_fw_cfg/by_name). Default none.
     */
    firmwareConfig?: Record<string, string>;
    /** virtio NICs, in this order. */
    nics: NicSpec[];
    /** File that virtlogd writes the serial console to. */
    consoleLogPath: string;
    /** "host-passthrough", "host-model", "maximum", or a named model such as "qemu64". */
    cpuModel: string;
}

function renderCpu(cpuModel: string): string {
    if ((CPU_MODES as readonly string[]).includes(cpuModel)) {
        return `  <cpu mode='${cpuModel}' check='none'/>`;
    }
    // A named model: what qemu's TCG (domain type qemu) can emulate.
    return `  <cpu mode='custom' match='exact' check='none'><model fallback='allow'>${escapeXml(cpuModel)}</model></cpu>`;
}

/** Why `name` cannot name a fw_cfg entry, or undefined when it can. */
export function firmwareConfigNameProblem(name: string): string | undefined {
    // QEMU leaves "opt/..." to users (its own names are unprefixed) and caps a name at 55 bytes.
    return /^opt\/[A-Za-z0-9._/-]+$/.test(name) && name.length <= 55
        ? undefined
        : `fw_cfg entry name ${JSON.stringify(name)} must be "opt/" and letters, digits, . _ / - (at most 55 characters)`;
}

function renderFirmwareConfig(entries: Record<string, string>): string[] {
    const names = Object.keys(entries).sort();
    for (const name of names) {
        const problem = firmwareConfigNameProblem(name);
        if (problem !== undefined) {
            throw new Error(problem);
        }
    }
    if (names.length === 0) {
        return [];
    }
    return [
        "  <sysinfo type='fwcfg'>",
        ...names.map((name) => `    <entry name='${name}'>${escapeXml(entries[name])}</entry>`),
        "  </sysinfo>",
    ];
}

/**
 * The domain's XML: booted from its disk's boot loader or from a kernel
 * given directly; one virtio disk, the seed ISO (if any) as a read-only cdrom,
 * virtio NICs in order, a serial console logged to a file (and reachable
 * with `virsh console`), a virtio RNG (entropy helps an emulated guest boot),
 * no graphics.
 */
export function renderDomainXml(spec: DomainSpec): string {
    const lines = [
        `<domain type='${spec.domainType}'>`,
        `  <name>${escapeXml(spec.name)}</name>`,
        `  <memory unit='MiB'>${spec.memoryMiB}</memory>`,
        `  <vcpu placement='static'>${spec.vcpus}</vcpu>`,
        "  <os>",
        "    <type arch='x86_64'>hvm</type>",
        ...(spec.kernelPath
            ? [
                  `    <kernel>${escapeXml(spec.kernelPath)}</kernel>`,
                  ...(spec.initrdPath ? [`    <initrd>${escapeXml(spec.initrdPath)}</initrd>`] : []),
                  `    <cmdline>${escapeXml(spec.kernelCmdline ?? "")}</cmdline>`,
              ]
            : ["    <boot dev='hd'/>"]),
        "  </os>",
        ...renderFirmwareConfig(spec.firmwareConfig ?? {}),
        "  <features><acpi/><apic/></features>",
        renderCpu(spec.cpuModel),
        "  <clock offset='utc'/>",
        "  <on_poweroff>destroy</on_poweroff>",
        "  <on_reboot>restart</on_reboot>",
        "  <on_crash>destroy</on_crash>",
        "  <devices>",
        "    <disk type='file' device='disk'>",
        `      <driver name='qemu' type='${escapeXml(spec.diskFormat)}'/>`,
        `      <source file='${escapeXml(spec.diskPath)}'/>`,
        "      <target dev='vda' bus='virtio'/>",
        "    </disk>",
    ];
    if (spec.cloudInitPath) {
        lines.push(
            "    <disk type='file' device='cdrom'>",
            "      <driver name='qemu' type='raw'/>",
            `      <source file='${escapeXml(spec.cloudInitPath)}'/>`,
            "      <target dev='hdc' bus='ide'/>",
            "      <readonly/>",
            "    </disk>",
        );
    }
    for (const nic of spec.nics) {
        lines.push(
            "    <interface type='network'>",
            `      <source network='${escapeXml(nic.network)}'/>`,
            `      <mac address='${escapeXml(nic.mac)}'/>`,
            "      <model type='virtio'/>",
            ...(nic.mtu !== undefined ? [`      <mtu size='${nic.mtu}'/>`] : []),
            "    </interface>",
        );
    }
    lines.push(
        "    <serial type='pty'>",
        `      <log file='${escapeXml(spec.consoleLogPath)}' append='on'/>`,
        "      <target port='0'/>",
        "    </serial>",
        "    <console type='pty'>",
        "      <target type='serial' port='0'/>",
        "    </console>",
        "    <rng model='virtio'>",
        "      <backend model='random'>/dev/urandom</backend>",
        "    </rng>",
        "  </devices>",
        "</domain>",
        "",
    );
    return lines.join("\n");
}

/** Text of the first `<tag ...>text</tag>` in xml, unescaped; undefined if absent. */
export function xmlText(xml: string, tag: string): string | undefined {
    const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml);
    return m ? unescapeXml(m[1]) : undefined;
}

/** Value of attribute attr of the first `<tag .../>` in xml, unescaped. */
export function xmlAttr(xml: string, tag: string, attr: string): string | undefined {
    const el = new RegExp(`<${tag}\\s[^>]*>`).exec(xml);
    if (!el) {
        return undefined;
    }
    const m = new RegExp(`\\s${attr}=(?:'([^']*)'|"([^"]*)")`).exec(el[0]);
    return m ? unescapeXml(m[1] ?? m[2]) : undefined;
}

/** A storage volume as `virsh vol-dumpxml` describes it. */
export interface VolumeInfo {
    name: string;
    key: string;
    path: string;
    capacityBytes: number;
    format: string;
    /** Path of the backing file, for an overlay. */
    backingPath?: string;
    backingFormat?: string;
}

/** Reads `virsh vol-dumpxml` output. */
export function parseVolumeXml(xml: string): VolumeInfo {
    // The backing store has its own <path>/<format>: read the volume's own
    // from the part before it.
    const at = xml.indexOf("<backingStore>");
    const own = at >= 0 ? xml.slice(0, at) : xml;
    const backing = at >= 0 ? xml.slice(at) : "";
    const path = xmlText(own, "path") ?? "";
    return {
        name: xmlText(own, "name") ?? "",
        key: xmlText(own, "key") ?? path,
        path,
        capacityBytes: Number(xmlText(own, "capacity") ?? "0"),
        format: xmlAttr(own, "format", "type") ?? "raw",
        backingPath: backing ? xmlText(backing, "path") : undefined,
        backingFormat: backing ? xmlAttr(backing, "format", "type") : undefined,
    };
}

/** One interface as read back from `virsh dumpxml`. */
export interface DomainNicInfo {
    mac: string;
    network: string;
    model?: string;
}

/** The network interfaces in a domain's XML, in document order. */
export function parseDomainNics(xml: string): DomainNicInfo[] {
    const nics: DomainNicInfo[] = [];
    for (const m of xml.matchAll(/<interface\b[\s\S]*?<\/interface>/g)) {
        nics.push({
            mac: xmlAttr(m[0], "mac", "address") ?? "",
            network: xmlAttr(m[0], "source", "network") ?? "",
            model: xmlAttr(m[0], "model", "type"),
        });
    }
    return nics;
}
