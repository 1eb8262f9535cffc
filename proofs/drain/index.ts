// The drain proof: the check (check.ts) and its long download
// (download.ts), which the e2e runs in each mode, and the runner that
// repeats it (runner.ts, `scripts/lab drain`).
export * from "./check";
export * from "./download";
