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
 *
 * Format 2 adds migration (paper section 3; bft/checker/migration.ts judges these). `migration` in
 * the header is set for runs with migration; a logical replica id then moves between physical
 * nodes, so `incarnation` counts every new holder of the id (a promotion or a restart), and
 * `byzantineReplicas` lists every logical id a Byzantine node ever ran (conservative: the checker
 * then also ignores the correct node that took the id over). Events:
 *
 * - specialOrdered: a correct replica sent a PRE-PREPARE (or a NEW-VIEW holding one) for a special
 *   entry at (view, seq) with `digest`: a standby's join with the primary's join time, a leave, or
 *   a migration. Whether it committed is decided by the executed digest at that seq.
 * - migrationExecuted: a replica executed a MIGRATION-REQUEST at `seq` (its `migrationExecuted`
 *   effect): the pairs (logical id, source node, target node), trigger, migration number l, and the
 *   migration checkpoint digest C it sent in its signed MIGRATE-NOW.
 * - retired: the source replica stopped at `seq`. promoted: node `nodeId` installed the state
 *   with `stateDigest` at `seq` (after 2f+1 matching MIGRATE-NOWs) and now runs `replicaId`.
 * - migrationCompleted: a replica saw every target's MIGRATION-DONE, Ts = latencyMs.
 * - onDemandRequested: the CM asked for an on-demand migration of `replicaIds`.
 * - evidenceAccepted: replica `replicaId` (on node `nodeId`) verified proof that node
 *   `offenderNodeId`, running logical id `offenderId`, signed a lying NEW-VIEW for `view` (section
 *   3.4; `fault` says how). Absent from histories recorded before evidence existed.
 * - nicChanged / sanitized: the CM switched a node's NIC1 or NIC2, or sanitized (rebooted) a node.
 * - clientFrameDelivered: a client's frame reached a node that ran no active replica at that
 *   instant; `cmRole` is the CM's role for the node then (standbys must never see client traffic).
 */

/** Bytes as lowercase hex. */
export type Hex = string;

export const HISTORY_FORMAT = "migrate-bft-history/2";
/** Formats checkHistory reads: 1 has no migration events. */
export const HISTORY_FORMATS: readonly string[] = ["migrate-bft-history/1", HISTORY_FORMAT];
export type HistoryFormat = "migrate-bft-history/1" | typeof HISTORY_FORMAT;

export interface HistoryApp {
  readonly app: "echo" | "kv";
  /** kv only: filler state present at start. */
  readonly stateBytes?: number;
}

/** Header of a run with migration (format 2). */
export interface MigrationHistoryInfo {
  /** Node ids that started as standbys (the pool); nodes 0..3f started running replica id = node id. */
  readonly standbyNodeIds: readonly number[];
  /**
   * Stall bound: a request submitted at or after healedAtMs whose life does not overlap a fault
   * window completes within this many ms (bft/checker/stall.ts defines it precisely).
   */
  readonly stallBoundMs: number;
  /** Intervals of injected migration faults (a target crash, a withheld MIGRATION-REQUEST, ...). */
  readonly faultWindows: readonly {
    readonly startMs: number;
    readonly endMs: number;
    readonly reason: string;
  }[];
  /**
   * Physical nodes that were Byzantine at some point of the run (finer than byzantineReplicas,
   * which lists logical ids). Absent in older histories: the checker then falls back to
   * byzantineReplicas, judged by logical id.
   */
  readonly byzantineNodeIds?: readonly number[];
}

export interface HistoryPair {
  readonly replicaId: number;
  readonly sourceNodeId: number;
  readonly targetNodeId: number;
}

export type OrderedSpecialRecord =
  | { readonly kind: "join"; readonly nodeId: number; readonly counter: number; readonly joinTimeMs: number }
  | { readonly kind: "leave"; readonly nodeId: number; readonly counter: number }
  | {
      readonly kind: "migration";
      readonly migrationNumber: number;
      readonly trigger: "timer" | "onDemand";
      readonly sources: readonly number[];
      readonly targets: readonly number[];
    };

export interface History {
  readonly format: HistoryFormat;
  /** Present for runs with migration. */
  readonly migration?: MigrationHistoryInfo;
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
    }
  | {
      readonly kind: "specialOrdered";
      readonly atMs: number;
      readonly replicaId: number;
      readonly view: number;
      readonly seq: number;
      readonly digest: Hex;
      readonly special: OrderedSpecialRecord;
    }
  | {
      readonly kind: "migrationExecuted";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
      readonly nodeId: number;
      readonly view: number;
      readonly seq: number;
      readonly migrationNumber: number;
      readonly trigger: "timer" | "onDemand";
      readonly pairs: readonly HistoryPair[];
      readonly stateDigest: Hex;
      readonly stateSender: number;
    }
  | {
      readonly kind: "retired";
      readonly atMs: number;
      readonly replicaId: number;
      readonly nodeId: number;
      readonly seq: number;
    }
  | {
      readonly kind: "promoted";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
      readonly nodeId: number;
      readonly view: number;
      readonly seq: number;
      readonly stateDigest: Hex;
    }
  | {
      readonly kind: "migrationCompleted";
      readonly atMs: number;
      readonly replicaId: number;
      readonly seq: number;
      readonly latencyMs: number;
    }
  | { readonly kind: "onDemandRequested"; readonly atMs: number; readonly replicaIds: readonly number[] }
  | {
      readonly kind: "evidenceAccepted";
      readonly atMs: number;
      readonly replicaId: number;
      readonly incarnation: number;
      readonly nodeId: number;
      readonly offenderId: number;
      readonly offenderNodeId: number;
      readonly view: number;
      readonly fault: string;
    }
  | {
      readonly kind: "nicChanged";
      readonly atMs: number;
      readonly nodeId: number;
      readonly nic: "nic1" | "nic2";
      readonly enabled: boolean;
    }
  | { readonly kind: "sanitized"; readonly atMs: number; readonly nodeId: number }
  | {
      readonly kind: "clientFrameDelivered";
      readonly atMs: number;
      readonly clientId: number;
      readonly nodeId: number;
      readonly cmRole: string;
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
