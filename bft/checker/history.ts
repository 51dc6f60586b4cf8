/**
 * The history format: what a run (simulated or on the testbed) records for the checker.
 *
 * A history is plain JSON-able data (no Uint8Array, no Map, no class instances), so a testbed run
 * can write it to a file and `checkHistory` can read it back. Bytes are lowercase hex strings.
 * Times are milliseconds on the run's clock (simulated time in the simulator, wall time on the
 * testbed); only their order and differences matter.
 *
 * Events, in the order they happened (the checker does not rely on the order across principals,
 * only on each replica incarnation's and each client's own order):
 *
 * - replicaStarted / replicaCrashed: a replica process began (incarnation 0, 1, ...) or lost its
 *   memory. A restarted replica is a new incarnation that recovers by state transfer.
 * - executed: a replica ran the committed batch at `seq` (the core's `executed` effect). `results`
 *   lists exactly the requests that ran, in order, with their results (duplicates it skipped are
 *   not listed). An empty list is a null request.
 * - stableCheckpoint: a replica collected 2f+1 matching CHECKPOINT messages for `seq`.
 * - stateInstalled: state transfer installed the checkpoint at `seq` with `stateDigest`.
 * - viewEntered: a replica entered `view` (its primary is `primary`).
 * - submitted / completed / abandoned: a client sent a new request (timestamp t), accepted a result
 *   for it (after f+1 matching replies), or gave up on it after its retry limit.
 *
 * Replicas listed in `byzantineReplicas` were Byzantine at some point of the run: the checker trusts
 * nothing they recorded. Crashed replicas are correct (crash faults lose memory, not honesty).
 */

/** Bytes as lowercase hex. */
export type Hex = string;

export const HISTORY_FORMAT = "migrate-bft-history/1";

export interface HistoryApp {
  readonly app: "echo" | "kv";
  /** kv only: filler state present at start. */
  readonly stateBytes?: number;
}

export interface History {
  readonly format: typeof HISTORY_FORMAT;
  readonly f: number;
  /** 3f+1 replicas with logical ids 0..3f. */
  readonly replicaCount: number;
  /** The application every replica ran; the checker re-executes the committed order on a fresh one. */
  readonly app: HistoryApp;
  readonly byzantineReplicas: readonly number[];
  /**
   * When faults stopped (the network healed, crashed replicas restarted). From then on every request
   * must complete within livenessBoundMs. null: the run never healed, liveness is not judged.
   */
  readonly healedAtMs: number | null;
  readonly livenessBoundMs: number;
  /** When recording stopped. */
  readonly endMs: number;
  readonly events: readonly HistoryEvent[];
}

export interface ExecutedRecord {
  readonly clientId: number;
  readonly timestamp: number;
  readonly operation: Hex;
  readonly result: Hex;
}

export type HistoryEvent =
  | {
      readonly kind: "replicaStarted";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
    }
  | {
      readonly kind: "replicaCrashed";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
    }
  | {
      readonly kind: "executed";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
      readonly view: number;
      readonly seq: number;
      readonly digest: Hex;
      readonly results: readonly ExecutedRecord[];
    }
  | {
      readonly kind: "stableCheckpoint";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
      readonly seq: number;
      readonly stateDigest: Hex;
    }
  | {
      readonly kind: "stateInstalled";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
      readonly seq: number;
      readonly stateDigest: Hex;
    }
  | {
      readonly kind: "viewEntered";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
      readonly view: number;
      readonly primary: number;
    }
  | {
      readonly kind: "submitted";
      readonly atMs: number;
      readonly clientId: number;
      readonly timestamp: number;
      readonly operation: Hex;
    }
  | {
      readonly kind: "completed";
      readonly atMs: number;
      readonly clientId: number;
      readonly timestamp: number;
      readonly operation: Hex;
      readonly result: Hex;
      readonly latencyMs: number;
    }
  | {
      readonly kind: "abandoned";
      readonly atMs: number;
      readonly clientId: number;
      readonly timestamp: number;
    };

export type HistoryEventKind = HistoryEvent["kind"];
export type EventOf<K extends HistoryEventKind> = Extract<HistoryEvent, { kind: K }>;

export function eventsOf<K extends HistoryEventKind>(history: History, kind: K): EventOf<K>[] {
  return history.events.filter((event): event is EventOf<K> => event.kind === kind);
}

export function isCorrect(history: History, replicaId: number): boolean {
  return !history.byzantineReplicas.includes(replicaId);
}

export function hexOf(bytes: Uint8Array): Hex {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");
}

export function bytesOfHex(hex: Hex): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}
