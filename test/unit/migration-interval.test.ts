/**
 * Proves Equations 1 and 2 as corrected in DESIGN.md section 5 and the interval controller:
 * A0 = p0*Toe0/(p0*Toe0+Ts0) gives the paper's 83.3 % and Tw0 = 50 s; p = max(p0, A0*Ts/((1-A0)*Toe))
 * including rows where p > p0; Tw = min(Tw0, p*Toe); parameter validation; notifications when
 * Toe > Toe0 or Ts > Ts0; and that the controller's Toe is the mean of only the latest p0
 * samples in a buffer of exactly p0 entries.
 * How: table-driven rows with hand-computed values and a fast-check comparison with a naive mean.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_INTERVAL_PARAMS,
  IntervalController,
  initialTimeoutMs,
  MigrationConfigError,
  migrationTimeoutMs,
  requestsPerRound,
  targetAvailability,
} from "../../bft/migration/index.js";

const paper = { p0: 10_000, toeMs0: 5, tsMs0: 10_000 };
const a0Paper = 50_000 / 60_000;

describe("Equation 1 and Tw0", () => {
  it.each([
    ["the paper's parameters", paper, 0.8333, 50_000],
    ["Ts0 equal to the serving time", { p0: 1000, toeMs0: 10, tsMs0: 10_000 }, 0.5, 10_000],
    ["fast migration", { p0: 100, toeMs0: 1, tsMs0: 1 }, 0.9901, 100],
  ])("%s: A0 = %f, Tw0 = %i ms", (_name, params, a0, tw0Ms) => {
    expect(targetAvailability(params)).toBeCloseTo(a0, 4);
    expect(initialTimeoutMs(params)).toBe(tw0Ms);
  });

  it("defaults are the paper's section 4.2 values", () => {
    expect(DEFAULT_INTERVAL_PARAMS).toEqual(paper);
    expect(Math.round(targetAvailability(DEFAULT_INTERVAL_PARAMS) * 1000) / 10).toBe(83.3);
  });

  it.each([
    [{ p0: 0, toeMs0: 5, tsMs0: 10 }, /p0/],
    [{ p0: 1.5, toeMs0: 5, tsMs0: 10 }, /p0/],
    [{ p0: 10, toeMs0: -1, tsMs0: 10 }, /toeMs0/],
    [{ p0: 10, toeMs0: 5, tsMs0: Number.POSITIVE_INFINITY }, /tsMs0/],
    [{ p0: 10, toeMs0: Number.NaN, tsMs0: 10 }, /toeMs0/],
  ])("rejects %j with a clear error", (params, message) => {
    expect(() => targetAvailability(params)).toThrow(MigrationConfigError);
    expect(() => targetAvailability(params)).toThrow(message);
  });
});

describe("Equation 2 and Tw", () => {
  // With the paper's A0, A0/(1-A0) = 5, so p = max(10000, 5*Ts/Toe).
  it.each([
    ["measured equals worst case", 5, 10_000, 10_000, 50_000],
    ["fast requests, fast migration: p0 wins", 1, 1_000, 10_000, 10_000],
    ["fast requests, slow migration: p > p0", 1, 4_000, 20_000, 20_000],
    ["state transfer dominates: p > p0", 2, 8_000, 20_000, 40_000],
    ["p*Toe capped by Tw0", 4, 60_000, 75_000, 50_000],
    ["slow requests capped by Tw0", 8, 1_000, 10_000, 50_000],
  ])("%s (Toe=%f ms, Ts=%f ms): p=%f, Tw=%f ms", (_name, toeMs, tsMs, p, twMs) => {
    const computed = requestsPerRound({ p0: paper.p0, a0: a0Paper, tsMs, toeMs });
    expect(computed).toBeCloseTo(p, 6);
    expect(migrationTimeoutMs({ tw0Ms: 50_000, p: computed, toeMs })).toBeCloseTo(twMs, 6);
  });

  it.each([
    [{ p0: 10, a0: 1, tsMs: 1, toeMs: 1 }, /a0/],
    [{ p0: 10, a0: 0.5, tsMs: -1, toeMs: 1 }, /tsMs/],
    [{ p0: 10, a0: 0.5, tsMs: 1, toeMs: 0 }, /toeMs/],
  ])("rejects %j", (options, message) => {
    expect(() => requestsPerRound(options)).toThrow(message);
  });
});

describe("IntervalController", () => {
  it("uses Tw0 before anything is measured, and Ts0 until a migration is measured", () => {
    const controller = new IntervalController(paper);
    expect(controller.nextTimeoutMs()).toBe(50_000);
    controller.recordOrderExecute(1);
    // Ts defaults to Ts0: p = max(10000, 5*10000/1) = 50000, Tw = min(50 s, 50 s).
    expect(controller.nextTimeoutMs()).toBeCloseTo(50_000, 6);
    controller.recordMigrationLatency(1_000);
    expect(controller.plan()).toMatchObject({
      requestsPerRound: 10_000,
      orderExecuteMsMean: 1,
      migrationLatencyMs: 1_000,
    });
    expect(controller.nextTimeoutMs()).toBeCloseTo(10_000, 6);
  });

  it("averages only the latest p0 samples, in a buffer of p0 entries", () => {
    const controller = new IntervalController({ p0: 4, toeMs0: 100, tsMs0: 1_000 });
    for (const ms of [50, 50, 50, 50, 2, 2, 2]) controller.recordOrderExecute(ms);
    // Latest four: 50, 2, 2, 2.
    expect(controller.plan().orderExecuteMsMean).toBeCloseTo(14, 9);
    expect(controller.plan().sampleCount).toBe(4);
  });

  it("matches a naive mean of the latest p0 samples for any sequence", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.double({ min: 0, max: 1000, noNaN: true }), { minLength: 1, maxLength: 100 }),
        (p0, samples) => {
          const controller = new IntervalController({ p0, toeMs0: 5, tsMs0: 10 });
          for (const ms of samples) controller.recordOrderExecute(ms);
          const latest = samples.slice(-p0);
          const mean = latest.reduce((sum, value) => sum + value, 0) / latest.length;
          expect(controller.plan().sampleCount).toBe(latest.length);
          expect(controller.plan().orderExecuteMsMean!).toBeCloseTo(Math.max(mean, 0.001), 6);
        },
      ),
    );
  });

  it("never returns more than Tw0 nor a non-positive timeout, even with zero-time samples", () => {
    const controller = new IntervalController(paper);
    controller.recordOrderExecute(0);
    controller.recordMigrationLatency(0);
    const twMs = controller.nextTimeoutMs();
    expect(twMs).toBeGreaterThan(0);
    expect(twMs).toBeLessThanOrEqual(50_000);
  });

  it.each([
    ["mean Toe above Toe0 notifies once", [4, 7, 9, 9], 1, "orderExecuteSlow"],
    ["mean exactly Toe0 is not a notification", [5, 5, 5], 0, null],
    ["falls back and rises again: notifies twice", [9, 1, 1, 1, 1, 1, 20, 30], 2, "orderExecuteSlow"],
  ])("%s", (_name, samples, count, reason) => {
    const controller = new IntervalController({ p0: 3, toeMs0: 5, tsMs0: 10_000 });
    const notifications = samples.flatMap((ms) => controller.recordOrderExecute(ms));
    expect(notifications).toHaveLength(count);
    for (const notification of notifications) {
      expect(notification).toMatchObject({ kind: "adminNotification", reason, limitMs: 5 });
      expect(notification.valueMs).toBeGreaterThan(5);
    }
  });

  it.each([
    [9_999, []],
    [10_000, []],
    [10_001, [{ kind: "adminNotification", reason: "migrationSlow", valueMs: 10_001, limitMs: 10_000 }]],
  ])("migration latency %i ms notifies %j", (latencyMs, expected) => {
    expect(new IntervalController(paper).recordMigrationLatency(latencyMs)).toEqual(expected);
  });

  it("validates its parameters at construction", () => {
    expect(() => new IntervalController({ p0: 10_000_000, toeMs0: 5, tsMs0: 10 })).toThrow(/p0/);
  });
});
