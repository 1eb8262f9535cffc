// libvirt, asked with virsh: a command's output, what of a lab is left
// (a libvirt that cannot be asked throws: it never answers "clean"), the
// sweep that removes it, and the CPU time the guests have used.
import { execFileSync } from "child_process";
import { removeDomain, removeNetwork, removeVolume } from "../../components/libvirt";
import { errorText } from "./main";

/** `virsh -c URI ARGS...`'s output; throws with virsh's own message when it fails. */
export function virshText(uri: string, ...args: string[]): string {
    try {
        return execFileSync("virsh", ["-c", uri, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
    } catch (error) {
        const stderr = (error as { stderr?: string }).stderr?.trim();
        throw new Error(`virsh -c ${uri} ${args.join(" ")} failed${stderr ? `: ${stderr}` : ""}`);
    }
}

/** libvirt objects whose names start with the lab's prefix, as "domain NAME", "network NAME", "volume NAME". */
export function leftovers(uri: string, pool: string, prefix: string): string[] {
    // A libvirt that cannot be asked is no proof that nothing is left: it throws.
    const names = (...args: string[]): string[] => {
        let text: string;
        try {
            text = virshText(uri, ...args);
        } catch (error) {
            throw new Error(`cannot tell what is left: ${errorText(error)}`);
        }
        return text
            .split("\n")
            .map((line) => line.trim())
            .filter((line) => line !== "");
    };
    const found = [
        ...names("list", "--all", "--name").map((name) => `domain ${name}`),
        ...names("net-list", "--all", "--name").map((name) => `network ${name}`),
        ...names("vol-list", pool)
            .slice(2)
            .map((line) => `volume ${line.split(/\s+/)[0]}`),
    ];
    return found.filter((entry) => entry.split(" ")[1].startsWith(prefix));
}

/** Removes every domain, volume and network whose name starts with prefix; returns what was removed. */
export async function sweep(uri: string, pool: string, prefix: string): Promise<string[]> {
    const found = leftovers(uri, pool, prefix);
    const named = (kind: string): string[] => found.filter((e) => e.startsWith(`${kind} `)).map((e) => e.slice(kind.length + 1));
    for (const name of named("domain")) {
        await removeDomain(uri, name, name, undefined);
    }
    for (const name of named("volume")) {
        await removeVolume("Volume", uri, ["--pool", pool, name], name);
    }
    for (const name of named("network")) {
        await removeNetwork(uri, name, name);
    }
    return found;
}

/**
 * The CPU time each domain's qemu has used, in seconds, from `virsh domstats
 * --cpu-total` ("Domain: 'name'" then "  cpu.time=NANOSECONDS" lines).
 */
export function parseCpuTotals(domstats: string): Record<string, number> {
    const seconds: Record<string, number> = {};
    let domain: string | undefined;
    for (const line of domstats.split("\n")) {
        const name = /^Domain: '(.*)'$/.exec(line.trim());
        if (name) {
            domain = name[1];
            continue;
        }
        const time = /^cpu\.time=(\d+)$/.exec(line.trim());
        if (time && domain !== undefined) {
            seconds[domain] = Math.round(Number(time[1]) / 1e7) / 100;
        }
    }
    return seconds;
}

/** CPU seconds used so far by the running domains named (all running ones when none are). */
export function guestCpuSeconds(uri: string, ...domains: string[]): Record<string, number> {
    return parseCpuTotals(virshText(uri, "domstats", "--cpu-total", ...domains));
}
