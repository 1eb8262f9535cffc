// `scripts/lab inventory`: an SSH config and an Ansible inventory of the
// lab, from its stack outputs. The guests' addresses exist only inside the
// lab host's network namespace, so every host entry reaches its guest
// through a ProxyCommand that opens the TCP connection from in there
// (netnsPipe.js under `labhost/labhost.sh exec`): `ssh -F FILE web1` and
// Ansible then work from the machine itself. A spread lab's guests on other
// hosts are reached the same way (the lab's networks are joined across the
// hosts); each gets a lab_host variable naming its host.
import { LabMachine, LabTopology } from "./topology";

/** The ProxyCommand's ingredients: how to enter the lab host and the pipe to run there. */
export interface ProxyParts {
    /** Environment that names the lab host (LVSLAB_LABHOST and, if set, its root). */
    environment: Record<string, string>;
    labhostScript: string;
    node: string;
    pipeScript: string;
}

function shellWord(text: string): string {
    return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

export function proxyCommand(parts: ProxyParts): string {
    const environment = Object.entries(parts.environment).map(([key, value]) => `${key}=${shellWord(value)}`);
    return ["env", ...environment, shellWord(parts.labhostScript), "exec", shellWord(parts.node), shellWord(parts.pipeScript), "%h", "%p"].join(" ");
}

/** One Host block per machine, named as in the lab. */
export function renderSshConfig(topology: LabTopology, stackName: string, proxy: string): string {
    const blocks = [
        `# lvs-dr-lab, stack ${stackName}: written by scripts/lab inventory from the stack outputs.\n# The guests are new on every up, so host keys are not kept.`,
    ];
    for (const machine of topology.machines) {
        blocks.push(
            [
                `Host ${machine.name}`,
                `    HostName ${machine.sshAddress}`,
                `    User ${topology.ssh.user}`,
                `    IdentityFile ${topology.ssh.privateKeyPath}`,
                "    IdentitiesOnly yes",
                "    StrictHostKeyChecking no",
                "    UserKnownHostsFile /dev/null",
                "    LogLevel ERROR",
                "    ConnectTimeout 10",
                `    ProxyCommand ${proxy}`,
            ].join("\n"),
        );
    }
    return `${blocks.join("\n\n")}\n`;
}

function hostLine(machine: LabMachine, spread: boolean): string {
    const extra: string[] = [];
    if (spread) {
        // The libvirt host it runs on, for a play that groups by it (group_by).
        extra.push(`lab_host=${machine.host}`);
    }
    if (machine.directorRole !== undefined) {
        extra.push(`lvs_role=${machine.directorRole}`);
    }
    if (machine.weight !== undefined) {
        extra.push(`lvs_weight=${machine.weight}`);
    }
    const addresses = machine.nics.map((nic) => `${nic.network}_ip=${nic.address}`);
    return [machine.name, `ansible_host=${machine.sshAddress}`, ...addresses, ...extra].join(" ");
}

/** Ansible's INI inventory: groups directors, real_servers and nfs, reaching each host through the SSH config. */
export function renderAnsibleInventory(topology: LabTopology, stackName: string, sshConfigPath: string): string {
    const group = (title: string, role: LabMachine["role"]): string =>
        [`[${title}]`, ...topology.machines.filter((m) => m.role === role).map((m) => hostLine(m, topology.spread))].join("\n");
    return (
        [
            `# lvs-dr-lab, stack ${stackName}: written by scripts/lab inventory from the stack outputs.`,
            group("directors", "director"),
            group("real_servers", "realServer"),
            group("nfs", "nfs"),
            [
                "[all:vars]",
                `ansible_user=${topology.ssh.user}`,
                `ansible_ssh_private_key_file=${topology.ssh.privateKeyPath}`,
                `ansible_ssh_common_args='-F ${sshConfigPath}'`,
                `lvs_vip=${topology.vip}`,
                `lvs_mode=${topology.mode}`,
                `lvs_scheduler=${topology.scheduler}`,
            ].join("\n"),
        ].join("\n\n") + "\n"
    );
}
