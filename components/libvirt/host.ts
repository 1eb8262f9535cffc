// The libvirt layer's host commands alone: virsh, a command on a libvirt
// host (here or over ssh), shell quoting. It loads no Pulumi SDK (about a
// second), so the lab tools that only read can start quickly; index.ts
// re-exports all of it with the resources.
export { runOnHost, shellQuote, sshRouteOf } from "./hostShell";
export type { SshRoute } from "./hostShell";
export { diagnoseVirshError, failureText, isLocalUri, isNotFound, parseInfo, runCommand, virsh, virshError } from "./virsh";
export type { RunOptions, RunResult, VirshTrouble } from "./virsh";
