// The guest-side facts reader (cloud-init/facts.sh) rendered with a role's
// parameters, and the remote command that runs it with root rights.
import { bashLiteral, readTemplate } from "../guestConfig";

/** The reader's parameters: every one is set (empty where the role has no use for it). */
export interface FactsReaderParams {
    ROLE: "director" | "real-server" | "nfs";
    MODE: "dr" | "nat" | "tun";
    /** Director: its NICs, space-separated. */
    NICS: string;
    /** Director: "address/prefix=nic ..." it holds itself. */
    STATIC_ADDRESSES: string;
    /** Director: "1" when keepalived keeps the table. */
    KEEPALIVED: "0" | "1";
    VIP: string;
    /** Space-separated service ports. */
    PORTS: string;
    PUBLIC_IP: string;
    STORAGE_IP: string;
    NAT_GATEWAY: string;
    EXPORT_PATH: string;
    PAGE_CONTENT: string;
}

/** Every parameter empty: a role sets those it reads. */
export const NO_READER_PARAMS: FactsReaderParams = {
    ROLE: "nfs",
    MODE: "dr",
    NICS: "",
    STATIC_ADDRESSES: "",
    KEEPALIVED: "0",
    VIP: "",
    PORTS: "",
    PUBLIC_IP: "",
    STORAGE_IP: "",
    NAT_GATEWAY: "",
    EXPORT_PATH: "",
    PAGE_CONTENT: "",
};

/** The reader for one machine: its parameters as read-only variables, then cloud-init/facts.sh. */
export function renderFactsReader(params: FactsReaderParams): string {
    const assignments = Object.entries(params).map(([name, value]) => {
        const literal = /[$`]/.test(value) ? "# shellcheck disable=SC2016 # a literal value\n" : "";
        return `${literal}readonly ${name}=${bashLiteral(value)}`;
    });
    return [
        "#!/bin/bash",
        "# lvs-dr-lab facts reader, rendered by components/facts/reader.ts.",
        "set -uo pipefail",
        ...assignments,
        readTemplate("facts.sh"),
    ].join("\n");
}

/** The remote command that runs a reader, given on its standard input, as root: no file, no process more. */
export const FACTS_COMMAND = "sudo bash -s";
