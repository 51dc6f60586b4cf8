/**
 * Proves a seed replays exactly: two runs with the same options record byte-identical histories
 * (equal history digests and equal counters), a different seed gives a different history, and
 * observing a run (progress callback, verbose log) does not change it. How: runSimulation twice and
 * compare, over a run with random faults and a Byzantine replica so every random choice is exercised.
 */
import { describe, expect, it } from "vitest";
import { runSimulation, type SimulationOptions } from "../../bft/sim/index.js";

const options: Partial<SimulationOptions> & { seed: number } = {
  seed: 4242,
  f: 1,
  clients: 3,
  durationMs: 4000,
  thinkMsMax: 50,
  faults: "random",
  byzantineKinds: ["replay"],
  app: "kv",
};

describe("determinism", () => {
  it("gives the same history digest and counters for the same seed", () => {
    const first = runSimulation(options);
    const second = runSimulation(options);
    expect(first.ok, first.failure?.message).toBe(true);
    expect(second.historyDigest).toBe(first.historyDigest);
    expect(second.history.events.length).toBe(first.history.events.length);
    expect(second.requestsCompleted).toBe(first.requestsCompleted);
    expect(second.framesSent).toBe(first.framesSent);
    expect(second.dropped).toEqual(first.dropped);
    expect(second.plan).toEqual(first.plan);
    expect(first.requestsCompleted).toBeGreaterThan(0);
  });

  it("gives a different history for a different seed", () => {
    const first = runSimulation(options);
    const other = runSimulation({ ...options, seed: options.seed + 1 });
    expect(other.historyDigest).not.toBe(first.historyDigest);
  });

  it("is not perturbed by progress reporting or verbose logging", () => {
    const quiet = runSimulation(options);
    const progressLines: number[] = [];
    const logLines: string[] = [];
    const observed = runSimulation({
      ...options,
      progressIntervalMs: 500,
      onProgress: (progress) => progressLines.push(progress.nowMs),
      onLog: (line) => logLines.push(line),
    });
    expect(observed.historyDigest).toBe(quiet.historyDigest);
    expect(progressLines.length).toBeGreaterThan(3);
    expect(logLines.some((line) => line.includes("network healed"))).toBe(true);
  });
});
