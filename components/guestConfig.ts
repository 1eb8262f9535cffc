// Renders the guest-side files under cloud-init/ with typed parameters: the
// first-boot cloud-config, NoCloud meta-data and network-config, and the step
// scripts the roles run over SSH. Pure apart from reading the template files.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { ForwardingMode } from "./config";
import { isSha512CryptHash } from "./sha512Crypt";

/** Where the templates live; also found from bin/ after compilation. */
export const TEMPLATE_DIR = fs.existsSync(path.join(__dirname, "..", "cloud-init"))
    ? path.join(__dirname, "..", "cloud-init")
    : path.join(__dirname, "..", "..", "cloud-init");

export function readTemplate(relative: string): string {
    return fs.readFileSync(path.join(TEMPLATE_DIR, relative), "utf8");
}

/**
 * Replaces every `{{ name }}` in a template. Every placeholder must have a
 * value and every value a placeholder, so a renamed parameter fails loudly
 * instead of rendering a half-filled file.
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
    const used = new Set<string>();
    const rendered = template.replace(/\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g, (_match, name: string) => {
        if (!(name in values)) {
            throw new Error(`template placeholder {{ ${name} }} has no value`);
        }
        used.add(name);
        return values[name];
    });
    const unused = Object.keys(values).filter((name) => !used.has(name));
    if (unused.length > 0) {
        throw new Error(`template has no placeholder for: ${unused.join(", ")}`);
    }
    return rendered;
}

/**
 * A YAML double-quoted scalar. A JSON string is one, except that JSON leaves
 * DEL and the C1 controls raw, which YAML refuses (DEL) or reads as a line
 * break (NEL), so those are escaped too.
 */
function yamlString(value: string): string {
    return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export interface UserDataParams {
    hostname: string;
    /** Domain appended to the hostname for the FQDN. */
    domain: string;
    sshUser: string;
    /** One OpenSSH public key line. */
    sshPublicKey: string;
    /**
     * The serial console's password (SSH refuses passwords) as a SHA-512
     * crypt hash ("$6$..."): the guest is never handed the password itself.
     */
    consolePasswordHash: string;
}

/** The fw_cfg entry a direct boot's provision reads the console password's hash from (root only in the guest). */
export const CONSOLE_PASSWORD_FW_CFG = "opt/lvslab/console-password-hash";

function checkedHash(hash: string): string {
    if (!isSha512CryptHash(hash)) {
        throw new Error("the console password must reach the guest as a SHA-512 crypt hash ($6$SALT$HASH), never as itself");
    }
    return hash;
}

export function renderUserData(params: UserDataParams): string {
    if (/[\r\n]/.test(params.sshPublicKey.trim())) {
        throw new Error("sshPublicKey must be a single line");
    }
    return fillTemplate(readTemplate("user-data.yaml"), {
        hostname: yamlString(params.hostname),
        fqdn: yamlString(`${params.hostname}.${params.domain}`),
        sshUser: yamlString(params.sshUser),
        sshPublicKey: yamlString(params.sshPublicKey.trim()),
        consolePasswordHash: yamlString(checkedHash(params.consolePasswordHash)),
    });
}

export function renderMetaData(hostname: string, instanceId: string): string {
    return fillTemplate(readTemplate("meta-data.yaml"), {
        hostname: yamlString(hostname),
        instanceId: yamlString(instanceId),
    });
}

/** One NIC of a guest, in the order the domain lists them. */
export interface GuestNic {
    /** Interface name the guest gives it (cloud-init renames by MAC). */
    name: string;
    mac: string;
    address: string;
    prefixLength: number;
    /** The default gateway, on the one NIC that has it. */
    gateway?: string;
}

/**
 * network-config version 2: static addresses, each NIC matched by MAC and
 * renamed, so the guest's names (eth0 public, eth1 storage) don't depend on
 * PCI order or the image's naming scheme. Emitted as JSON, which is YAML.
 */
export function renderNetworkConfig(nics: readonly GuestNic[]): string {
    const ethernets: Record<string, unknown> = {};
    for (const nic of nics) {
        ethernets[nic.name] = {
            match: { macaddress: nic.mac },
            "set-name": nic.name,
            addresses: [`${nic.address}/${nic.prefixLength}`],
            // 0.0.0.0/0, not "default": cloud-init 22.4 (Debian 12) parses v2
            // routes itself and refuses "default" as an address.
            ...(nic.gateway ? { routes: [{ to: "0.0.0.0/0", via: nic.gateway }] } : {}),
        };
    }
    return `${JSON.stringify({ version: 2, ethernets }, undefined, 2)}\n`;
}

/**
 * The kernel arguments of every direct boot of the lab image: root on the
 * domain's first virtio disk, mounted read-write at once (no remount by
 * systemd), the serial console, the kernel's own NIC names
 * (eth0, eth1 in the domain's order), and no CPU vulnerability mitigations or
 * crypto self-tests (a throw-away lab VM under emulation, where retpolines and
 * the self-tests cost boot time and protect nothing).
 */
export const DIRECT_BOOT_ARGS: readonly string[] = ["root=/dev/vda1", "rw", "console=ttyS0,115200n8", "net.ifnames=0", "mitigations=off", "cryptomgr.notests"];

/** x86's kernel command line holds 2047 characters (COMMAND_LINE_SIZE 2048 with its NUL). */
export const KERNEL_CMDLINE_MAX = 2047;

/**
 * The kernel command line of a guest booted directly from the lab image
 * (firstBoot "kernel"): the direct-boot arguments, cloud-init off, and the
 * guest's identity as lvslab.* parameters that the image's lvslab-provision
 * and lvslab-network units apply before sshd starts. Every value is one word
 * the guest's shell reads with built-ins alone (no decoder to start): the key
 * as TYPE,BASE64 without its comment, the password letters and digits.
 */
/** The guests' DNS domain (their FQDN in /etc/hosts). */
export const GUEST_DOMAIN = "lvslab.internal";

/** A value that goes on the kernel command line as it is; refused otherwise. */
function plainWord(what: string, value: string): string {
    if (!/^[A-Za-z0-9._:\/-]+$/.test(value)) {
        throw new Error(`${what} ${JSON.stringify(value)} cannot go on a kernel command line (letters, digits, ".", "_", ":", "/", "-" only)`);
    }
    return value;
}

/**
 * The direct boot's words for an SSH key and the NICs, which both the lab's
 * provision/network units and the bench's minimal-init read: the key as
 * `lvslab.sshkey=TYPE,BASE64` (its comment dropped), and one
 * `lvslab.nic=NAME,MAC,ADDRESS/PREFIX[,GATEWAY]` per NIC, in order.
 */
export function keyAndNicWords(sshPublicKey: string, nics: readonly GuestNic[]): string[] {
    const key = sshPublicKey.trim();
    if (/[\r\n]/.test(key)) {
        throw new Error("sshPublicKey must be a single line");
    }
    const [keyType = "", keyBody = ""] = key.split(/\s+/);
    if (!/^[a-z0-9@.-]+$/.test(keyType) || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyBody)) {
        throw new Error(`sshPublicKey ${JSON.stringify(key.slice(0, 40))}... is not an OpenSSH public key line (TYPE BASE64 [COMMENT])`);
    }
    return [
        `lvslab.sshkey=${keyType},${keyBody}`,
        ...nics.map((nic) => {
            const fields = [nic.name, nic.mac, `${nic.address}/${nic.prefixLength}`, ...(nic.gateway ? [nic.gateway] : [])];
            return `lvslab.nic=${fields.map((field) => plainWord("NIC field", field)).join(",")}`;
        }),
    ];
}

/**
 * The direct boot's kernel command line: every word is public (any user of the
 * guest reads /proc/cmdline), so the console password's hash is not on it but
 * in the domain's fw_cfg (CONSOLE_PASSWORD_FW_CFG).
 */
export function renderKernelCmdline(params: Omit<UserDataParams, "consolePasswordHash"> & { nics: readonly GuestNic[] }): string {
    const words = [
        ...DIRECT_BOOT_ARGS,
        "cloud-init=disabled",
        `lvslab.hostname=${plainWord("hostname", params.hostname)}`,
        `lvslab.domain=${plainWord("domain", params.domain)}`,
        `lvslab.user=${plainWord("sshUser", params.sshUser)}`,
        ...keyAndNicWords(params.sshPublicKey, params.nics),
    ];
    const cmdline = words.join(" ");
    if (cmdline.length > KERNEL_CMDLINE_MAX) {
        throw new Error(
            `the kernel command line would be ${cmdline.length} characters, over the kernel's ${KERNEL_CMDLINE_MAX} (a very long SSH key?); use an ed25519 key or set firstBoot: cloud-init`,
        );
    }
    return cmdline;
}

/** A stable identity for a rendered first-boot configuration. */
export function instanceIdFor(hostname: string, ...parts: string[]): string {
    const digest = crypto.createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 12);
    return `${hostname}-${digest}`;
}

/** The guest steps and the parameters each one takes. */
export interface StepParams {
    "nfs-export": { EXPORT_PATH: string; CLIENT_SUBNET: string; PAGE_CONTENT: string };
    "real-server-forwarding": {
        MODE: ForwardingMode;
        VIP: string;
        PUBLIC_IP: string;
        STORAGE_IP: string;
        /** The storage subnet in CIDR form (NAT: routed directly, not via the director). */
        STORAGE_SUBNET: string;
        /** NAT: the director's floating storage address; empty otherwise. */
        NAT_GATEWAY: string;
    };
    /** PORTS: space-separated service ports. */
    "real-server-web": { SERVER_NAME: string; NFS_SERVER: string; EXPORT_PATH: string; PORTS: string };
    "director-lb": {
        MODE: ForwardingMode;
        VIP: string;
        PORTS: string;
        SCHEDULER: string;
        PERSISTENCE: string;
        /** Space-separated "address:weight" pairs. */
        REAL_SERVERS: string;
        /** The director's NICs, space-separated. */
        NICS: string;
        FORWARD_IP: "0" | "1";
        /** "address/prefix=nic ..." the step holds itself; empty when VRRP holds them. */
        STATIC_ADDRESSES: string;
        /** The sorry page's text; empty for none. */
        SORRY_PAGE: string;
        /** keepalived.conf; empty when ipvsadm keeps the table. */
        KEEPALIVED_CONF: string;
    };
}
export type StepName = keyof StepParams;

/**
 * A value as one single-quoted bash word, quoted even when it needs none:
 * the steps' `readonly NAME='value'` lines keep one form that the tests read
 * back. (Commands run on a host quote with libvirt's shellQuote, which leaves
 * plain words bare.)
 */
export function bashLiteral(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A complete bash script for one step: its parameters as read-only
 * variables, the shared helpers, the step's body and the dispatch on
 * `apply`/`remove`. This exact text is what shellcheck checks in the tests.
 */
export function renderStep<N extends StepName>(step: N, params: StepParams[N]): string {
    const assignments = Object.entries(params)
        .map(([name, value]) => {
            const text = String(value);
            // A "$" or "`" in a value is literal text, not a missed expansion.
            const literal = /[$`]/.test(text) ? "# shellcheck disable=SC2016 # a literal value\n" : "";
            return `${literal}readonly ${name}=${bashLiteral(text)}`;
        })
        .join("\n");
    return [
        "#!/bin/bash",
        `# lvs-dr-lab guest step "${step}", rendered by components/guestConfig.ts.`,
        "set -euo pipefail",
        `readonly STEP=${bashLiteral(step)}`,
        assignments,
        readTemplate("steps/lib.sh"),
        readTemplate(`steps/${step}.sh`),
        'run_step "$@"',
        "",
    ].join("\n");
}

/**
 * The remote command that runs a rendered step with root rights. The script
 * travels base64-encoded inside the command, so no file is copied first and
 * no quoting of its text can go wrong.
 */
export function stepCommand(script: string, action: "apply" | "remove"): string {
    const encoded = Buffer.from(script, "utf8").toString("base64");
    return `echo ${encoded} | base64 -d > /tmp/lvslab-step.$$ && sudo bash /tmp/lvslab-step.$$ ${action}; status=$?; rm -f /tmp/lvslab-step.$$; exit $status`;
}
