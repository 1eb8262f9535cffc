// The bench's floors: the lab's six guests made straight with the libvirt
// layer's own functions (no Pulumi engine, no guest steps), started at once
// and timed until each accepts SSH, then removed.
import { randomBytes } from "crypto";
import * as fs from "fs";
import { LabConfig } from "../components/config";
import { GuestNic, instanceIdFor, renderMetaData, renderNetworkConfig, renderUserData } from "../components/guestConfig";
import { createCloudInitDisk } from "../components/libvirt/cloudInitDisk";
import { createDomain } from "../components/libvirt/domain";
import { createNetwork } from "../components/libvirt/network";
import { createVolume } from "../components/libvirt/volume";
import { macFor } from "../components/net";
import { PUBLIC_NETWORK_INDEX, STORAGE_NETWORK_INDEX } from "../components/nics";
import { sweep, waitForSsh } from "./bench";
import { leftovers } from "./e2e";

interface FloorMachine {
    hostname: string;
    sshAddress: string;
    nics: (GuestNic & { network: string })[];
}

export interface FloorResult {
    prefix: string;
    /** From the first virsh call to the last guest accepting SSH. */
    seconds: number;
    /** Networks, base image import, overlays, seeds and domains defined and started. */
    defineSeconds: number;
    /** Seconds from the start until each guest accepted SSH (null: never within the bound). */
    sshSeconds: Record<string, number | null>;
    teardownSeconds: number;
    left: string[];
}

/**
 * The floor: the lab's six guests made straight with the libvirt layer's own
 * functions (virsh underneath, no Pulumi engine, no guest steps), started all
 * at once, timed until each accepts SSH; then removed.
 */
export async function floor(config: LabConfig, sshBoundSeconds: number): Promise<FloorResult> {
    const uri = config.libvirtUri;
    const pool = config.storagePool;
    const suffix = randomBytes(3).toString("hex");
    const prefix = `lvsfloor-${suffix}`;
    const publicNet = `${prefix}-public`;
    const storageNet = `${prefix}-storage`;
    const sshPublicKey = fs.readFileSync(`${config.sshKeyPath}.pub`, "utf8").trim();
    const pub = (address: string): GuestNic & { network: string } => ({
        name: "eth0",
        network: publicNet,
        mac: macFor(PUBLIC_NETWORK_INDEX, address),
        address,
        prefixLength: config.publicSubnet.prefixLength,
        gateway: config.publicHostIp,
    });
    const sto = (address: string, name: "eth0" | "eth1"): GuestNic & { network: string } => ({
        name,
        network: storageNet,
        mac: macFor(STORAGE_NETWORK_INDEX, address),
        address,
        prefixLength: config.storageSubnet.prefixLength,
    });
    const machines: FloorMachine[] = [
        ...config.directors.map((director) => ({
            hostname: director.name,
            sshAddress: director.publicIp,
            nics: [pub(director.publicIp), sto(director.storageIp, "eth1")],
        })),
        { hostname: config.nfs.name, sshAddress: config.nfs.storageIp, nics: [sto(config.nfs.storageIp, "eth0")] },
        ...config.realServers.map((server) => ({
            hostname: server.name,
            sshAddress: server.publicIp,
            nics: [pub(server.publicIp), sto(server.storageIp, "eth1")],
        })),
    ];
    const started = Date.now();
    const sshSeconds: Record<string, number | null> = {};
    let defineSeconds = 0;
    let result: FloorResult | undefined;
    try {
        await Promise.all([
            createNetwork({
                connectionUri: uri,
                name: publicNet,
                bridgeName: `lf${suffix}-p`,
                mode: "nat",
                hostAddress: config.publicHostIp,
                prefixLength: config.publicSubnet.prefixLength,
            }),
            createNetwork({
                connectionUri: uri,
                name: storageNet,
                bridgeName: `lf${suffix}-s`,
                mode: "isolated",
                hostAddress: config.storageHostIp,
                prefixLength: config.storageSubnet.prefixLength,
            }),
        ]);
        const base = await createVolume({ connectionUri: uri, pool, name: `${prefix}-base.qcow2`, source: config.baseImage });
        const consolePassword = randomBytes(10).toString("hex");
        await Promise.all(
            machines.map(async (machine) => {
                const networkConfig = renderNetworkConfig(machine.nics);
                const [disk, seed] = await Promise.all([
                    createVolume({
                        connectionUri: uri,
                        pool,
                        name: `${prefix}-${machine.hostname}.qcow2`,
                        backingVolumePath: base.outs.path,
                        capacityGiB: config.vm.diskGiB,
                    }),
                    createCloudInitDisk({
                        connectionUri: uri,
                        pool,
                        name: `${prefix}-${machine.hostname}-seed.iso`,
                        userData: renderUserData({
                            hostname: machine.hostname,
                            domain: "lvslab.internal",
                            sshUser: config.sshUser,
                            sshPublicKey,
                            consolePassword,
                        }),
                        metaData: renderMetaData(
                            machine.hostname,
                            instanceIdFor(machine.hostname, networkConfig, sshPublicKey, config.sshUser),
                        ),
                        networkConfig,
                    }),
                ]);
                await createDomain({
                    connectionUri: uri,
                    name: `${prefix}-${machine.hostname}`,
                    domainType: config.domainType,
                    vcpus: config.vm.vcpus,
                    memoryMiB: config.vm.memoryMiB,
                    diskPath: disk.outs.path,
                    cloudInitPath: seed.outs.path,
                    nics: machine.nics.map((nic) => ({ network: nic.network, mac: nic.mac })),
                });
            }),
        );
        defineSeconds = (Date.now() - started) / 1000;
        console.log(`floor: ${machines.length} guests defined and started in ${defineSeconds.toFixed(1)} s; waiting for SSH`);
        const deadline = Date.now() + sshBoundSeconds * 1000;
        await Promise.all(
            machines.map(async (machine) => {
                const seconds = await waitForSsh(config, machine.sshAddress, started, deadline);
                sshSeconds[machine.hostname] = seconds ?? null;
                console.log(`floor: ${machine.hostname} ${seconds === undefined ? "never accepted SSH" : `accepted SSH at ${seconds.toFixed(1)} s`}`);
            }),
        );
    } finally {
        const seconds = (Date.now() - started) / 1000;
        const teardownStarted = Date.now();
        await sweep(uri, pool, prefix);
        const left = leftovers(uri, pool, prefix);
        result = { prefix, seconds, defineSeconds, sshSeconds, teardownSeconds: (Date.now() - teardownStarted) / 1000, left };
    }
    return result;
}

