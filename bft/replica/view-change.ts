/**
 * VIEW-CHANGE contents (PBFT TOCS 2002, section 4.5 with bounded P and Q sets): building our own
 * from the log, and validating a peer's before it may count toward a view change or a NEW-VIEW.
 * The wire checked the signature; here we check that the contents are well-formed for the
 * sender's own watermarks, so the decision procedure can rely on that shape.
 */
import { assert } from "../assert.js";
import { bytesEqual, hexOf } from "../bytes.js";
import { DIGEST_BYTES, REQUEST_BATCH_MAX } from "../limits.js";
import type {
  Batch,
  CheckpointClaim,
  OrderedSpecial,
  Request,
  ViewChange,
  ViewChangeEntry,
} from "../messages.js";
import { inWindow } from "./watermarks.js";

/**
 * The Q set keeps, per seq, up to this many distinct digests with the latest view each (the paper
 * keeps one entry per digest). Two covers the case that matters for liveness: a batch pre-prepared
 * in one view and a different one (often the null batch) in a later view.
 */
export const PRE_PREPARED_DIGESTS_PER_SEQ_MAX = 2;

/**
 * Migration checkpoints a replica keeps besides its interval checkpoints: the latest one and that
 * of the round before while its targets still fetch it (a round runs every migration timeout, so a
 * slow or restarted target has a whole period; Replica.checkpointNeeded).
 */
export const MIGRATION_CHECKPOINTS_MAX = 2;

/** A batch as the log remembers it for the P and Q sets. */
export interface LoggedBatch {
  readonly view: number;
  readonly digest: Uint8Array;
  readonly requests: readonly Request[];
  readonly special?: OrderedSpecial | undefined;
}

export interface ViewChangeLimits {
  readonly replicaCount: number;
  readonly checkpointIntervalSeqs: number;
  readonly logWindowSeqs: number;
}

export function buildViewChangeBody(options: {
  readonly newView: number;
  readonly stableSeq: number;
  readonly replicaId: number;
  readonly checkpoints: readonly CheckpointClaim[];
  readonly preparedSet: ReadonlyMap<number, LoggedBatch>;
  readonly prePreparedSet: ReadonlyMap<number, readonly LoggedBatch[]>;
}): Omit<ViewChange, "signature"> {
  const batches = new Map<string, Batch>();
  const remember = (logged: LoggedBatch): void => {
    const key = hexOf(logged.digest);
    if (batches.has(key)) return;
    const batch: Batch =
      logged.special === undefined
        ? { digest: logged.digest, requests: logged.requests }
        : { digest: logged.digest, requests: logged.requests, special: logged.special };
    batches.set(key, batch);
  };
  const prepared: ViewChangeEntry[] = [];
  for (const seq of [...options.preparedSet.keys()].sort((a, b) => a - b)) {
    const logged = options.preparedSet.get(seq)!;
    assert(logged.view < options.newView, "prepared before the new view");
    prepared.push({ seq, view: logged.view, digest: logged.digest });
    remember(logged);
  }
  const prePrepared: ViewChangeEntry[] = [];
  for (const seq of [...options.prePreparedSet.keys()].sort((a, b) => a - b)) {
    for (const logged of options.prePreparedSet.get(seq)!) {
      prePrepared.push({ seq, view: logged.view, digest: logged.digest });
      remember(logged);
    }
  }
  return {
    type: "ViewChange",
    newView: options.newView,
    stableSeq: options.stableSeq,
    checkpoints: [...options.checkpoints].sort((a, b) => a.seq - b.seq),
    prepared,
    prePrepared,
    batches: [...batches.values()],
    replicaId: options.replicaId,
  };
}

/** Why a VIEW-CHANGE is malformed, or null when it is acceptable. Never throws on peer input. */
export function viewChangeProblem(message: ViewChange, limits: ViewChangeLimits): string | null {
  const window = limits.logWindowSeqs;
  if (!Number.isSafeInteger(message.newView) || message.newView < 1) return "newView";
  if (
    !Number.isSafeInteger(message.replicaId) ||
    message.replicaId < 0 ||
    message.replicaId >= limits.replicaCount
  ) {
    return "replicaId";
  }
  // A migration checkpoint (paper section 3.2) may sit at any seq: a promoted target's low
  // watermark is the MIGRATION-REQUEST's seq, and replicas keep that checkpoint for the targets.
  // The decision only needs f+1 matching claims, so off-interval claims cannot mislead it.
  if (!Number.isSafeInteger(message.stableSeq) || message.stableSeq < 0) return "stableSeq";
  if (message.checkpoints.length > window / limits.checkpointIntervalSeqs + MIGRATION_CHECKPOINTS_MAX + 1)
    return "checkpoints count";
  for (const claim of message.checkpoints) {
    if (!Number.isSafeInteger(claim.seq) || claim.seq < 0) return "checkpoint seq";
    if (claim.seq < message.stableSeq || claim.seq > message.stableSeq + window) return "checkpoint window";
    if (claim.stateDigest.length !== DIGEST_BYTES) return "checkpoint digest";
  }
  if (message.prepared.length > window) return "prepared count";
  if (message.prePrepared.length > window * PRE_PREPARED_DIGESTS_PER_SEQ_MAX) return "prePrepared count";
  const preparedSeqs = new Set<number>();
  for (const entry of message.prepared) {
    if (preparedSeqs.has(entry.seq)) return "prepared seq repeated";
    preparedSeqs.add(entry.seq);
    const problem = entryProblem(entry, message, window);
    if (problem !== null) return problem;
  }
  for (const entry of message.prePrepared) {
    const problem = entryProblem(entry, message, window);
    if (problem !== null) return problem;
  }
  if (message.batches.length > message.prepared.length + message.prePrepared.length) return "batches count";
  for (const batch of message.batches) {
    if (batch.requests.length > REQUEST_BATCH_MAX || batch.digest.length !== DIGEST_BYTES) return "batch";
    if (batch.special !== undefined && batch.requests.length > 0) return "batch";
  }
  return null;
}

function entryProblem(entry: ViewChangeEntry, message: ViewChange, window: number): string | null {
  if (!inWindow(entry.seq, message.stableSeq, window)) return "entry seq outside window";
  if (!Number.isSafeInteger(entry.view) || entry.view < 0 || entry.view >= message.newView)
    return "entry view";
  if (entry.digest.length !== DIGEST_BYTES) return "entry digest";
  return null;
}

/** Adds a pre-prepared batch to a Q-set list, keeping the newest view per digest and a bounded list. */
export function withPrePrepared(list: readonly LoggedBatch[] | undefined, batch: LoggedBatch): LoggedBatch[] {
  if (list === undefined || list.length === 0) return [batch];
  const others = list.filter((entry) => !bytesEqual(entry.digest, batch.digest));
  const next = [batch, ...others].sort((a, b) => b.view - a.view).slice(0, PRE_PREPARED_DIGESTS_PER_SEQ_MAX);
  assert(next.length >= 1 && next.length <= PRE_PREPARED_DIGESTS_PER_SEQ_MAX, "Q list bounded");
  return next;
}
