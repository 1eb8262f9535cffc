// libvirt storage volume as a Pulumi dynamic resource: an imported image, or
// a qcow2 copy-on-write overlay on another volume.

import * as pulumi from "@pulumi/pulumi";
import { createWriteStream, promises as fsp } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { CheckAnswer, DiffAnswer, Failure, ReadAnswer, checkAbsolutePath, checkName, checkString, isUnknown, replacingDiff, sameKnown } from "./checks";
import { isLocalUri, isNotFound, runCommand, virsh, virshError, virshOk } from "./virsh";
import { parseVolumeXml } from "./xml";

export interface VolumeArgs {
    /** libvirt connection URI, e.g. "qemu:///system". Required. */
    connectionUri: pulumi.Input<string>;
    /** Storage pool to create the volume in. Required. */
    pool: pulumi.Input<string>;
    /** Volume name in the pool, e.g. "lab-web1.qcow2". Required. */
    name: pulumi.Input<string>;
    /**
     * Image to import: a local path, or an http(s) URL that this host downloads
     * (node's fetch). Its format (qcow2, raw, ...) is kept. No default; exactly
     * one of source and backingVolumePath.
     */
    source?: pulumi.Input<string>;
    /**
     * Path of an existing volume: makes a qcow2 copy-on-write overlay on it.
     * No default; exactly one of source and backingVolumePath.
     */
    backingVolumePath?: pulumi.Input<string>;
    /** Size of an overlay in GiB. Default: the backing volume's size. Overlays only. */
    capacityGiB?: pulumi.Input<number>;
}

/** The inputs as the provider sees them (resolved). */
export interface VolumeInputs {
    connectionUri: string;
    pool: string;
    name: string;
    source?: string;
    backingVolumePath?: string;
    capacityGiB?: number;
}

/** What the provider stores: the inputs plus what libvirt reports. */
export interface VolumeOutputs extends VolumeInputs {
    /** The volume's key, which for file pools is its path (also the resource id). */
    path: string;
    capacityBytes: number;
    /** qcow2, raw, iso, ... as libvirt probed it. */
    format: string;
}

const KIND = "Volume";
const VOLUME_KEYS = ["connectionUri", "pool", "name", "source", "backingVolumePath", "capacityGiB"] as const;
const GIB = 1024 ** 3;

export function checkVolume(news: VolumeInputs): CheckAnswer<VolumeInputs> {
    const failures: Failure[] = [];
    checkString(failures, "connectionUri", news.connectionUri);
    checkName(failures, "pool", news.pool);
    checkName(failures, "name", news.name);
    const hasSource = news.source !== undefined && news.source !== "";
    const hasBacking = news.backingVolumePath !== undefined && news.backingVolumePath !== "";
    if (hasSource === hasBacking) {
        failures.push({
            property: hasSource ? "backingVolumePath" : "source",
            reason: "give exactly one of source (an image to import) and backingVolumePath (a volume to overlay)",
        });
    }
    if (hasSource && !isUnknown(news.source)) {
        if (typeof news.source !== "string" || !(/^https?:\/\//.test(news.source) || news.source.startsWith("/"))) {
            failures.push({ property: "source", reason: `source must be an absolute path or an http(s) URL (got ${JSON.stringify(news.source)})` });
        }
    }
    if (hasBacking) {
        checkAbsolutePath(failures, "backingVolumePath", news.backingVolumePath);
    }
    if (news.capacityGiB !== undefined && !isUnknown(news.capacityGiB)) {
        if (!hasBacking) {
            failures.push({ property: "capacityGiB", reason: "capacityGiB applies to overlays only (with backingVolumePath)" });
        } else if (typeof news.capacityGiB !== "number" || !(news.capacityGiB > 0)) {
            failures.push({ property: "capacityGiB", reason: `capacityGiB must be a positive number (got ${JSON.stringify(news.capacityGiB)})` });
        }
    }
    return { inputs: news, failures };
}

export function diffVolume(olds: VolumeOutputs, news: VolumeInputs): DiffAnswer {
    // Nothing about a volume changes in place; one of the same name in the
    // same pool must be deleted before its replacement is made.
    return replacingDiff({ ...olds }, { ...news }, VOLUME_KEYS, (o, n) => sameKnown(o, n, ["connectionUri", "pool", "name"]));
}

/** vol-dumpxml of a volume by path/key, or by `--pool P name`; undefined when it does not exist. */
async function volumeXml(kind: string, uri: string, ref: string[], name: string): Promise<string | undefined> {
    const r = await virsh(uri, ["vol-dumpxml", ...ref]);
    if (r.code === 0) {
        return r.stdout;
    }
    if (isNotFound(r)) {
        return undefined;
    }
    throw virshError(kind, name, ["vol-dumpxml"], r);
}

/**
 * Path, size and format of a volume just made. If that cannot be read, the
 * volume is deleted again (create leaves nothing behind when it fails).
 */
export async function describeNewVolume(
    kind: string,
    uri: string,
    pool: string,
    name: string,
): Promise<{ path: string; capacityBytes: number; format: string }> {
    const ref = ["--pool", pool, name];
    try {
        const xml = await volumeXml(kind, uri, ref, name);
        if (!xml) {
            throw new Error(`libvirt ${kind} "${name}": not found in pool "${pool}" right after it was created`);
        }
        const info = parseVolumeXml(xml);
        return { path: info.key, capacityBytes: info.capacityBytes, format: info.format };
    } catch (e) {
        await removeVolume(kind, uri, ref, name).catch(() => undefined);
        throw e;
    }
}

/** Downloads url to file, bounded in time; throws with the HTTP status on failure. */
export async function downloadToFile(url: string, file: string, timeoutMs: number): Promise<void> {
    let res: Response;
    try {
        res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
        // fetch says only "fetch failed"; the reason is in its cause.
        const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : "";
        throw new Error(`download of ${url} failed: ${e instanceof Error ? e.message : String(e)}${cause}`);
    }
    if (!res.ok || !res.body) {
        throw new Error(`download of ${url} failed: HTTP ${res.status} ${res.statusText}`);
    }
    const out = createWriteStream(file);
    try {
        for await (const chunk of res.body) {
            if (!out.write(chunk)) {
                await new Promise<void>((resolve) => out.once("drain", () => resolve()));
            }
        }
    } finally {
        await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    }
}

/** The backing file qemu-img finds in an image, if any; throws if it cannot read the image. */
export async function imageBackingFile(file: string): Promise<string | undefined> {
    const r = await runCommand("qemu-img", ["info", "--output=json", file]);
    if (r.code !== 0) {
        throw new Error(`qemu-img info ${file} failed: ${r.stderr.trim() || `exit code ${r.code}`}`);
    }
    return (JSON.parse(r.stdout) as { "backing-filename"?: string })["backing-filename"];
}

/** Upload time limit: 2 min, plus a minute per 100 MB (slow disks), at most 2 h. */
function uploadTimeoutMs(bytes: number): number {
    return Math.min(120_000 + Math.ceil(bytes / 100e6) * 60_000, 7_200_000);
}

/** Creates a raw volume of exactly the file's size and uploads the file into it. */
export async function uploadFileAsVolume(kind: string, uri: string, pool: string, name: string, file: string): Promise<void> {
    const size = (await fsp.stat(file)).size;
    // --allocation 0: a sparse file; libvirt would otherwise write zeros first.
    await virshOk(kind, name, uri, ["vol-create-as", pool, name, String(size), "--allocation", "0", "--format", "raw"]);
    try {
        // libvirt probes the uploaded content, so a qcow2 reads back as qcow2.
        await virshOk(kind, name, uri, ["vol-upload", "--pool", pool, name, file], { timeoutMs: uploadTimeoutMs(size) });
    } catch (e) {
        await removeVolume(kind, uri, ["--pool", pool, name], name).catch(() => undefined);
        throw e;
    }
}

async function importImage(inputs: VolumeInputs, source: string): Promise<void> {
    let dir: string | undefined;
    let file = source;
    try {
        if (/^https?:\/\//.test(source)) {
            dir = await fsp.mkdtemp(join(tmpdir(), "lvslab-vol-"));
            file = join(dir, "image");
            await downloadToFile(source, file, 3_600_000);
        }
        const backing = await imageBackingFile(file);
        if (backing) {
            throw new Error(`source ${source} is an overlay on ${backing}; import a self-contained image`);
        }
        await uploadFileAsVolume(KIND, inputs.connectionUri, inputs.pool, inputs.name, file);
    } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new Error(msg.startsWith("libvirt ") ? msg : `libvirt ${KIND} "${inputs.name}": ${msg}`);
    } finally {
        if (dir) {
            await fsp.rm(dir, { recursive: true, force: true });
        }
    }
}

async function createOverlay(inputs: VolumeInputs, backingPath: string): Promise<void> {
    const uri = inputs.connectionUri;
    const xml = await volumeXml(KIND, uri, [backingPath], inputs.name);
    if (!xml) {
        throw new Error(`libvirt ${KIND} "${inputs.name}": backing volume ${backingPath} is not a libvirt volume (not found)`);
    }
    const backing = parseVolumeXml(xml);
    let capacity = backing.capacityBytes;
    if (inputs.capacityGiB !== undefined) {
        capacity = Math.round(inputs.capacityGiB * GIB);
        if (capacity < backing.capacityBytes) {
            throw new Error(
                `libvirt ${KIND} "${inputs.name}": capacityGiB ${inputs.capacityGiB} is smaller than the backing volume (${backing.capacityBytes} bytes)`,
            );
        }
    }
    await virshOk(KIND, inputs.name, uri, [
        "vol-create-as",
        inputs.pool,
        inputs.name,
        String(capacity),
        "--format",
        "qcow2",
        "--backing-vol",
        backingPath,
        "--backing-vol-format",
        backing.format,
    ]);
}

export async function createVolume(inputs: VolumeInputs): Promise<{ id: string; outs: VolumeOutputs }> {
    if (inputs.source) {
        await importImage(inputs, inputs.source);
    } else if (inputs.backingVolumePath) {
        await createOverlay(inputs, inputs.backingVolumePath);
    } else {
        throw new Error(`libvirt ${KIND} "${inputs.name}": give source or backingVolumePath`);
    }
    const outs = { ...inputs, ...(await describeNewVolume(KIND, inputs.connectionUri, inputs.pool, inputs.name)) };
    return { id: outs.path, outs };
}

/** Reads a file-backed volume (id = its path); empty when it is gone. */
export async function readFileVolume<T extends { connectionUri: string; pool: string; name: string }>(
    kind: string,
    id: string,
    props: T,
): Promise<ReadAnswer<T & { path: string; capacityBytes: number; format: string }>> {
    const uri = props.connectionUri;
    // A dir pool keeps listing a file removed behind its back until refreshed.
    if (isLocalUri(uri) && id.startsWith("/")) {
        const exists = await fsp.stat(id).then(
            () => true,
            () => false,
        );
        if (!exists) {
            await virsh(uri, ["pool-refresh", props.pool]);
            return { id: "" };
        }
    }
    const xml = await volumeXml(kind, uri, [id], props.name);
    if (!xml) {
        return { id: "" };
    }
    const info = parseVolumeXml(xml);
    return { id, props: { ...props, name: info.name, path: info.key, capacityBytes: info.capacityBytes, format: info.format } };
}

/** vol-delete; a volume already gone (or whose file is gone) is fine. */
export async function removeVolume(kind: string, uri: string, ref: string[], name: string): Promise<void> {
    const r = await virsh(uri, ["vol-delete", ...ref]);
    if (r.code === 0 || isNotFound(r)) {
        return;
    }
    if (/No such file or directory/.test(r.stderr)) {
        // Removed behind libvirt's back: let the pool forget it.
        const pool = ref[0] === "--pool" ? ref[1] : undefined;
        if (pool) {
            await virsh(uri, ["pool-refresh", pool]);
        }
        return;
    }
    throw virshError(kind, name, ["vol-delete"], r);
}

export async function deleteFileVolume(kind: string, id: string, props: { connectionUri: string; pool: string; name: string }): Promise<void> {
    // By pool and name (a path lookup fails when libvirt holds a stale entry).
    await removeVolume(kind, props.connectionUri, ["--pool", props.pool, props.name], props.name);
    if (id && isLocalUri(props.connectionUri)) {
        // If the pool itself is gone, the file may still be there.
        await fsp.rm(id, { force: true }).catch(() => undefined);
    }
}

/** The dynamic provider: thin wrappers over the functions above. */
export const volumeProvider: pulumi.dynamic.ResourceProvider<VolumeInputs, VolumeOutputs> = {
    check: async (_olds, news) => checkVolume(news),
    diff: async (_id, olds, news) => diffVolume(olds, news),
    create: async (inputs) => createVolume(inputs),
    read: async (id, props) => readFileVolume(KIND, id, props as VolumeOutputs),
    delete: async (id, props) => deleteFileVolume(KIND, id, props),
};

/** Type token: `pulumi-nodejs:dynamic/libvirt:Volume`. */
export const VOLUME_TYPE = "pulumi-nodejs:dynamic/libvirt:Volume";

/** A libvirt storage volume: an imported image or a qcow2 overlay. */
export class Volume extends pulumi.dynamic.Resource {
    /** Volume name in the pool. */
    declare public readonly name: pulumi.Output<string>;
    /** The volume's path (its key; also the resource id). */
    declare public readonly path: pulumi.Output<string>;
    /** Virtual size in bytes. */
    declare public readonly capacityBytes: pulumi.Output<number>;
    /** Format libvirt reports (qcow2 for overlays). */
    declare public readonly format: pulumi.Output<string>;
    declare public readonly pool: pulumi.Output<string>;
    declare public readonly connectionUri: pulumi.Output<string>;

    constructor(name: string, args: VolumeArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            volumeProvider,
            name,
            {
                source: undefined,
                backingVolumePath: undefined,
                capacityGiB: undefined,
                ...args,
                path: undefined,
                capacityBytes: undefined,
                format: undefined,
            },
            opts,
            "libvirt",
            "Volume",
        );
    }
}
