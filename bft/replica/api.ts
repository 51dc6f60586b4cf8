/**
 * The replica core's surface: inputs, effects and injected deterministic helpers.
 *
 * A replica is a deterministic state machine. `Replica.step(input, nowMs)` returns effects; the
 * host carries them out. No sockets, timers, Date.now, randomness or files are touched inside.
 * The same core runs in the simulator, in local processes and in containers.
 *
 * Effect ordering contract: the host carries out effects in array order. There is no persistence:
 * a replica that restarts has lost its memory and recovers by state transfer (as in the paper's
 * model, where reboot clears memory and the state is fetched from the other replicas).
 */
import type { Application } from "../apps/app.js";
import type { Message, Principal, ReplicaMessage, Request, ViewChange } from "../messages.js";

export interface ReplicaConfig {
  /** Faults tolerated; n = 3f+1 replicas. */
  readonly f: number;
  /** This replica's logical id, 0..3f. */
  readonly replicaId: number;
  readonly checkpointIntervalSeqs: number;
  readonly logWindowSeqs: number;
  /** Most requests in one batch. */
  readonly batchSizeMax: number;
  /**
   * Most batches the primary keeps pre-prepared but not yet executed. Batching adapts to load:
   * while this many are in flight, arriving requests queue and go out together in the next batch.
   */
  readonly batchInflightMax: number;
  /** A backup that waits this long for a request it knows of to execute starts a view change. */
  readonly viewChangeTimeoutMs: number;
  /** Period of STATUS broadcasts that drive retransmission of lost protocol messages. */
  readonly statusIntervalMs: number;
}

export type TimerId = "viewChange" | "status" | "stateTransfer";

export type ReplicaInput =
  /** A message whose sender the wire layer has authenticated. */
  | { readonly kind: "message"; readonly from: Principal; readonly message: Message }
  | { readonly kind: "timer"; readonly timer: TimerId };

export type Effect =
  /** Point-to-point: one MAC for the receiver. */
  | { readonly kind: "send"; readonly to: Principal; readonly message: Message }
  /** To every other replica, with an authenticator. */
  | { readonly kind: "broadcast"; readonly message: ReplicaMessage }
  /** (Re)arm a timer; a later setTimer for the same id replaces it. */
  | { readonly kind: "setTimer"; readonly timer: TimerId; readonly afterMs: number }
  | { readonly kind: "cancelTimer"; readonly timer: TimerId }
  /** History record: a committed batch ran at seq (checked by bft/checker). */
  | {
      readonly kind: "executed";
      readonly view: number;
      readonly seq: number;
      readonly digest: Uint8Array;
      readonly results: readonly ExecutedRequest[];
    }
  /** History record: a checkpoint became stable (2f+1 matching). */
  | { readonly kind: "stableCheckpoint"; readonly seq: number; readonly stateDigest: Uint8Array }
  /** History record: the replica entered a view (after NEW-VIEW). */
  | { readonly kind: "viewEntered"; readonly view: number; readonly primary: number }
  /** History record: state transfer installed a checkpoint. */
  | { readonly kind: "stateInstalled"; readonly seq: number; readonly stateDigest: Uint8Array };

export interface ExecutedRequest {
  readonly clientId: number;
  readonly timestamp: number;
  readonly operation: Uint8Array;
  readonly result: Uint8Array;
}

/** Deterministic helpers the host injects. */
export interface CoreDeps {
  readonly app: Application;
  /** SHA-256. */
  digest(bytes: Uint8Array): Uint8Array;
  /** Digest of one client request (covers clientId, timestamp, operation; not the authenticator). */
  requestDigest(request: Request): Uint8Array;
  /** Signs a VIEW-CHANGE with this replica's key; the signature covers every field but `signature`. */
  signViewChange(viewChange: Omit<ViewChange, "signature">): Uint8Array;
  readonly log?: CoreLogger;
}

export interface CoreLogger {
  debug(fields: Record<string, unknown>, event: string): void;
  info(fields: Record<string, unknown>, event: string): void;
}
