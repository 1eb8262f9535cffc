// Entry point for the Pulumi CLI (`pulumi up`). The whole program is lab()
// in components/program.ts, which the project's scripts also run through the
// Automation API where no Node.js language host is available.
import { lab } from "./components/program";

export = lab();
