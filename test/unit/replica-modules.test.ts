/**
 * Proves the shape the replica core was split into holds: the modules it delegates to (the
 * migration role and its parts, the STATUS responder, the checkpoint store) reach the core only
 * through the type-only interfaces of bft/replica/replica-core.ts, never by importing replica.ts,
 * so the imports stay acyclic; and, like the core, they are pure (no clock, timer, randomness or
 * I/O). How: each collaborator's source is read and its import specifiers and a list of banned
 * calls are matched.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const COLLABORATORS = [
  "migration-role.ts",
  "rounds-in-flight.ts",
  "membership-notices.ts",
  "evidence-rounds.ts",
  "status-responder.ts",
  "own-checkpoints.ts",
  "replica-core.ts",
  "slot.ts",
] as const;

/** What a pure core never calls (STYLE.md, "Pure cores, effects as data"). */
const IMPURE_CALLS = ["Date.now", "Math.random", "setTimeout", "setInterval", "performance.now", "process."];

function sourceOf(file: string): string {
  return readFileSync(new URL(`../../bft/replica/${file}`, import.meta.url), "utf8");
}

function importsOf(source: string): string[] {
  return [...source.matchAll(/from\s+"([^"]+)"/g)].map((match) => match[1]!);
}

describe("replica core collaborators", () => {
  it.each(COLLABORATORS)("%s never imports replica.ts", (file) => {
    const imports = importsOf(sourceOf(file));
    expect(imports.length).toBeGreaterThan(0);
    expect(imports).not.toContain("./replica.js");
    expect(imports).not.toContain("./index.js");
  });

  it.each(COLLABORATORS)("%s uses no clock, timer, randomness or process state", (file) => {
    const source = sourceOf(file);
    for (const call of IMPURE_CALLS) expect(source.includes(call), `${file}: ${call}`).toBe(false);
  });

  it("replica.ts imports each collaborator it delegates to", () => {
    const imports = importsOf(sourceOf("replica.ts"));
    for (const file of ["migration-role", "status-responder", "own-checkpoints", "replica-core"])
      expect(imports).toContain(`./${file}.js`);
  });
});
