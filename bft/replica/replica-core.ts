/**
 * What the replica core (replica.ts) lends to the collaborators it delegates a concern to, such
 * as the migration role (migration-role.ts): a narrow, typed view of its state and the few
 * actions they may take. Type-only, so a collaborator never imports replica.ts and the imports
 * stay acyclic. Every member reads or acts on the core live: nothing here is a copy.
 *
 * The core stays the only owner of the normal case, checkpoints, the view change and the effect
 * list; a collaborator emits through `emit` into the same list, so effects keep the order in
 * which the core and its collaborators produced them within one step.
 */
import type {
  Checkpoint,
  InitMigration,
  MembershipCertificate,
  Message,
  NewView,
  Principal,
  ReplicaMessage,
  Request,
  ViewChange,
} from "../messages.js";
import type { CoreDeps, Effect, ReplicaConfig, TimerId } from "./api.js";
import type { DropReason, ReplicaMetrics } from "./metrics.js";
import type { Slot } from "./slot.js";
import type { ViewChangeLimits } from "./view-change.js";

export interface ReplicaCore {
  readonly config: ReplicaConfig;
  readonly deps: CoreDeps;
  readonly metrics: ReplicaMetrics;
  /** n = 3f+1. */
  readonly replicaCount: number;
  readonly limits: ViewChangeLimits;

  /** The time of the step being run (the core's clock never goes backwards). */
  readonly nowMs: number;
  /** The current view v (the one we are changing to while `viewActive` is false). */
  readonly view: number;
  /** False between sending a VIEW-CHANGE and entering the new view. */
  readonly viewActive: boolean;
  readonly primary: number;
  readonly isPrimary: boolean;
  readonly lastExecutedSeq: number;
  /** A retired source ignores all input (see `retire`). */
  readonly isRetired: boolean;

  /** Appends an effect to the current step's list. */
  emit(effect: Effect): void;
  setTimer(timer: TimerId, afterMs: number): void;
  /** Counts and logs a dropped message; always false, so a check can `return core.drop(...)`. */
  drop(reason: DropReason, from: Principal, what: string): false;
  /** Sends a message again, counted as a retransmission. */
  retransmit(to: Principal, message: Message): void;
  /** The sender of a replica message is a known replica other than us and the one it claims. */
  checkReplicaSender(from: Principal, message: ReplicaMessage): boolean;
  /** Ids of the clients in the client table. */
  clientIds(): Iterable<number>;

  /** The primary proposes what it can (queued requests and special entries). */
  tryPropose(): void;
  /** Re-arms or cancels the view-change timer for the work we know of (`progress`: restart it). */
  refreshViewChangeTimer(progress: boolean): void;
  startViewChange(newView: number): void;
  /** An INIT-MIGRATION just became known: a parked PRE-PREPARE holding it may be accepted now. */
  takeParkedWithInit(init: InitMigration): void;
  /** Fetches a certified checkpoint ahead of us if we lag (`stalled`: execution made no progress). */
  maybeFetchLaggingState(stalled: boolean): void;
  /**
   * Our checkpoint at `seq` (just executed), after dropping those no longer needed: taken and
   * broadcast now if seq is off the checkpoint interval, so a replica that missed a migration
   * round can fetch its state.
   */
  migrationCheckpoint(seq: number): Checkpoint;
  /** Garbage-collects our own checkpoints (a round's targets may no longer need its state). */
  collectCheckpoints(): void;
  /** We were a source of the round at `seq`: stop for good (section 3.2). */
  retire(seq: number): void;
}

/**
 * What the STATUS responder (status-responder.ts) reads of the core: the log, our checkpoints and
 * view-change messages, all read-only; its one action is to retransmit.
 */
export interface StatusCore
  extends Pick<
    ReplicaCore,
    | "config"
    | "deps"
    | "replicaCount"
    | "view"
    | "viewActive"
    | "primary"
    | "isPrimary"
    | "lastExecutedSeq"
    | "retransmit"
  > {
  /** Our stable checkpoint's seq, the low watermark h. */
  readonly stableSeq: number;
  /** The highest seq we accepted a PRE-PREPARE for. */
  readonly maxPrePreparedSeq: number;
  /** Our latest VIEW-CHANGE, until we enter the view it asks for. */
  readonly ownViewChange: ViewChange | undefined;
  /** The NEW-VIEW that brought us into the current view, if any. */
  readonly newView: NewView | null;
  /** Seq of the latest migration checkpoint we took, -1 before any. */
  readonly migrationCheckpointSeq: number;
  /** The newest CM-signed membership we hold, if any. */
  readonly membershipCertificate: MembershipCertificate | null;
  /** Our log's slot at seq (of whichever view it was last used in), if any. */
  slot(seq: number): Readonly<Slot> | undefined;
  /** Our own checkpoint at seq, if we hold it. */
  checkpoint(seq: number): Checkpoint | undefined;
  /** Our own checkpoints, in the order we took or installed them. */
  checkpoints(): readonly Checkpoint[];
  /** The latest request we know from a client and have not executed. */
  pendingRequest(clientId: number): Request | undefined;
}
