// Stack outputs and command output as a running lab gives them, shared by the
// tools' tests. The outputs are typed by what components/program.ts returns
// (LabOutputValues), so they cannot drift from it: the seed lab (one
// director, four real servers, DR) with the program's defaults; the ipvsadm
// and virsh texts are in those tools' own format. The spread lab is the same
// lab over two hosts, as the spread proof runs it (docs/multi-host.md).
import type { RunResult } from "../../../components/libvirt";
import type { LabOutputValues } from "../../../components/program";
import type { ToolIo } from "../../../scripts/tools/hostRun";
import { LiveFacts } from "../../../scripts/tools/live";

export function seedOutputs(): LabOutputValues {
    const key = "/var/lib/lvs-dr-lab/ssh/id_ed25519";
    const hint = (address: string): string => `ssh -i ${key} lab@${address}`;
    const web = (n: number) => ({
        name: `web${n}`,
        publicIp: `172.16.16.${176 + n}`,
        storageIp: `192.168.7.${176 + n}`,
        weight: 1,
        forwardingAddress: `172.16.16.${176 + n}`,
        sshHint: hint(`172.16.16.${176 + n}`),
    });
    const director = { name: "director", publicIp: "172.16.16.173", storageIp: "192.168.7.173", sshHint: hint("172.16.16.173") };
    return {
        vipUrl: "http://172.16.16.172/",
        vip: "172.16.16.172",
        port: 80,
        ports: [80],
        mode: "dr",
        scheduler: "rr",
        keepalived: false,
        healthCheck: { kind: "none", path: "/", expectedStatus: 200, intervalSeconds: 3, timeoutSeconds: 2, retries: 1, windowSeconds: 0 },
        expectedPage: "welcome to beijing!!!",
        sorryPage: null,
        identityHeader: "X-Real-Server",
        director,
        directors: [{ ...director, role: "single" }],
        realServers: [1, 2, 3, 4].map(web),
        nfs: { name: "nfs", storageIp: "192.168.7.250", sshHint: hint("192.168.7.250") },
        nfsExport: "192.168.7.250:/opt/wwwroot",
        ipvsTable: IPVSADM_LN,
        ssh: { user: "lab", privateKeyPath: key },
        libvirt: {
            uri: "qemu:///system",
            domainType: "qemu",
            pool: "lvslab",
            prefix: "lvslab-k3x9",
            networks: ["lvslab-k3x9-public", "lvslab-k3x9-storage"],
            domains: ["lvslab-k3x9-director", "lvslab-k3x9-nfs", "lvslab-k3x9-web1", "lvslab-k3x9-web2", "lvslab-k3x9-web3", "lvslab-k3x9-web4"],
            firstBoot: "kernel",
            volumes: [],
        },
    };
}

/** Host b of the spread lab: reached over qemu+ssh, as the spread proof reaches it. */
export const HOST_B_URI = "qemu+ssh://root@10.255.0.2/system?keyfile=/var/lib/lvs-dr-lab/labhost/b/id_ed25519&command=/src/lvs-dr-lab/labhost/lib/labhost-ssh";

/**
 * The seed lab with two directors, spread over two hosts: director, nfs,
 * web1 and web2 on a (the gateway, qemu:///system); director2, web3 and web4
 * on b (qemu+ssh). The outputs list the hosts as lab() writes them.
 */
export function spreadOutputs(): LabOutputValues {
    const seed = seedOutputs();
    const key = seed.ssh.privateKeyPath;
    const director2 = { name: "director2", publicIp: "172.16.16.174", storageIp: "192.168.7.174", sshHint: `ssh -i ${key} lab@172.16.16.174` };
    return {
        ...seed,
        keepalived: true,
        directors: [
            { ...seed.director, role: "MASTER" },
            { ...director2, role: "BACKUP" },
        ],
        libvirt: {
            ...seed.libvirt,
            domains: [...seed.libvirt.domains, "lvslab-k3x9-director2"],
            hosts: [
                { name: "a", uri: "qemu:///system", machines: ["director", "nfs", "web1", "web2"] },
                { name: "b", uri: HOST_B_URI, machines: ["director2", "web3", "web4"] },
            ],
        },
    };
}

export const IPVSADM_LN = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  172.16.16.172:80 rr
  -> 172.16.16.177:80             Route   1      2          11
  -> 172.16.16.178:80             Route   1      1          12
  -> 172.16.16.179:80             Route   1      0          12
  -> 172.16.16.180:80             Route   0      0          0
`;

export const IPVSADM_STATS = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  172.16.16.172:80                   50      300        0    20164        0
  -> 172.16.16.177:80                   13       78        0     5241        0
  -> 172.16.16.178:80                   13       78        0     5241        0
  -> 172.16.16.179:80                   12       72        0     4841        0
  -> 172.16.16.180:80                   12       72        0     4841        0
`;

export const IP_ADDR_HOLDER = `1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 172.16.16.173/24 brd 172.16.16.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 172.16.16.172/24 brd 172.16.16.255 scope global secondary eth0\\       valid_lft forever preferred_lft forever
3: eth1    inet 192.168.7.173/24 brd 192.168.7.255 scope global eth1\\       valid_lft forever preferred_lft forever
`;

export const VIRSH_LIST_ALL = ` Id   Name                   State
---------------------------------------
 1    lvslab-k3x9-nfs        running
 2    lvslab-k3x9-web1       running
 3    lvslab-k3x9-web2       running
 5    lvslab-k3x9-web4       running
 6    lvslab-k3x9-director   running
 -    lvslab-k3x9-web3       shut off
`;

/** Live facts of the seed lab with web3 stopped and web4 drained to weight 0. */
export function seedLive(): LiveFacts {
    return {
        gatheredAt: "2026-11-29T20:30:00.000Z",
        domainStates: { director: "running", web1: "running", web2: "running", web3: "shut off", web4: "running", nfs: "running" },
        unansweredHosts: [],
        networks: {
            public: { bridge: "lvk3x9-p", hostAddress: "172.16.16.1", prefixLength: 24, forward: "nat" },
            storage: { bridge: "lvk3x9-s", hostAddress: "192.168.7.1", prefixLength: 24, forward: "isolated" },
        },
        directors: {
            director: {
                reachable: true,
                holdsVip: true,
                services: [
                    {
                        protocol: "TCP",
                        address: "172.16.16.172:80",
                        scheduler: "rr",
                        flags: "",
                        destinations: [
                            { address: "172.16.16.177", port: 80, forward: "Route", weight: 1, active: 2, inactive: 11, connections: 13 },
                            { address: "172.16.16.178", port: 80, forward: "Route", weight: 1, active: 1, inactive: 12, connections: 13 },
                            { address: "172.16.16.180", port: 80, forward: "Route", weight: 0, active: 0, inactive: 0, connections: 12 },
                        ],
                    },
                ],
            },
        },
    };
}

/** One command a tool ran: here (virsh, ssh to a guest) or on the host of a libvirt URI (tcpdump, tc, nft...). */
export interface RecordedCall {
    where: "here" | string;
    argv: string[];
    input?: string;
}

/**
 * A ToolIo that runs nothing: every command is recorded and answered by
 * `answer` (exit 0 and no output when it gives nothing); what the tool
 * prints is kept.
 */
export function recordingIo(answer: (call: RecordedCall) => Partial<RunResult> | undefined | Promise<Partial<RunResult> | undefined>): {
    io: ToolIo;
    calls: RecordedCall[];
    out: string[];
    err: string[];
} {
    const calls: RecordedCall[] = [];
    const out: string[] = [];
    const err: string[] = [];
    const run = async (call: RecordedCall): Promise<RunResult> => {
        calls.push(call);
        return { code: 0, stdout: "", stderr: "", timedOut: false, ...(await answer(call)) };
    };
    return {
        io: {
            command: (file, args, options) => run({ where: "here", argv: [file, ...args], input: options.input }),
            host: (uri, argv, options) => run({ where: uri, argv, input: options.input }),
            out: (text) => out.push(text),
            err: (text) => err.push(text),
        },
        calls,
        out,
        err,
    };
}
