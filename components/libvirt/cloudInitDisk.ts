// A cloud-init NoCloud seed ISO, built on this host with genisoimage and
// uploaded into a libvirt storage pool.

import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { promises as fsp } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CheckAnswer, DiffAnswer, Failure, checkName, checkString, replacingDiff, sameKnown } from "./checks";
import { runCommand } from "./virsh";
import { deleteFileVolume, describeNewVolume, readFileVolume, uploadFileAsVolume } from "./volume";

export interface CloudInitDiskArgs {
    /** libvirt connection URI, e.g. "qemu:///system". Required. */
    connectionUri: pulumi.Input<string>;
    /** Storage pool to put the ISO in. Required. */
    pool: pulumi.Input<string>;
    /** Volume name, e.g. "lvslab-ab12cd-web1-seed.iso". Required. */
    name: pulumi.Input<string>;
    /** cloud-init user-data (e.g. starting with "#cloud-config"). Required. */
    userData: pulumi.Input<string>;
    /** NoCloud meta-data (instance-id, local-hostname). Required. */
    metaData: pulumi.Input<string>;
    /** Network configuration (version 2 or 1). Required. */
    networkConfig: pulumi.Input<string>;
}

/** The inputs as the provider sees them (resolved). */
export interface CloudInitDiskInputs {
    connectionUri: string;
    pool: string;
    name: string;
    userData: string;
    metaData: string;
    networkConfig: string;
}

/** What the provider stores: the inputs plus the volume and content hash. */
export interface CloudInitDiskOutputs extends CloudInitDiskInputs {
    /** Path of the ISO volume (also the resource id). */
    path: string;
    capacityBytes: number;
    format: string;
    /** sha256 of the three files' content (not of the ISO bytes, which carry timestamps). */
    sha256: string;
}

const KIND = "CloudInitDisk";
const SEED_KEYS = ["connectionUri", "pool", "name", "userData", "metaData", "networkConfig"] as const;
/** The file names NoCloud looks for, and the volume label it looks for. */
export const SEED_FILES = ["user-data", "meta-data", "network-config"] as const;
export const SEED_LABEL = "cidata";

/** sha256 of the seed's content; each part length-prefixed so that no two seeds collide by shifting bytes. */
export function seedSha256(userData: string, metaData: string, networkConfig: string): string {
    const h = createHash("sha256");
    for (const part of [userData, metaData, networkConfig]) {
        const b = Buffer.from(part, "utf8");
        h.update(`${b.length}:`);
        h.update(b);
    }
    return h.digest("hex");
}

export function checkCloudInitDisk(news: CloudInitDiskInputs): CheckAnswer<CloudInitDiskInputs> {
    const failures: Failure[] = [];
    checkString(failures, "connectionUri", news.connectionUri);
    checkName(failures, "pool", news.pool);
    checkName(failures, "name", news.name);
    checkString(failures, "userData", news.userData);
    checkString(failures, "metaData", news.metaData);
    checkString(failures, "networkConfig", news.networkConfig);
    return { inputs: news, failures };
}

export function diffCloudInitDisk(olds: CloudInitDiskOutputs, news: CloudInitDiskInputs): DiffAnswer {
    // Any content change makes a new ISO; one of the same name goes first.
    return replacingDiff({ ...olds }, { ...news }, SEED_KEYS, (o, n) => sameKnown(o, n, ["connectionUri", "pool", "name"]));
}

/** Writes the three files and builds the ISO in dir; returns the ISO's path. */
export async function buildSeedIso(dir: string, userData: string, metaData: string, networkConfig: string): Promise<string> {
    const contents: Record<(typeof SEED_FILES)[number], string> = {
        "user-data": userData,
        "meta-data": metaData,
        "network-config": networkConfig,
    };
    for (const f of SEED_FILES) {
        await fsp.writeFile(join(dir, f), contents[f]);
    }
    const iso = join(dir, "seed.iso");
    const args = ["-quiet", "-input-charset", "utf-8", "-output", iso, "-volid", SEED_LABEL, "-joliet", "-rock", ...SEED_FILES];
    // Run in dir so that the files land in the ISO's root under these names.
    const r = await runCommand("genisoimage", args, { cwd: dir });
    if (r.code !== 0) {
        throw new Error(`genisoimage failed: ${r.stderr.trim() || `exit code ${r.code}`}`);
    }
    return iso;
}

export async function createCloudInitDisk(inputs: CloudInitDiskInputs): Promise<{ id: string; outs: CloudInitDiskOutputs }> {
    const dir = await fsp.mkdtemp(join(tmpdir(), "lvslab-seed-"));
    try {
        let iso: string;
        try {
            iso = await buildSeedIso(dir, inputs.userData, inputs.metaData, inputs.networkConfig);
        } catch (e) {
            throw new Error(`libvirt ${KIND} "${inputs.name}": ${e instanceof Error ? e.message : String(e)}`);
        }
        await uploadFileAsVolume(KIND, inputs.connectionUri, inputs.pool, inputs.name, iso);
    } finally {
        await fsp.rm(dir, { recursive: true, force: true });
    }
    const vol = await describeNewVolume(KIND, inputs.connectionUri, inputs.pool, inputs.name);
    const sha256 = seedSha256(inputs.userData, inputs.metaData, inputs.networkConfig);
    return { id: vol.path, outs: { ...inputs, ...vol, sha256 } };
}

/** The dynamic provider: thin wrappers over the functions above. */
export const cloudInitDiskProvider: pulumi.dynamic.ResourceProvider<CloudInitDiskInputs, CloudInitDiskOutputs> = {
    check: async (_olds, news) => checkCloudInitDisk(news),
    diff: async (_id, olds, news) => diffCloudInitDisk(olds, news),
    create: async (inputs) => createCloudInitDisk(inputs),
    read: async (id, props) => readFileVolume(KIND, id, props as CloudInitDiskOutputs),
    delete: async (id, props) => deleteFileVolume(KIND, id, props),
};

/** Type token: `pulumi-nodejs:dynamic/libvirt:CloudInitDisk`. */
export const CLOUD_INIT_DISK_TYPE = "pulumi-nodejs:dynamic/libvirt:CloudInitDisk";

/** A NoCloud seed ISO (label "cidata": user-data, meta-data, network-config) in a libvirt pool. */
export class CloudInitDisk extends pulumi.dynamic.Resource {
    /** Volume name in the pool. */
    declare public readonly name: pulumi.Output<string>;
    /** Path of the ISO volume (also the resource id): give it to a Domain's cloudInitPath. */
    declare public readonly path: pulumi.Output<string>;
    /** sha256 of the seed's content. */
    declare public readonly sha256: pulumi.Output<string>;
    declare public readonly pool: pulumi.Output<string>;
    declare public readonly connectionUri: pulumi.Output<string>;

    constructor(name: string, args: CloudInitDiskArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            cloudInitDiskProvider,
            name,
            { ...args, path: undefined, capacityBytes: undefined, format: undefined, sha256: undefined },
            opts,
            "libvirt",
            "CloudInitDisk",
        );
    }
}
