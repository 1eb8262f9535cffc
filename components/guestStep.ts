// One configuration step on a guest, run over SSH with remote.Command.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { renderStep, StepName, StepParams, stepCommand } from "./guestConfig";
import { GuestLogin, SSH_DIAL_LIMIT, SSH_DIAL_TIMEOUT_SECONDS } from "./lab";

export interface GuestStepArgs<N extends StepName> {
    /** The user and private key the step logs in with. */
    login: Pick<GuestLogin, "user" | "privateKey">;
    /** The address the lab host reaches the guest on. */
    host: pulumi.Input<string>;
    /** Which step: its script is cloud-init/steps/<step>.sh. */
    step: N;
    /**
     * The step's parameters. They become the text of its commands, which the
     * official provider prints in full when a step fails: no secret belongs
     * here (pass it in `stdin`).
     */
    params: StepParams[N] | pulumi.Output<StepParams[N]>;
    /** Secret input the step reads from its standard input (create, update and delete all get it). */
    stdin?: pulumi.Input<string>;
    /**
     * The guest's domain: when it goes, the step's undo is skipped (nothing
     * left to undo); when it is made anew (a new id), the step runs again.
     */
    domain: pulumi.CustomResource;
    /** Resources the step waits for besides the domain (default none). */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Declares a guest step. `create` applies it (idempotently) and, with no
 * separate `update`, runs again in place whenever the rendered script
 * changes; `delete` undoes it. `deletedWith` skips the undo when the VM is
 * deleted too, so `pulumi destroy` never needs an unreachable guest, and
 * `deleteBeforeReplace` keeps an old undo from running after a new apply.
 * The domain's id is a trigger: a new VM means the step runs again.
 */
export function guestStep<N extends StepName>(name: string, args: GuestStepArgs<N>, parent: pulumi.Resource): command.remote.Command {
    const script = pulumi.output(args.params).apply((params) => renderStep(args.step, params as StepParams[N]));
    return new command.remote.Command(
        name,
        {
            connection: {
                host: args.host,
                user: args.login.user,
                privateKey: args.login.privateKey,
                dialErrorLimit: SSH_DIAL_LIMIT,
                perDialTimeout: SSH_DIAL_TIMEOUT_SECONDS,
            },
            create: script.apply((text) => stepCommand(text, "apply")),
            delete: script.apply((text) => stepCommand(text, "remove")),
            // A changed stdin (a new password) is an in-place update: `create` runs again.
            stdin: args.stdin,
            addPreviousOutputInEnv: false,
            // A domain recreated behind Pulumi's back (refresh drops it, up
            // makes it again) gets its configuration again, and up waits
            // until the guest is back.
            triggers: [args.domain.id],
        },
        {
            parent,
            dependsOn: [args.domain, ...(args.dependsOn ?? [])],
            deletedWith: args.domain,
            deleteBeforeReplace: true,
        },
    );
}
