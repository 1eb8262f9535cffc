// Pulumi's mocks for the lab's resource-graph tests: every resource is
// recorded with its inputs and answered with them, plus what the program
// reads back (a volume's path, a network's UUID, generated strings, a
// step's output).
import * as pulumi from "@pulumi/pulumi";

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    parent?: string;
}

/**
 * Mocks that hand each new resource to `record`. `volumePath` says where a
 * volume or cloud-init disk lands (default: /pool/NAME).
 */
export function labMocks(record: (resource: Recorded) => void, volumePath?: (inputs: Record<string, unknown>) => string): pulumi.runtime.Mocks {
    return {
        newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
            const inputs = args.inputs as Record<string, unknown>;
            record({ type: args.type, name: args.name, inputs });
            const state: Record<string, unknown> = { ...inputs };
            if (args.type.endsWith(":Volume") || args.type.endsWith(":CloudInitDisk")) {
                state.path = volumePath ? volumePath(inputs) : `/pool/${String(inputs.name)}`;
            }
            if (args.type.endsWith(":Network")) {
                state.uuid = `uuid-of-${args.name}`;
            }
            if (args.type === "random:index/randomString:RandomString") {
                state.result = "ab12cd";
            }
            if (args.type === "random:index/randomPassword:RandomPassword") {
                state.result = "Pw0".padEnd(Number(inputs.length), "x");
            }
            if (args.type === "command:remote:Command") {
                state.stdout = "IP Virtual Server version 1.2.1\n";
                state.stderr = "";
            }
            return { id: `${args.name}-id`, state };
        },
        call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
            return args.inputs as Record<string, unknown>;
        },
    };
}

/** A resource as its constructor saw it: what it is, its name and its parent. */
export interface Declared {
    type: string;
    name: string;
    parent?: pulumi.Resource;
    resource: pulumi.Resource;
}

/**
 * Watches what a component built alone declares: give `transformation` in
 * the component's options (its children inherit it), then await
 * `registered()` before reading `declared` or what the mocks recorded.
 */
export class DeclarationWatch {
    readonly declared: Declared[] = [];
    readonly transformation: pulumi.ResourceTransformation = (args) => {
        this.declared.push({ type: args.type, name: args.name, parent: args.opts.parent, resource: args.resource });
        return undefined;
    };

    /** Resolves once every resource declared so far is registered (its URN known). */
    async registered(): Promise<void> {
        await Promise.all(this.declared.map((entry) => new Promise((resolve) => entry.resource.urn.apply(resolve))));
    }

    /** The resources whose parent is `parent`, as "type name", sorted. */
    childrenOf(parent: pulumi.Resource): string[] {
        return this.declared
            .filter((entry) => entry.parent === parent)
            .map((entry) => `${entry.type} ${entry.name}`)
            .sort();
    }
}

const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

/** Whether a recorded input is a secret (the mocks see it wrapped). */
export function isSecret(value: unknown): boolean {
    return typeof value === "object" && value !== null && SECRET_SIGNATURE in value;
}

/** A recorded input with a secret's wrapping taken off. */
export function plain(value: unknown): unknown {
    return isSecret(value) ? (value as { value: unknown }).value : value;
}

/**
 * The parameters a recorded guest step was rendered with: the
 * `readonly NAME='value'` lines at the top of the script its create command
 * carries (the first of each name: the shared helpers come after them).
 */
export function stepParams(step: Recorded): Record<string, string> {
    const encoded = /echo ([A-Za-z0-9+/=]+) \| base64 -d/.exec(String(plain(step.inputs.create)));
    if (!encoded) {
        throw new Error(`step ${step.name} has no embedded script`);
    }
    const script = Buffer.from(encoded[1], "base64").toString("utf8");
    const params: Record<string, string> = {};
    for (const [, name, quoted] of script.matchAll(/^readonly ([A-Z_]+)='((?:[^']|'\\'')*)'$/gm)) {
        if (!(name in params)) {
            params[name] = quoted.replace(/'\\''/g, "'");
        }
    }
    return params;
}

/** The one recorded resource with this name; fails the test when there is none. */
export function named(resources: Recorded[], name: string): Recorded {
    const found = resources.find((resource) => resource.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}`);
    }
    return found;
}

/** A component built alone under the mocks: it, the watch over its declaration, and every resource recorded meanwhile. */
export interface BuiltAlone<T> {
    component: T;
    watch: DeclarationWatch;
    resources: Recorded[];
}

/**
 * Sets Pulumi's mocks for a test file that builds components alone (call it
 * before the component's module is imported) and returns the builder: it
 * makes one component with the watch's options and waits until it and every
 * child are registered.
 */
export function mocksForComponents(): <T>(make: (opts: pulumi.ComponentResourceOptions) => T) => Promise<BuiltAlone<T>> {
    let recorded: Recorded[] = [];
    pulumi.runtime.setMocks(
        labMocks((resource) => recorded.push(resource)),
        "lvs-dr-lab",
        "components",
        false,
    );
    return async <T>(make: (opts: pulumi.ComponentResourceOptions) => T): Promise<BuiltAlone<T>> => {
        recorded = [];
        const watch = new DeclarationWatch();
        const component = make({ transformations: [watch.transformation] });
        await watch.registered();
        return { component, watch, resources: recorded };
    };
}
