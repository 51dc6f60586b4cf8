/**
 * Records a run's history in the checker's format (bft/checker/history.ts) as effects happen, and
 * keeps the running counters the progress line and summary print.
 */
import { createHash } from "node:crypto";
import {
  HISTORY_FORMAT,
  type History,
  type HistoryApp,
  type HistoryEvent,
  hexOf,
  type MigrationHistoryInfo,
} from "../checker/index.js";
import type { Effect } from "../replica/index.js";

export interface RecorderOptions {
  readonly f: number;
  readonly app: HistoryApp;
  readonly byzantineReplicas: readonly number[];
  readonly livenessBoundMs: number;
  /** Runs with migration: the header's migration section. */
  readonly migration?: MigrationHistoryInfo;
}

export class HistoryRecorder {
  readonly events: HistoryEvent[] = [];
  requestsCompleted = 0;
  requestsAbandoned = 0;
  stateTransfers = 0;
  viewMax = 0;
  viewEnteredCount = 0;
  private readonly correct: boolean[];

  constructor(private readonly options: RecorderOptions) {
    const replicaCount = 3 * options.f + 1;
    this.correct = Array.from({ length: replicaCount }, (_, id) => !options.byzantineReplicas.includes(id));
  }

  replicaStarted(atMs: number, replicaId: number, incarnation: number): void {
    this.events.push({ kind: "replicaStarted", atMs, replicaId, incarnation });
  }

  replicaCrashed(atMs: number, replicaId: number, incarnation: number): void {
    this.events.push({ kind: "replicaCrashed", atMs, replicaId, incarnation });
  }

  /** Records a history effect of a replica core; returns false for effects that are not records. */
  replicaEffect(atMs: number, replicaId: number, incarnation: number, effect: Effect): boolean {
    const who = { atMs, replicaId, incarnation };
    switch (effect.kind) {
      case "executed":
        this.events.push({
          kind: "executed",
          ...who,
          view: effect.view,
          seq: effect.seq,
          digest: hexOf(effect.digest),
          results: effect.results.map((r) => ({
            clientId: r.clientId,
            timestamp: r.timestamp,
            operation: hexOf(r.operation),
            result: hexOf(r.result),
          })),
        });
        return true;
      case "stableCheckpoint":
        this.events.push({
          kind: "stableCheckpoint",
          ...who,
          seq: effect.seq,
          stateDigest: hexOf(effect.stateDigest),
        });
        return true;
      case "stateInstalled":
        if (this.correct[replicaId] === true) this.stateTransfers += 1;
        this.events.push({
          kind: "stateInstalled",
          ...who,
          seq: effect.seq,
          stateDigest: hexOf(effect.stateDigest),
        });
        return true;
      case "viewEntered":
        if (this.correct[replicaId] === true) {
          this.viewMax = Math.max(this.viewMax, effect.view);
          this.viewEnteredCount += 1;
        }
        this.events.push({ kind: "viewEntered", ...who, view: effect.view, primary: effect.primary });
        return true;
      default:
        return false;
    }
  }

  /** Records an event the simulator built itself (migration events, format 2). */
  record(event: HistoryEvent): void {
    this.events.push(event);
  }

  submitted(atMs: number, clientId: number, timestamp: number, operation: Uint8Array): void {
    this.events.push({ kind: "submitted", atMs, clientId, timestamp, operation: hexOf(operation) });
  }

  completed(
    atMs: number,
    record: {
      clientId: number;
      timestamp: number;
      operation: Uint8Array;
      result: Uint8Array;
      latencyMs: number;
    },
  ): void {
    this.requestsCompleted += 1;
    this.events.push({
      kind: "completed",
      atMs,
      clientId: record.clientId,
      timestamp: record.timestamp,
      operation: hexOf(record.operation),
      result: hexOf(record.result),
      latencyMs: record.latencyMs,
    });
  }

  abandoned(atMs: number, clientId: number, timestamp: number): void {
    this.requestsAbandoned += 1;
    this.events.push({ kind: "abandoned", atMs, clientId, timestamp });
  }

  history(healedAtMs: number | null, endMs: number): History {
    return {
      format: HISTORY_FORMAT,
      ...(this.options.migration === undefined ? {} : { migration: this.options.migration }),
      f: this.options.f,
      replicaCount: 3 * this.options.f + 1,
      app: this.options.app,
      byzantineReplicas: [...this.options.byzantineReplicas].sort((a, b) => a - b),
      healedAtMs,
      livenessBoundMs: this.options.livenessBoundMs,
      endMs,
      events: this.events,
    };
  }
}

/** SHA-256 over the history's JSON: equal digests mean byte-identical histories. */
export function historyDigest(history: History): string {
  return createHash("sha256").update(JSON.stringify(history)).digest("hex");
}
