// What each machine's steps make true, as named facts with the values the
// guest-side reader (cloud-init/facts.sh) prints: the program's side of the
// comparison that `refresh`, `up` and `scripts/lab check` make. Pure
// functions of the role's own parameters.
import * as crypto from "crypto";

/** Facts by name: "send_redirects all" -> "0". */
export type Facts = Record<string, string>;

export type FactsMode = "dr" | "nat" | "tun";

/** The IPVS forwarding method as `ipvsadm -Ln` names it. */
const IPVS_METHOD: Record<FactsMode, string> = { dr: "Route", nat: "Masq", tun: "Tunnel" };

export interface DirectorFactsParams {
    mode: FactsMode;
    /** The director's NICs: send_redirects is off on each (eth0, eth1). */
    nics: string[];
    /** The addresses this director holds itself: a lone director's VIP (and NAT's storage VIP); none in a VRRP pair. */
    staticAddresses: { address: string; prefixLength: number; device: string }[];
    vip: string;
    ports: number[];
    scheduler: string;
    /** Seconds of persistence, 0 for none. */
    persistenceTimeout: number;
    /** Each real server as the director forwards to it (its storage address in NAT) with its weight. */
    realServers: { address: string; weight: number }[];
    /** keepalived.conf as rendered (the VRRP password by its placeholder); undefined when ipvsadm keeps the table. */
    keepalivedConf?: string;
}

/** The twelve hex digits the reader prints for a file's SHA-256. */
export function shortDigest(text: string): string {
    return `sha256 ${crypto.createHash("sha256").update(text).digest("hex").slice(0, 12)}`;
}

export function directorWantedFacts(params: DirectorFactsParams): Facts {
    const facts: Facts = {};
    for (const scope of ["all", "default", ...params.nics]) {
        facts[`send_redirects ${scope}`] = "0";
    }
    facts["ip_forward"] = params.mode === "nat" ? "1" : "0";
    facts["ipvs conn_reuse_mode"] = "3";
    facts["ipvs expire_nodest_conn"] = "1";
    for (const entry of params.staticAddresses) {
        facts[`address ${entry.address}/${entry.prefixLength} on ${entry.device}`] = "present";
    }
    for (const port of params.ports) {
        const service = `TCP ${params.vip}:${port}`;
        facts[`ipvs ${service}`] = params.persistenceTimeout > 0 ? `${params.scheduler} persistent ${params.persistenceTimeout}` : params.scheduler;
        for (const server of params.realServers) {
            facts[`ipvs ${service} -> ${server.address}:${port}`] = `${IPVS_METHOD[params.mode]} weight ${server.weight}`;
        }
    }
    if (params.keepalivedConf !== undefined) {
        facts["keepalived"] = "active";
        // The step writes the rendered text and a newline.
        facts["keepalived.conf"] = shortDigest(`${params.keepalivedConf}\n`);
    }
    return facts;
}

export interface RealServerFactsParams {
    mode: FactsMode;
    vip: string;
    /** The public NIC's name (eth0): ARP settings are read on it too. */
    publicNic: string;
    /** The storage NIC's name (eth1): NAT's reverse-path setting is read on it. */
    storageNic: string;
    /** NAT: the director's floating storage address that replies go back through. */
    natGateway: string;
    /** NAT: the server's storage address, whose replies a routing rule sends via the director. */
    storageIp: string;
    ports: number[];
    nfsServer: string;
    exportPath: string;
}

export function realServerWantedFacts(params: RealServerFactsParams): Facts {
    const facts: Facts = {};
    // NAT puts no VIP here, so nothing needs ARP kept quiet.
    const [arpIgnore, arpAnnounce] = params.mode === "nat" ? ["0", "0"] : ["1", "2"];
    for (const scope of ["all", "default", "lo", params.publicNic]) {
        facts[`arp_ignore ${scope}`] = arpIgnore;
        facts[`arp_announce ${scope}`] = arpAnnounce;
    }
    if (params.mode === "dr") {
        facts[`address ${params.vip}/32 on lo`] = "present";
    } else if (params.mode === "tun") {
        facts[`address ${params.vip}/32 on tunl0`] = "present";
        facts["rp_filter all"] = "0";
        facts["rp_filter tunl0"] = "0";
        facts[`MSS clamp on replies from ${params.vip}`] = "present";
    } else {
        facts[`replies from ${params.storageIp} use table 100`] = "present";
        facts[`replies routed via ${params.natGateway}`] = "present";
        facts[`rp_filter ${params.storageNic}`] = "2";
    }
    facts["web root"] = `${params.nfsServer}:${params.exportPath}`;
    facts["web root in fstab"] = `${params.nfsServer}:${params.exportPath} nfs defaults,_netdev,nofail`;
    facts["apache2"] = "active";
    for (const port of params.ports) {
        facts[`page on port ${port}`] = "answers with the page";
    }
    return facts;
}

export interface NfsFactsParams {
    exportPath: string;
    clientSubnet: string;
    pageContent: string;
}

export function nfsWantedFacts(params: NfsFactsParams): Facts {
    return {
        "export line": `${params.exportPath} ${params.clientSubnet}(rw,sync,no_root_squash,no_subtree_check)`,
        [`export of ${params.exportPath}`]: "present",
        "nfs-server": "active",
        // The reader prints the page's first line.
        page: params.pageContent.split("\n")[0],
    };
}

/** The reader's output as facts: one "NAME<TAB>VALUE" line each. */
export function parseFacts(output: string): Facts {
    const facts: Facts = {};
    for (const line of output.split("\n")) {
        const tab = line.indexOf("\t");
        if (tab > 0) {
            facts[line.slice(0, tab)] = line.slice(tab + 1);
        }
    }
    return facts;
}

/** One fact held against what the lab wants. */
export interface FactVerdict {
    name: string;
    wanted: string;
    live: string;
    ok: boolean;
}

/** What a fact reads as when the reader did not print it (or the lab does not want it). */
export const ABSENT = "absent";

/**
 * Every wanted fact with its live value, then every live fact the lab does
 * not want (an IPVS service or real server added by hand), in name order.
 */
export function compareFacts(wanted: Facts, live: Facts): FactVerdict[] {
    const names = [...new Set([...Object.keys(wanted), ...Object.keys(live)])].sort();
    return names.map((name) => {
        const wantedValue = wanted[name] ?? ABSENT;
        const liveValue = live[name] ?? ABSENT;
        return { name, wanted: wantedValue, live: liveValue, ok: wantedValue === liveValue };
    });
}

/** The facts that differ: empty when the machine is as the lab wants it. */
export function driftOf(wanted: Facts, live: Facts): FactVerdict[] {
    return compareFacts(wanted, live).filter((verdict) => !verdict.ok);
}

/** One line a fact: "arp_ignore all: wanted 1, live 0". */
export function describeDrift(verdicts: readonly FactVerdict[]): string[] {
    return verdicts.map((verdict) => `${verdict.name}: wanted ${verdict.wanted}, live ${verdict.live}`);
}
