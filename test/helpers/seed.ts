// The seed stack for the pure tests: the defaults plus a base image, on a
// fake host where every file exists, and helpers to read validation results.
import assert from "node:assert/strict";
import { HostFacts, LabConfig, RawConfig, validateConfig } from "../../components/config";

export const HOME = "/home/tester";
export const BASE_IMAGE = "/var/lib/lvslab/debian-12-lvslab.qcow2";
export const SEED_RAW: RawConfig = { baseImage: BASE_IMAGE };

/** A host where every file exists. */
export const EVERY_FILE_EXISTS: HostFacts = { homeDir: HOME, fileExists: () => true };

/** A host where exactly the given files exist; records every path asked about. */
export function hostWithFiles(files: readonly string[]): HostFacts & { asked: string[] } {
    const asked: string[] = [];
    return {
        homeDir: HOME,
        asked,
        fileExists: (filePath: string): boolean => {
            asked.push(filePath);
            return files.includes(filePath);
        },
    };
}

/** Validates raw config that must be accepted; fails the test with every problem otherwise. */
export function accepted(raw: RawConfig, host: HostFacts = EVERY_FILE_EXISTS): LabConfig {
    const result = validateConfig(raw, host);
    if (!result.ok) {
        assert.fail(`expected the config to be accepted, got:\n  ${result.problems.join("\n  ")}`);
    }
    return result.config;
}

/** Validates raw config that must be refused; returns the problems. */
export function refused(raw: RawConfig, host: HostFacts = EVERY_FILE_EXISTS): string[] {
    const result = validateConfig(raw, host);
    if (result.ok) {
        assert.fail(`expected the config to be refused: ${JSON.stringify(raw)}`);
    }
    assert.ok(result.problems.length > 0, "a refusal must say why");
    return result.problems;
}

/**
 * Asserts that one problem is about `key` (it starts with "key: ") and
 * contains every fragment: the setting named and the fix spelled out.
 */
export function assertProblem(problems: readonly string[], key: string, ...fragments: readonly string[]): string {
    const match = problems.find((problem) => problem.startsWith(`${key}: `) && fragments.every((fragment) => problem.includes(fragment)));
    if (!match) {
        assert.fail(`no problem about ${key} containing ${JSON.stringify(fragments)}; the problems were:\n  ${problems.join("\n  ")}`);
    }
    return match;
}

/** The seed's validated configuration. */
export function seedConfig(): LabConfig {
    return accepted(SEED_RAW);
}
