// The lab as one Pulumi program: read and validate the stack config, compose
// the role components, return the stack outputs. The only place that reads
// the config: each component gets the pieces its Args name, nothing more.
// index.ts runs it under the Pulumi CLI; scripts/automation.ts runs the same
// function inline.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import { ConfigError, LabConfig, RawConfig, usesKeepalived, validateConfig } from "./config";
import { Director, DirectorRole, forwardingAddress, LoadBalancing } from "./director";
import { Foundation } from "./foundation";
import { healthCheckWindowSeconds } from "./keepalived";
import { GuestLogin, LabSubnets, Site, VmShape } from "./lab";
import { NfsStore } from "./nfsStore";
import { RealServer } from "./realServer";

/**
 * Reads every key of the project's config namespace as the raw strings
 * validation takes, unknown ones included so that a misspelt key is refused
 * rather than silently ignored.
 */
export function readRawConfig(config: pulumi.Config): RawConfig {
    const raw: Record<string, string | undefined> = {};
    const prefix = `${config.name}:`;
    for (const key of Object.keys(pulumi.runtime.allConfig())) {
        if (key.startsWith(prefix)) {
            raw[key.slice(prefix.length)] = config.get(key.slice(prefix.length));
        }
    }
    return raw;
}

/** Validates config against this host; throws one error listing every problem. */
export function loadLabConfig(raw: RawConfig): LabConfig {
    const result = validateConfig(raw, { fileExists: (file) => fs.existsSync(file), homeDir: os.homedir() });
    if (!result.ok) {
        throw new ConfigError(result.problems);
    }
    return result.config;
}

/** What the active director answers when health checks have taken out every real server. */
export const SORRY_PAGE = "sorry: no real server is available right now";

export function lab(config: LabConfig = loadLabConfig(readRawConfig(new pulumi.Config()))) {
    const publicKey = fs.readFileSync(`${config.sshKeyPath}.pub`, "utf8").trim();
    const privateKey = pulumi.secret(fs.readFileSync(config.sshKeyPath, "utf8"));
    const foundation = new Foundation("lab", {
        namePrefix: config.namePrefix,
        hosts: config.hosts,
        machineHosts: config.hosts.filter((host) => machinesOn(config, host.name).length > 0).map((host) => host.name),
        gatewayAddresses: {
            public: { address: config.publicHostIp, prefixLength: config.publicSubnet.prefixLength },
            storage: { address: config.storageHostIp, prefixLength: config.storageSubnet.prefixLength },
        },
        spread: config.spread,
        storagePool: config.storagePool,
        baseImage: config.baseImage,
        firstBoot: config.firstBoot,
        needsVrrpPassword: config.directors.length > 1 && config.vrrp.authentication === "pass",
    });
    /** The site of the host that runs `machine` (config.placement says which). */
    const siteOf = (machine: string): Site => {
        const site = foundation.sites[config.placement[machine]];
        if (!site) {
            // validateConfig places every machine on a host the lab uses.
            throw new Error(`machine ${machine} is placed on host "${config.placement[machine]}", which the lab does not use`);
        }
        return site;
    };
    const vm: VmShape = { domainType: config.domainType, ...config.vm };
    const login: GuestLogin = {
        user: config.sshUser,
        publicKey,
        privateKey,
        privateKeyPath: config.sshKeyPath,
        consolePassword: foundation.consolePassword,
    };
    const subnets: LabSubnets = {
        publicPrefixLength: config.publicSubnet.prefixLength,
        publicGateway: config.publicHostIp,
        storagePrefixLength: config.storageSubnet.prefixLength,
        storageCidr: config.storageSubnet.cidr,
    };

    const nfs = new NfsStore(config.nfs.name, {
        machine: config.nfs,
        site: siteOf(config.nfs.name),
        vm,
        login,
        subnets,
        exportPath: config.nfsExportPath,
        pageContent: config.pageContent,
    });
    const realServers = config.realServers.map(
        (server) =>
            new RealServer(server.name, {
                server,
                site: siteOf(server.name),
                vm,
                login,
                subnets,
                vip: config.vip,
                mode: config.mode,
                natGateway: config.storageVip,
                ports: config.ports,
                nfsServer: config.nfs.storageIp,
                nfsExportPath: config.nfsExportPath,
                pageContent: config.pageContent,
            }),
    );
    const balancing: LoadBalancing = {
        vip: config.vip,
        mode: config.mode,
        ports: config.ports,
        scheduler: config.scheduler,
        persistenceTimeout: config.persistenceTimeout,
        realServers: config.realServers,
        healthCheck: config.healthCheck,
        storageVip: config.storageVip,
        sorryPage: config.sorryServer ? SORRY_PAGE : undefined,
        keepalived: usesKeepalived(config),
    };
    const roles: DirectorRole[] = config.directors.length === 1 ? ["single"] : ["MASTER", "BACKUP"];
    const directors = config.directors.map(
        (machine, index) =>
            new Director(machine.name, {
                machine,
                site: siteOf(machine.name),
                vm,
                login,
                subnets,
                role: roles[index],
                balancing,
                vrrp: config.vrrp,
                vrrpPassword: foundation.vrrpPassword,
                realServersReady: realServers.flatMap((server) => server.ready),
            }),
    );
    const [director] = directors;

    const machines = [...directors.map((d) => d.machine), nfs.machine, ...realServers.map((server) => server.machine)];
    return {
        vipUrl: config.port === 80 ? `http://${config.vip}/` : `http://${config.vip}:${config.port}/`,
        vip: config.vip,
        port: config.port,
        ports: config.ports,
        mode: config.mode,
        scheduler: config.scheduler,
        keepalived: balancing.keepalived,
        healthCheck: { ...config.healthCheck, windowSeconds: healthCheckWindowSeconds(config.healthCheck) },
        expectedPage: config.pageContent,
        sorryPage: balancing.sorryPage ?? null,
        identityHeader: "X-Real-Server",
        /** The first director: the only one, or the VRRP MASTER. */
        director: {
            name: config.directors[0].name,
            publicIp: director.publicIp,
            storageIp: director.storageIp,
            sshHint: director.sshHint,
        },
        directors: directors.map((d, index) => ({
            name: config.directors[index].name,
            role: d.role,
            publicIp: d.publicIp,
            storageIp: d.storageIp,
            sshHint: d.sshHint,
        })),
        realServers: realServers.map((server) => ({
            name: server.serverName,
            publicIp: server.publicIp,
            storageIp: server.storageIp,
            weight: server.weight,
            forwardingAddress: forwardingAddress(config.mode, server),
            sshHint: server.sshHint,
        })),
        nfs: { name: config.nfs.name, storageIp: nfs.storageIp, sshHint: nfs.sshHint },
        nfsExport: nfs.exportTarget,
        ipvsTable: director.ipvsTable,
        ssh: { user: config.sshUser, privateKeyPath: config.sshKeyPath },
        libvirt: {
            uri: config.libvirtUri,
            domainType: config.domainType,
            pool: config.storagePool,
            prefix: foundation.libvirtPrefix,
            networks: [foundation.publicNetwork.name, foundation.storageNetwork.name],
            domains: machines.map((machine) => machine.domain.name),
            firstBoot: config.firstBoot.method,
            volumes: [
                ...foundation.sharedVolumes.map((volume) => volume.name),
                ...machines.flatMap((machine) => [machine.disk.name, ...(machine.seed ? [machine.seed.name] : [])]),
            ],
            // Spread over several hosts: where each machine runs. The names
            // above are the same on every host.
            ...(config.spread ? { hosts: config.hosts.map((host) => ({ name: host.name, uri: host.uri, machines: machinesOn(config, host.name) })) } : {}),
        },
    };
}

/** The machines placed on one host, in the config's order. */
function machinesOn(config: LabConfig, host: string): string[] {
    return Object.keys(config.placement).filter((machine) => config.placement[machine] === host);
}

/** What the program returns: the stack outputs, Outputs and all. */
export type LabOutputs = ReturnType<typeof lab>;
/**
 * The stack outputs as plain values: what `pulumi stack output --json` prints
 * and every script, proof and tool reads. Derived, never written by hand.
 */
export type LabOutputValues = pulumi.Unwrap<LabOutputs>;
