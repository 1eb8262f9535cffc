// A role's facts resource: the reader rendered for the machine, what the lab
// wants, and the machine's steps as the commands that put it back.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { GuestFacts } from "./guestFacts";
import { FactsReaderParams, renderFactsReader } from "./reader";
import { Facts } from "./wanted";

export interface ObservedFactsArgs {
    /** The machine's name ("web1"). */
    machine: string;
    /** The address the lab host reaches it on. */
    host: string;
    /** The user and private key its steps log in with. */
    login: { user: string; privateKey: pulumi.Input<string> };
    /** What the reader reads on this machine. */
    reader: FactsReaderParams;
    /** What the lab wants it to show. */
    wanted: Facts;
    /** Its steps, in the order they run: read after them, run again (remove, apply) when it drifted. */
    steps: { name: string; step: command.remote.Command }[];
    /** The steps' standard input (the director's VRRP password); default none. */
    stepsStdin?: pulumi.Input<string>;
}

/** Declares `${name}-facts` under `parent`, after the machine's steps. */
export function observeFacts(name: string, args: ObservedFactsArgs, parent: pulumi.Resource): GuestFacts {
    return new GuestFacts(
        `${name}-facts`,
        {
            machine: args.machine,
            host: args.host,
            user: args.login.user,
            privateKey: args.login.privateKey,
            reader: renderFactsReader(args.reader),
            wanted: args.wanted,
            steps: args.steps.map(({ name: stepName, step }) =>
                pulumi.all([step.create, step.delete]).apply(([apply, remove]) => ({ name: stepName, apply: apply ?? "", remove: remove ?? "" })),
            ),
            stepsStdin: args.stepsStdin ?? "",
        },
        { parent, dependsOn: args.steps.map(({ step }) => step) },
    );
}
