// Entry point of the project's `command` provider plugin (started by
// labhost/bin/pulumi-resource-command). The SDK serves the gRPC protocol and
// prints the port the engine should connect to.
import { main } from "@pulumi/pulumi/provider";
import { engineAddressFromArgs, engineLogger } from "../common/engine";
import { CommandProvider } from "./provider";

const args = process.argv.slice(2);
main(new CommandProvider({ logger: engineLogger(engineAddressFromArgs(args)) }), args).catch((e: unknown) => {
    process.stderr.write(`command provider failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
});
