// Observed facts: what each machine's steps set, wanted by the program and
// read back on the guest, so that drift shows in `refresh` and `up` puts it
// back.
export { GuestFacts, GUEST_FACTS_TYPE, guestFactsProvider, readLive } from "./guestFacts";
export type { GuestFactsArgs, GuestFactsInputs, GuestFactsOutputs, RepairStep } from "./guestFacts";
export { FACTS_COMMAND, NO_READER_PARAMS, renderFactsReader } from "./reader";
export type { FactsReaderParams } from "./reader";
export { ABSENT, compareFacts, describeDrift, directorWantedFacts, driftOf, nfsWantedFacts, parseFacts, realServerWantedFacts, shortDigest } from "./wanted";
export type { DirectorFactsParams, Facts, FactsMode, FactVerdict, NfsFactsParams, RealServerFactsParams } from "./wanted";
export { observeFacts } from "./observe";
export type { ObservedFactsArgs } from "./observe";
