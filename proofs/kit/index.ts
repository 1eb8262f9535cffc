// The one kit the live proofs (and scripts/status.ts) share: everything two
// of them need lives here once, one concern a file, and the proof files hold
// their scenarios only. A helper that cannot see (libvirt not answering, SSH
// refused) throws or reports a problem; it never answers "clean".
//   main     the command line (--stack, --help, a tool's options) and runMain
//   wait     delay, waitFor, requests repeated in the background
//   stack    the stack's outputs (LabOutputValues), changed steps, its libvirt target
//   phases   PhaseLog, tally, tables, result files
//   http     one GET, or one request from a chosen source port
//   ssh      a command on a guest, a held login, waiting for SSH
//   virsh    virsh's output, what is left, the sweep, guest CPU time
//   ipvs     the directors' VIP, tables, connection entries and IPVS settings
//   wrk      wrk's figures and their verdict
export * from "./http";
export * from "./ipvs";
export * from "./main";
export * from "./phases";
export * from "./ssh";
export * from "./stack";
export * from "./virsh";
export * from "./wait";
export * from "./wrk";
