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
