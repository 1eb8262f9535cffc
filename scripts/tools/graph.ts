// The running lab as a drawing: from the stack outputs and the live facts to
// Graphviz dot text or Mermaid text. Pure: `scripts/lab graph` gathers the
// facts (live.ts) and hands dot's text to Graphviz for SVG or PNG.
import { DirectorLive, LiveFacts } from "./live";
import { LabMachine, LabTopology } from "./topology";

/** What the drawing says about one real server, as the directors' live tables have it. */
export interface RealServerView {
    name: string;
    state: string;
    /** The host it runs on, in a spread lab only. */
    host?: string;
    publicIp: string;
    storageIp: string;
    /** Weight as configured; the live one per director is in `links`. */
    configuredWeight: number;
    links: { director: string; inTable: boolean; weight: number; active: number; inactive: number; connections: number; forward: string }[];
}

export interface DirectorView {
    name: string;
    role: string;
    state: string;
    /** The host it runs on, in a spread lab only. */
    host?: string;
    publicIp: string;
    storageIp: string;
    reachable: boolean;
    holdsVip: boolean;
    error?: string;
}

export interface GraphModel {
    title: string;
    vip: string;
    ports: number[];
    mode: string;
    scheduler: string;
    keptBy: string;
    gatheredAt: string;
    clients: string;
    publicNetwork: string;
    storageNetwork: string;
    directors: DirectorView[];
    realServers: RealServerView[];
    nfs: { name: string; state: string; host?: string; storageIp: string; exportPath: string };
    /** Directors that hold the VIP: one when all is well, two in a split brain, none in an outage. */
    vipHolders: string[];
}

const FORWARD_BY_MODE: Record<string, string> = { dr: "DR, gateway -g", nat: "NAT, masquerade -m", tun: "IPIP tunnel -i" };

function address(machine: LabMachine, network: "public" | "storage"): string {
    return machine.nics.find((n) => n.network === network)?.address ?? "";
}

function networkLine(label: string, libvirtName: string, facts: LiveFacts["networks"]["public"]): string {
    const subnet = facts.hostAddress !== undefined && facts.prefixLength !== undefined ? ` ${facts.hostAddress}/${facts.prefixLength}` : "";
    const bridge = facts.bridge ? `, bridge ${facts.bridge}` : "";
    const forward = facts.forward ? `, ${facts.forward}` : "";
    return `${label} network${subnet} (${libvirtName}${bridge}${forward})`;
}

/** The facts the renderers share, worked out once. */
export function graphModel(topology: LabTopology, live: LiveFacts, stackName: string): GraphModel {
    const state = (name: string): string => live.domainStates[name] ?? "unknown";
    // Which host runs a machine is said only where there is more than one.
    const host = (machine: LabMachine): { host?: string } => (topology.spread ? { host: machine.host } : {});
    const directors = topology.machines.filter((m) => m.role === "director");
    const directorViews: DirectorView[] = directors.map((d) => {
        const facts: DirectorLive | undefined = live.directors[d.name];
        return {
            name: d.name,
            role: d.directorRole ?? "",
            state: state(d.name),
            ...host(d),
            publicIp: address(d, "public"),
            storageIp: address(d, "storage"),
            reachable: facts?.reachable ?? false,
            holdsVip: facts?.holdsVip ?? false,
            error: facts?.error,
        };
    });
    const realServers: RealServerView[] = topology.machines
        .filter((m) => m.role === "realServer")
        .map((server) => ({
            name: server.name,
            state: state(server.name),
            ...host(server),
            publicIp: address(server, "public"),
            storageIp: address(server, "storage"),
            configuredWeight: server.weight ?? 0,
            links: directors
                .filter((d) => live.directors[d.name]?.reachable)
                .map((d) => {
                    // One entry per service port; the drawing adds them up.
                    const entries = live.directors[d.name].services
                        .filter((service) => service.address.startsWith(`${topology.vip}:`))
                        .flatMap((service) => service.destinations.filter((dest) => dest.address === server.forwardingAddress));
                    return {
                        director: d.name,
                        inTable: entries.length > 0,
                        weight: entries.length > 0 ? Math.max(...entries.map((e) => e.weight)) : 0,
                        active: entries.reduce((sum, e) => sum + e.active, 0),
                        inactive: entries.reduce((sum, e) => sum + e.inactive, 0),
                        connections: entries.reduce((sum, e) => sum + (e.connections ?? 0), 0),
                        forward: entries[0]?.forward ?? "",
                    };
                }),
        }));
    const nfs = topology.machines.find((m) => m.role === "nfs");
    return {
        title: `lvs-dr-lab, stack ${stackName}`,
        vip: topology.vip,
        ports: topology.ports,
        mode: FORWARD_BY_MODE[topology.mode] ?? topology.mode,
        scheduler: topology.scheduler,
        keptBy: topology.keepalived ? `keepalived${topology.healthCheck ? `, ${topology.healthCheck} checks` : ""}` : "ipvsadm",
        gatheredAt: live.gatheredAt,
        clients: live.networks.public.hostAddress ? `clients (the lab host, ${live.networks.public.hostAddress})` : "clients (the lab host)",
        publicNetwork: networkLine("public", topology.networks.public, live.networks.public),
        storageNetwork: networkLine("storage", topology.networks.storage, live.networks.storage),
        directors: directorViews,
        realServers,
        nfs: {
            name: nfs?.name ?? "nfs",
            state: nfs ? state(nfs.name) : "unknown",
            ...(nfs ? host(nfs) : {}),
            storageIp: nfs ? address(nfs, "storage") : "",
            exportPath: topology.nfsExport,
        },
        vipHolders: directorViews.filter((d) => d.holdsVip).map((d) => d.name),
    };
}

/** Fill colours by libvirt state: a stopped machine stands out at a glance. */
const STATE_COLOURS: Record<string, string> = { running: "#d9f2d9", "shut off": "#e0e0e0", paused: "#fff2b3", missing: "#f8d0d0", unknown: "#f8d0d0" };

function stateColour(state: string): string {
    return STATE_COLOURS[state] ?? "#fff2b3";
}

/** A dot identifier that is safe whatever the machine is called. */
function dotId(kind: string, name: string): string {
    return `"${kind}:${name.replace(/["\\]/g, "_")}"`;
}

function dotString(text: string): string {
    return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function linkText(link: RealServerView["links"][number]): string {
    if (!link.inTable) {
        return "not in the table";
    }
    return `weight ${link.weight}, ${link.active} active / ${link.inactive} inactive\n${link.connections} connections in all`;
}

/** The state line: "running", or "running on host b" in a spread lab. */
function stateLine(machine: { state: string; host?: string }): string {
    return machine.host === undefined ? machine.state : `${machine.state} on host ${machine.host}`;
}

function directorLabel(d: DirectorView): string {
    const vip = !d.reachable ? "not reachable over SSH" : d.holdsVip ? "holds the VIP" : "does not hold the VIP";
    return `${d.name} (${d.role})\n${stateLine(d)}\npublic ${d.publicIp}\nstorage ${d.storageIp}\n${vip}`;
}

function realServerLabel(s: RealServerView): string {
    return `${s.name}\n${stateLine(s)}\npublic ${s.publicIp}\nstorage ${s.storageIp}\nVIP on lo`;
}

function nfsLabel(nfs: GraphModel["nfs"]): string {
    return `${nfs.name}\n${stateLine(nfs)}\nstorage ${nfs.storageIp}\nexports ${nfs.exportPath}`;
}

/** Graphviz dot text of the lab. */
export function renderDot(model: GraphModel): string {
    const lines: string[] = [];
    const holder =
        model.vipHolders.length === 1
            ? `held by ${model.vipHolders[0]}`
            : model.vipHolders.length === 0
              ? "held by no director"
              : `held by ${model.vipHolders.join(" AND ")} (split brain)`;
    lines.push("digraph lvslab {");
    lines.push(
        `  graph [label=${dotString(`${model.title} — ${model.gatheredAt}`)}, labelloc=t, fontname="Helvetica", fontsize=12, rankdir=TB, nodesep=0.35, ranksep=0.55];`,
    );
    lines.push('  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", fillcolor="#ffffff"];');
    lines.push('  edge [fontname="Helvetica", fontsize=9, color="#555555"];');
    lines.push(`  ${dotId("host", "clients")} [label=${dotString(model.clients)}, shape=ellipse, fillcolor="#ffffff"];`);
    lines.push(`  ${dotId("net", "public")} [label=${dotString(model.publicNetwork)}, shape=box, style=filled, fillcolor="#dbe9f6", width=6];`);
    lines.push(`  ${dotId("net", "storage")} [label=${dotString(model.storageNetwork)}, shape=box, style=filled, fillcolor="#efe3f7", width=6];`);
    const vipColour = model.vipHolders.length === 1 ? "#ffe8b3" : "#f8d0d0";
    lines.push(
        `  ${dotId("vip", model.vip)} [label=${dotString(`VIP ${model.vip}, port ${model.ports.join(", ")}\n${model.mode}, scheduler ${model.scheduler}\ntable kept by ${model.keptBy}\n${holder}`)}, shape=octagon, fillcolor="${vipColour}"];`,
    );
    lines.push(`  ${dotId("host", "clients")} -> ${dotId("net", "public")} [dir=none];`);
    lines.push(`  ${dotId("net", "public")} -> ${dotId("vip", model.vip)} [label="to the VIP", style=dashed];`);
    for (const d of model.directors) {
        const id = dotId("machine", d.name);
        const border = d.holdsVip ? ', penwidth=2.5, color="#c07000"' : "";
        lines.push(`  ${id} [label=${dotString(directorLabel(d))}, fillcolor="${stateColour(d.state)}"${border}];`);
        lines.push(`  ${dotId("vip", model.vip)} -> ${id} [${d.holdsVip ? 'label="holds", penwidth=2.5, color="#c07000"' : 'label="backup", style=dotted'}];`);
        lines.push(`  ${id} -> ${dotId("net", "storage")} [dir=none, label=${dotString(d.storageIp)}, color="#9b7bb0"];`);
    }
    lines.push(`  { rank=same; ${model.realServers.map((s) => dotId("machine", s.name)).join("; ")}; }`);
    for (const s of model.realServers) {
        const id = dotId("machine", s.name);
        lines.push(`  ${id} [label=${dotString(realServerLabel(s))}, fillcolor="${stateColour(s.state)}"];`);
        for (const link of s.links) {
            const holds = model.vipHolders.includes(link.director);
            const style = !link.inTable
                ? 'color="#cc0000", fontcolor="#cc0000", style=dashed'
                : holds
                  ? 'color="#c07000", penwidth=1.8'
                  : 'color="#999999", style=dotted';
            lines.push(`  ${dotId("machine", link.director)} -> ${id} [label=${dotString(linkText(link))}, ${style}];`);
        }
        lines.push(`  ${id} -> ${dotId("net", "storage")} [dir=none, label=${dotString(s.storageIp)}, color="#9b7bb0"];`);
    }
    const nfsId = dotId("machine", model.nfs.name);
    lines.push(`  ${nfsId} [label=${dotString(nfsLabel(model.nfs))}, fillcolor="${stateColour(model.nfs.state)}"];`);
    lines.push(`  ${dotId("net", "storage")} -> ${nfsId} [dir=none, label=${dotString(model.nfs.storageIp)}, color="#9b7bb0"];`);
    lines.push("}");
    return `${lines.join("\n")}\n`;
}

/** A Mermaid node id: letters, digits and _ only. */
function mermaidId(kind: string, name: string): string {
    return `${kind}_${name.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/** Mermaid node text: quotes and angle brackets would end it early. */
function mermaidText(text: string): string {
    return `"${text.replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;").replace(/\n/g, "<br/>")}"`;
}

/** Mermaid flowchart text of the lab (for Markdown that renders Mermaid). */
export function renderMermaid(model: GraphModel): string {
    const lines: string[] = ["flowchart TB"];
    const clients = mermaidId("host", "clients");
    const publicNet = mermaidId("net", "public");
    const storageNet = mermaidId("net", "storage");
    const vip = mermaidId("vip", "vip");
    const holder =
        model.vipHolders.length === 1
            ? `held by ${model.vipHolders[0]}`
            : model.vipHolders.length === 0
              ? "held by no director"
              : `held by ${model.vipHolders.join(" and ")} (split brain)`;
    lines.push(`  ${clients}([${mermaidText(model.clients)}])`);
    lines.push(`  ${publicNet}[${mermaidText(model.publicNetwork)}]`);
    lines.push(`  ${storageNet}[${mermaidText(model.storageNetwork)}]`);
    lines.push(`  ${vip}{{${mermaidText(`VIP ${model.vip} ports ${model.ports.join(", ")}\n${model.mode}, ${model.scheduler}\n${holder}`)}}}`);
    lines.push(`  ${clients} --- ${publicNet}`);
    lines.push(`  ${publicNet} -.-> ${vip}`);
    for (const d of model.directors) {
        const id = mermaidId("machine", d.name);
        lines.push(`  ${id}[${mermaidText(directorLabel(d))}]`);
        lines.push(d.holdsVip ? `  ${vip} ==>|holds| ${id}` : `  ${vip} -.->|backup| ${id}`);
        lines.push(`  ${id} --- ${storageNet}`);
    }
    for (const s of model.realServers) {
        const id = mermaidId("machine", s.name);
        lines.push(`  ${id}[${mermaidText(realServerLabel(s))}]`);
        for (const link of s.links) {
            const text = mermaidText(linkText(link));
            lines.push(
                model.vipHolders.includes(link.director) && link.inTable
                    ? `  ${mermaidId("machine", link.director)} -->|${text}| ${id}`
                    : `  ${mermaidId("machine", link.director)} -.->|${text}| ${id}`,
            );
        }
        lines.push(`  ${id} --- ${storageNet}`);
    }
    const nfs = mermaidId("machine", model.nfs.name);
    lines.push(`  ${nfs}[${mermaidText(nfsLabel(model.nfs))}]`);
    lines.push(`  ${storageNet} --- ${nfs}`);
    // One class per state, so a stopped machine shows in another colour.
    const byState = new Map<string, string[]>();
    for (const [name, state] of [...model.directors, ...model.realServers].map((m) => [m.name, m.state] as const).concat([[model.nfs.name, model.nfs.state]])) {
        byState.set(state, [...(byState.get(state) ?? []), mermaidId("machine", name)]);
    }
    for (const [state, ids] of byState) {
        const className = `state_${state.replace(/[^A-Za-z0-9]/g, "_")}`;
        lines.push(`  classDef ${className} fill:${stateColour(state)},stroke:#333`);
        lines.push(`  class ${ids.join(",")} ${className}`);
    }
    return `${lines.join("\n")}\n`;
}
