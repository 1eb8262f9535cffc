// Entry point of the project's `random` provider plugin (started by
// labhost/bin/pulumi-resource-random). The SDK serves the gRPC protocol and
// prints the port the engine should connect to.
import { main } from "@pulumi/pulumi/provider";
import { RandomProvider } from "./provider";

main(new RandomProvider(), process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`random provider failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
});
