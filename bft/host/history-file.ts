/**
 * The history file a replica process appends to (config `historyPath`): JSON lines, written by
 * replica-main and read back by whoever checks a run (the testbed's end-to-end test fetches each
 * node's file through its agent and feeds the checker).
 *
 * Lines, in the order the process wrote them:
 *
 * - `{ kind: "replicaStarted", replicaId, pid, nowMs, wallMs }` once per process start. A process
 *   the node agent restarts appends to the same file, so each such line opens a new incarnation.
 * - one line per history effect of the core (`executed`, `stableCheckpoint`, `viewEntered`,
 *   `stateInstalled`): the effect's fields with byte fields as hex, plus `nowMs` and `wallMs`.
 *
 * `nowMs` is the process's monotonic clock; `wallMs` is Date.now(), comparable across the
 * processes of one machine (testbed nodes share the host's clock), so it becomes the event time.
 */

import { hexOf } from "../bytes.js";
import type { HistoryEvent } from "../checker/index.js";
import type { Effect } from "../replica/index.js";

/**
 * Where a testbed node's replica writes its history (the controller sets `historyPath` under it;
 * the node agent's `history` command reads only this directory). On the node's disk, so a reboot
 * keeps it. Defined here, beside the file format, so the controller and the agent share it without
 * importing each other.
 */
export const HISTORY_DIRECTORY = "/data/history";

export function startedLine(options: { replicaId: number; pid: number; nowMs: number }): string {
  return JSON.stringify({ kind: "replicaStarted", ...options, wallMs: Date.now() });
}

/**
 * A history effect as one line: byte fields as hex. The replacer looks at the holder's original
 * value, because JSON.stringify applies a Buffer's toJSON() ({ type, data }) before the replacer
 * sees it, and results are often Buffers (an echo result is a slice of the decoded frame).
 */
export function recordLine(record: Effect, nowMs: number): string {
  return JSON.stringify({ nowMs, wallMs: Date.now(), ...record }, function (this: unknown, key, value) {
    const original = (this as Record<string, unknown>)[key];
    return original instanceof Uint8Array ? hexOf(original) : value;
  });
}

export class HistoryFileError extends Error {
  readonly code = "HISTORY_FILE_INVALID";
}

function hex(value: unknown, where: string): string {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{2})*$/.test(value))
    throw new HistoryFileError(
      `${where}: expected lowercase hex, got ${JSON.stringify(value)?.slice(0, 60)}`,
    );
  return value;
}

/**
 * Turns one replica's history file into checker events (times from `wallMs`). Lines before the
 * first `replicaStarted` belong to incarnation 0; a record of a kind the checker does not know is
 * an error, not skipped, so a format change cannot silently weaken a check.
 */
export function parseReplicaHistory(text: string, replicaId: number): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  let incarnation = -1;
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  for (const [index, line] of lines.entries()) {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new HistoryFileError(`replica ${replicaId} history line ${index + 1} is not JSON`);
    }
    const atMs = Number(record.wallMs);
    const where = `replica ${replicaId} history line ${index + 1}`;
    const base = { atMs, replicaId, incarnation: Math.max(incarnation, 0) };
    switch (record.kind) {
      case "replicaStarted":
        incarnation += 1;
        events.push({ kind: "replicaStarted", atMs, replicaId, incarnation });
        break;
      case "executed":
        events.push({
          kind: "executed",
          ...base,
          view: Number(record.view),
          seq: Number(record.seq),
          digest: hex(record.digest, where),
          results: (record.results as Array<Record<string, unknown>>).map((result) => ({
            clientId: Number(result.clientId),
            timestamp: Number(result.timestamp),
            operation: hex(result.operation, where),
            result: hex(result.result, where),
          })),
        });
        break;
      case "stableCheckpoint":
      case "stateInstalled":
        events.push({
          kind: record.kind,
          ...base,
          seq: Number(record.seq),
          stateDigest: hex(record.stateDigest, where),
        });
        break;
      case "viewEntered":
        events.push({
          kind: "viewEntered",
          ...base,
          view: Number(record.view),
          primary: Number(record.primary),
        });
        break;
      default:
        throw new HistoryFileError(`${where} has unknown kind ${String(record.kind)}`);
    }
  }
  return events;
}
