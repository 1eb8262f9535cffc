// Where the project lives and the environment every Pulumi run gets: apart
// from scripts/automation.ts so a quick reader (the lab tools' outputs) can
// have them without loading Pulumi's SDK, which takes about a second.
import * as path from "path";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
export const PROJECT_NAME = "lvs-dr-lab";

/** The backend and passphrase every run uses unless the caller set its own. */
export function pulumiEnvironment(): Record<string, string> {
    return {
        PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? "file:///var/lib/lvs-dr-lab/state",
        PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "lvs-dr-lab",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        // The engine's default, 4 operations per core (8 here), would hold
        // back guest steps that only wait on their guests: each machine's
        // steps start the moment it answers.
        PULUMI_PARALLEL: process.env.PULUMI_PARALLEL ?? "64",
    };
}
