/**
 * The migration interval (paper section 3.2, Equations 1 and 2, as corrected in DESIGN.md
 * section 5; the paper's Equation 1 has a stray p in front):
 *
 *   A0  = p0*Toe0 / (p0*Toe0 + Ts0)              target availability, worst case
 *   Tw0 = p0*Toe0                                initial migration timeout
 *   p   = max(p0, A0*Ts / ((1 - A0)*Toe))        requests per round (Equation 2)
 *   Tw  = min(Tw0, p*Toe)                        migration timeout, capped by Tw0
 *
 * Toe is the mean order-and-execute time (no queueing) of the most recent p0 requests; Ts the
 * latest measured migration latency. The cap keeps an adversary that slows replicas down from
 * stretching the recovery period. With the paper's Toe0 = 5 ms, Ts0 = 10 s, p0 = 10,000:
 * A0 = 83.3 % and Tw0 = 50 s.
 *
 * p is kept as a real number: it only feeds Tw, and rounding it would make Tw depend on
 * floating-point noise in A0/(1-A0).
 */
import { assert } from "../assert.js";
import {
  requireIntegerInRange,
  requireNonNegativeFinite,
  requireOpenFraction,
  requirePositiveFinite,
} from "./errors.js";
import { ORDER_EXECUTE_MS_FLOOR, REQUESTS_PER_ROUND_MIN_MAX } from "./limits.js";

export interface IntervalParams {
  /** p0: minimum requests served per migration round. */
  readonly p0: number;
  /** Toe0: worst-case time to order and execute one request, excluding queueing. */
  readonly toeMs0: number;
  /** Ts0: worst-case latency of one service migration. */
  readonly tsMs0: number;
}

/** The paper's section 4.2 parameters. */
export const DEFAULT_INTERVAL_PARAMS: IntervalParams = { p0: 10_000, toeMs0: 5, tsMs0: 10_000 };

/** Validates user parameters once, at start; throws MigrationConfigError with a hint. */
export function validateIntervalParams(params: IntervalParams): IntervalParams {
  requireIntegerInRange("p0", params.p0, 1, REQUESTS_PER_ROUND_MIN_MAX);
  requirePositiveFinite("toeMs0", params.toeMs0, "ms");
  requirePositiveFinite("tsMs0", params.tsMs0, "ms");
  return params;
}

/** A0 (Equation 1, corrected): worst-case fraction of time the service is available. */
export function targetAvailability(params: IntervalParams): number {
  validateIntervalParams(params);
  const serveMs = params.p0 * params.toeMs0;
  const a0 = serveMs / (serveMs + params.tsMs0);
  assert(a0 > 0 && a0 < 1, "A0 is strictly between 0 and 1");
  return a0;
}

/** Tw0 = p0*Toe0. */
export function initialTimeoutMs(params: Pick<IntervalParams, "p0" | "toeMs0">): number {
  requireIntegerInRange("p0", params.p0, 1, REQUESTS_PER_ROUND_MIN_MAX);
  requirePositiveFinite("toeMs0", params.toeMs0, "ms");
  return params.p0 * params.toeMs0;
}

/** p (Equation 2) for measured Toe and Ts. */
export function requestsPerRound(options: {
  readonly p0: number;
  readonly a0: number;
  readonly tsMs: number;
  readonly toeMs: number;
}): number {
  const { p0, a0, tsMs, toeMs } = options;
  requireIntegerInRange("p0", p0, 1, REQUESTS_PER_ROUND_MIN_MAX);
  requireOpenFraction("a0", a0);
  requirePositiveFinite("toeMs", toeMs, "ms");
  requireNonNegativeFinite("tsMs", tsMs, "ms");
  return Math.max(p0, (a0 * tsMs) / ((1 - a0) * toeMs));
}

/** Tw = min(Tw0, p*Toe). */
export function migrationTimeoutMs(options: {
  readonly tw0Ms: number;
  readonly p: number;
  readonly toeMs: number;
}): number {
  requirePositiveFinite("tw0Ms", options.tw0Ms, "ms");
  requirePositiveFinite("p", options.p, "requests");
  requirePositiveFinite("toeMs", options.toeMs, "ms");
  return Math.min(options.tw0Ms, options.p * options.toeMs);
}

/** An administrator notification, as data: the host logs it and puts it on the event stream. */
export interface AdminNotification {
  readonly kind: "adminNotification";
  readonly reason: "orderExecuteSlow" | "migrationSlow";
  /** The measured value: mean Toe, or the latest Ts. */
  readonly valueMs: number;
  /** The worst case it exceeded: Toe0 or Ts0. */
  readonly limitMs: number;
}

/** What the controller would use for the next round, for logs and the checker. */
export interface IntervalPlan {
  readonly a0: number;
  readonly tw0Ms: number;
  /** Mean Toe of the latest samples (floored at ORDER_EXECUTE_MS_FLOOR), or null with none yet. */
  readonly orderExecuteMsMean: number | null;
  /** Latest Ts, or null before the first measured migration. */
  readonly migrationLatencyMs: number | null;
  /** p; p0 before any measurement. */
  readonly requestsPerRound: number;
  /** Tw. */
  readonly migrationTimeoutMs: number;
  readonly sampleCount: number;
}

/**
 * Measures Toe and Ts and turns them into the next migration timeout. Memory is bounded: a ring
 * buffer of exactly p0 samples with a running sum, so the mean costs O(1) per request.
 *
 * Before any migration has been measured, Ts is taken to be Ts0 (the worst case), which makes
 * Tw = Tw0 exactly as the paper starts; before any request has been measured, Tw = Tw0 too.
 *
 * The Toe notification is edge-triggered (once when the mean rises above Toe0, re-armed when it
 * falls back) so a slow period does not emit one notification per request. Every migration
 * slower than Ts0 notifies: migrations are rare.
 */
export class IntervalController {
  readonly params: IntervalParams;
  readonly a0: number;
  readonly tw0Ms: number;
  readonly #samples: Float64Array;
  #sampleCount = 0;
  #nextIndex = 0;
  #sumMs = 0;
  #latestTsMs: number | null = null;
  #toeAlarm = false;

  constructor(params: IntervalParams = DEFAULT_INTERVAL_PARAMS) {
    this.params = validateIntervalParams({ ...params });
    this.a0 = targetAvailability(this.params);
    this.tw0Ms = initialTimeoutMs(this.params);
    this.#samples = new Float64Array(this.params.p0);
  }

  /** Records one request's order-and-execute time (ms, measured by the host, no queueing). */
  recordOrderExecute(durationMs: number): AdminNotification[] {
    assert(Number.isFinite(durationMs) && durationMs >= 0, "order-execute time is finite and >= 0");
    const capacity = this.#samples.length;
    if (this.#sampleCount === capacity) this.#sumMs -= this.#samples[this.#nextIndex]!;
    else this.#sampleCount += 1;
    this.#samples[this.#nextIndex] = durationMs;
    this.#sumMs += durationMs;
    this.#nextIndex = (this.#nextIndex + 1) % capacity;
    // A running sum drifts by rounding; recompute exactly once per full lap of the buffer.
    if (this.#nextIndex === 0) this.#sumMs = this.#samples.reduce((sum, value) => sum + value, 0);
    assert(this.#sampleCount <= capacity, "sample count bounded by p0");

    const mean = this.#rawMean();
    if (mean > this.params.toeMs0 && !this.#toeAlarm) {
      this.#toeAlarm = true;
      return [
        { kind: "adminNotification", reason: "orderExecuteSlow", valueMs: mean, limitMs: this.params.toeMs0 },
      ];
    }
    if (mean <= this.params.toeMs0) this.#toeAlarm = false;
    return [];
  }

  /** Records one migration's latency Ts (from MIGRATION-REQUEST ordered to targets active). */
  recordMigrationLatency(latencyMs: number): AdminNotification[] {
    assert(Number.isFinite(latencyMs) && latencyMs >= 0, "migration latency is finite and >= 0");
    this.#latestTsMs = latencyMs;
    if (latencyMs > this.params.tsMs0) {
      return [
        {
          kind: "adminNotification",
          reason: "migrationSlow",
          valueMs: latencyMs,
          limitMs: this.params.tsMs0,
        },
      ];
    }
    return [];
  }

  /** Tw for the next round. */
  nextTimeoutMs(): number {
    return this.plan().migrationTimeoutMs;
  }

  plan(): IntervalPlan {
    const base = {
      a0: this.a0,
      tw0Ms: this.tw0Ms,
      migrationLatencyMs: this.#latestTsMs,
      sampleCount: this.#sampleCount,
    };
    if (this.#sampleCount === 0) {
      return {
        ...base,
        orderExecuteMsMean: null,
        requestsPerRound: this.params.p0,
        migrationTimeoutMs: this.tw0Ms,
      };
    }
    const toeMs = Math.max(this.#rawMean(), ORDER_EXECUTE_MS_FLOOR);
    const tsMs = this.#latestTsMs ?? this.params.tsMs0;
    const p = requestsPerRound({ p0: this.params.p0, a0: this.a0, tsMs, toeMs });
    const twMs = migrationTimeoutMs({ tw0Ms: this.tw0Ms, p, toeMs });
    assert(twMs > 0 && twMs <= this.tw0Ms, "Tw is positive and capped by Tw0");
    return { ...base, orderExecuteMsMean: toeMs, requestsPerRound: p, migrationTimeoutMs: twMs };
  }

  #rawMean(): number {
    assert(this.#sampleCount > 0, "mean needs a sample");
    return Math.max(0, this.#sumMs) / this.#sampleCount;
  }
}
