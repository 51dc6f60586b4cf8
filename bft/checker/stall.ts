/**
 * Stall check (runs with migration): outside fault windows, migration must not stall clients for
 * longer than a view change does.
 *
 * Definition. A request is judged when it was submitted at or after `healedAtMs` (no network
 * faults, crashes or partitions from then on) and its life [submitted, completed] overlaps no
 * injected migration fault window (`migration.faultWindows`: a crashed target, ...). Its latency
 * must be at most `migration.stallBoundMs`, which the recorder sets to
 *
 *   stallBoundMs = 2 * (3 * viewChangeTimeoutMs + transferAllowanceMs) + retransmitTimeoutMs
 *
 * The inner term is the longest the service may make no progress in a round: a view change that
 * replaces a primary withholding the MIGRATION-REQUEST or being migrated (its timeout, then one
 * doubled timeout if the next primary is also unavailable: 3 timeouts), plus the target's state
 * transfer while the id is in transit (transferAllowanceMs: the checkpoint's transmission time at
 * the link bandwidth plus two fetch timeouts). The client's retransmission backoff doubles, so a
 * client notices recovery at most about as late again as the stall lasted (factor 2), plus its
 * first retransmission timeout. Requests that never completed are the liveness check's business.
 */
import type { EventOf, History } from "./history.js";
import type { ViolationLog } from "./violation.js";

export interface StallStats {
  readonly stallJudged: number;
  readonly stallExcused: number;
  readonly latencyMsMax: number;
}

export const STALL_STATS_NONE: StallStats = { stallJudged: 0, stallExcused: 0, latencyMsMax: 0 };

export function checkStalls(history: History, violations: ViolationLog): StallStats {
  const migration = history.migration;
  const healedAtMs = history.healedAtMs;
  if (migration === undefined || healedAtMs === null) return STALL_STATS_NONE;
  const completions = new Map<string, EventOf<"completed">>();
  for (const event of history.events)
    if (event.kind === "completed") completions.set(`${event.clientId}:${event.timestamp}`, event);
  let stallJudged = 0;
  let stallExcused = 0;
  let latencyMsMax = 0;
  for (const event of history.events) {
    if (event.kind !== "submitted" || event.atMs < healedAtMs) continue;
    const end = completions.get(`${event.clientId}:${event.timestamp}`);
    if (end === undefined) continue;
    const overlaps = migration.faultWindows.some((w) => w.startMs <= end.atMs && event.atMs <= w.endMs);
    if (overlaps) {
      stallExcused += 1;
      continue;
    }
    stallJudged += 1;
    const latencyMs = end.atMs - event.atMs;
    latencyMsMax = Math.max(latencyMsMax, latencyMs);
    if (latencyMs <= migration.stallBoundMs) continue;
    violations.add({
      check: "stall",
      message: "a client waited longer than the stall bound outside fault windows",
      clientId: event.clientId,
      timestamp: event.timestamp,
      values: {
        submittedAtMs: event.atMs,
        completedAtMs: end.atMs,
        latencyMs,
        stallBoundMs: migration.stallBoundMs,
      },
    });
  }
  return { stallJudged, stallExcused, latencyMsMax };
}
