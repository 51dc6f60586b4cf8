/**
 * Check 3, liveness after healing. Once faults stop (healedAtMs), PBFT must make progress again: every
 * request a client submitted completes within livenessBoundMs of the later of its submission and the
 * healing. A request that never completed, completed too late, or was abandoned by its client is a
 * violation. Requests whose deadline lies beyond the end of the recording cannot be judged and are
 * counted as such (a well-formed run records long enough for every request to be judged).
 */
import type { EventOf, History } from "./history.js";
import type { ViolationLog } from "./violation.js";

export interface LivenessStats {
  readonly requestsJudged: number;
  readonly requestsUnjudged: number;
}

export function checkLiveness(history: History, violations: ViolationLog): LivenessStats {
  const healedAtMs = history.healedAtMs;
  if (healedAtMs === null) return { requestsJudged: 0, requestsUnjudged: 0 };
  const ends = new Map<string, EventOf<"completed"> | EventOf<"abandoned">>();
  for (const event of history.events) {
    if (event.kind === "completed" || event.kind === "abandoned")
      ends.set(`${event.clientId}:${event.timestamp}`, event);
  }
  let requestsJudged = 0;
  let requestsUnjudged = 0;
  for (const event of history.events) {
    if (event.kind !== "submitted") continue;
    const deadlineMs = Math.max(event.atMs, healedAtMs) + history.livenessBoundMs;
    const end = ends.get(`${event.clientId}:${event.timestamp}`);
    const where = { clientId: event.clientId, timestamp: event.timestamp };
    if (end?.kind === "completed" && end.atMs <= deadlineMs) {
      requestsJudged += 1;
      continue;
    }
    if (end === undefined && deadlineMs > history.endMs) {
      requestsUnjudged += 1;
      continue;
    }
    requestsJudged += 1;
    const values = {
      submittedAtMs: event.atMs,
      healedAtMs,
      deadlineMs,
      endedAtMs: end === undefined ? null : end.atMs,
      recordingEndMs: history.endMs,
    };
    let message = "a request did not complete within the liveness bound after healing";
    if (end?.kind === "abandoned")
      message = "a client abandoned a request (retry limit) instead of completing it";
    if (end?.kind === "completed")
      message = "a request completed, but later than the liveness bound after healing";
    violations.add({ check: "liveness", message, ...where, values });
  }
  return { requestsJudged, requestsUnjudged };
}
