/**
 * The new-view decision of PBFT with bounded state (Castro & Liskov, TOCS 2002, section 5 / 4.5.2,
 * the view-change protocol with P and Q sets). Pure and deterministic: the new primary runs it on
 * the VIEW-CHANGEs it collected, and every backup re-runs it on the same VIEW-CHANGEs (carried in
 * NEW-VIEW) and rejects the NEW-VIEW unless the PRE-PREPAREs equal the decision.
 *
 * Checkpoint: the highest h with digest d such that f+1 messages list (h, d) in their C set and
 * 2f+1 messages have a low watermark <= h.
 * For each n in (h, h+L]:
 *   choose batch m if some message has a P entry (n, m, v) and
 *     A1: 2f+1 messages have low watermark < n and, for n, no P entry or one with view < v or with
 *         view == v and digest m; and
 *     A2: f+1 messages have a Q entry (n, m, v'') with v'' >= v;
 *   else choose the null batch if
 *     B: 2f+1 messages have low watermark < n and no P entry for n;
 *   else the decision cannot be made yet (the primary waits for more VIEW-CHANGEs).
 * The decision ends at the highest n with a non-null choice; gaps below it are null batches.
 */
import { assert } from "../assert.js";
import { bytesCompare, bytesEqual, hexOf } from "../bytes.js";
import type { OrderedSpecial, Request, ViewChange, ViewChangeEntry } from "../messages.js";
import { quorumOf, weakQuorumOf } from "./quorum.js";

export interface NewViewDecisionInput {
  readonly view: number;
  readonly f: number;
  readonly logWindowSeqs: number;
  /** Validated VIEW-CHANGEs for `view`, one per distinct sender, at least 2f+1. */
  readonly viewChanges: readonly ViewChange[];
  /** Digest of a batch body: of its special entry if it has one, else of its requests. */
  readonly batchDigest: (body: BatchBody) => Uint8Array;
}

/** A batch's contents: client requests, or one special entry (then requests is empty). */
export interface BatchBody {
  readonly requests: readonly Request[];
  readonly special?: OrderedSpecial | undefined;
}

export interface DecidedCheckpoint {
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  /** Senders whose C set lists the checkpoint: replicas to fetch its state from. */
  readonly holders: readonly number[];
}

export interface DecidedBatch {
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly requests: readonly Request[];
  readonly special?: OrderedSpecial | undefined;
}

export interface NewViewDecision {
  readonly checkpoint: DecidedCheckpoint;
  /** One per seq in (checkpoint.seq, maxSeq], in order; null batches have no requests. */
  readonly batches: readonly DecidedBatch[];
}

interface Indexed {
  readonly message: ViewChange;
  readonly prepared: Map<number, ViewChangeEntry>;
  readonly prePrepared: Map<number, ViewChangeEntry[]>;
}

type SeqChoice =
  | { readonly kind: "batch"; readonly digest: Uint8Array; readonly body: BatchBody }
  | { readonly kind: "null" }
  | { readonly kind: "undecided" };

export function decideNewView(input: NewViewDecisionInput): NewViewDecision | null {
  assert(input.viewChanges.length >= quorumOf(input.f), "decision needs 2f+1 view-changes");
  assert(
    new Set(input.viewChanges.map((m) => m.replicaId)).size === input.viewChanges.length,
    "distinct senders",
  );
  const checkpoint = chooseCheckpoint(input.viewChanges, input.f);
  if (checkpoint === null) return null;
  const indexed = input.viewChanges.map(indexViewChange);
  const bodies = new BodyFinder(input.viewChanges, input.batchDigest);
  const choices: SeqChoice[] = [];
  let lastBatchIndex = -1;
  for (let offset = 1; offset <= input.logWindowSeqs; offset++) {
    const choice = chooseSeq(checkpoint.seq + offset, indexed, input.f, bodies);
    if (choice.kind === "undecided") return null;
    choices.push(choice);
    if (choice.kind === "batch") lastBatchIndex = choices.length - 1;
  }
  const nullDigest = input.batchDigest({ requests: [] });
  const batches: DecidedBatch[] = [];
  for (let index = 0; index <= lastBatchIndex; index++) {
    const choice = choices[index];
    assert(choice !== undefined && choice.kind !== "undecided", "decided entries only");
    const seq = checkpoint.seq + index + 1;
    if (choice.kind === "batch") {
      const { requests, special } = choice.body;
      batches.push(
        special === undefined
          ? { seq, digest: choice.digest, requests }
          : { seq, digest: choice.digest, requests, special },
      );
    } else batches.push({ seq, digest: nullDigest, requests: [] });
  }
  assert(batches.length <= input.logWindowSeqs, "decision bounded by the window");
  return { checkpoint, batches };
}

export function chooseCheckpoint(viewChanges: readonly ViewChange[], f: number): DecidedCheckpoint | null {
  let best: DecidedCheckpoint | null = null;
  const seen = new Set<string>();
  for (const message of viewChanges) {
    for (const claim of message.checkpoints) {
      const key = `${claim.seq}:${hexOf(claim.stateDigest)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (best !== null && !betterCheckpoint(claim.seq, claim.stateDigest, best)) continue;
      const holders = viewChanges
        .filter((other) =>
          other.checkpoints.some((c) => c.seq === claim.seq && bytesEqual(c.stateDigest, claim.stateDigest)),
        )
        .map((other) => other.replicaId);
      const lowEnough = viewChanges.filter((other) => other.stableSeq <= claim.seq).length;
      if (holders.length >= weakQuorumOf(f) && lowEnough >= quorumOf(f)) {
        best = { seq: claim.seq, stateDigest: claim.stateDigest, holders };
      }
    }
  }
  return best;
}

/** Higher seq wins; at equal seq (impossible with at most f faults) the smaller digest, to stay deterministic. */
function betterCheckpoint(seq: number, digest: Uint8Array, best: DecidedCheckpoint): boolean {
  if (seq !== best.seq) return seq > best.seq;
  return bytesCompare(digest, best.stateDigest) < 0;
}

function indexViewChange(message: ViewChange): Indexed {
  const prepared = new Map<number, ViewChangeEntry>();
  for (const entry of message.prepared) {
    const previous = prepared.get(entry.seq);
    if (previous === undefined || entry.view > previous.view) prepared.set(entry.seq, entry);
  }
  const prePrepared = new Map<number, ViewChangeEntry[]>();
  for (const entry of message.prePrepared) {
    const list = prePrepared.get(entry.seq);
    if (list === undefined) prePrepared.set(entry.seq, [entry]);
    else list.push(entry);
  }
  return { message, prepared, prePrepared };
}

function chooseSeq(seq: number, indexed: readonly Indexed[], f: number, bodies: BodyFinder): SeqChoice {
  let chosen: ViewChangeEntry | null = null;
  for (const { prepared } of indexed) {
    const candidate = prepared.get(seq);
    if (candidate === undefined) continue;
    if (chosen !== null && !betterCandidate(candidate, chosen)) continue;
    if (conditionA1(seq, candidate, indexed, f) && conditionA2(seq, candidate, indexed, f))
      chosen = candidate;
  }
  if (chosen !== null) {
    const body = bodies.find(chosen.digest);
    // Some correct sender of A2 pre-prepared the batch and so carries its body; a missing body
    // means only faulty senders named it, so wait for more VIEW-CHANGEs.
    if (body === null) return { kind: "undecided" };
    return { kind: "batch", digest: chosen.digest, body };
  }
  if (conditionB(seq, indexed, f)) return { kind: "null" };
  return { kind: "undecided" };
}

function betterCandidate(candidate: ViewChangeEntry, chosen: ViewChangeEntry): boolean {
  if (candidate.view !== chosen.view) return candidate.view > chosen.view;
  return bytesCompare(candidate.digest, chosen.digest) < 0;
}

function conditionA1(
  seq: number,
  candidate: ViewChangeEntry,
  indexed: readonly Indexed[],
  f: number,
): boolean {
  let count = 0;
  for (const { message, prepared } of indexed) {
    if (message.stableSeq >= seq) continue;
    const entry = prepared.get(seq);
    if (
      entry === undefined ||
      entry.view < candidate.view ||
      (entry.view === candidate.view && bytesEqual(entry.digest, candidate.digest))
    ) {
      count++;
    }
  }
  return count >= quorumOf(f);
}

function conditionA2(
  seq: number,
  candidate: ViewChangeEntry,
  indexed: readonly Indexed[],
  f: number,
): boolean {
  let count = 0;
  for (const { prePrepared } of indexed) {
    const entries = prePrepared.get(seq);
    if (entries?.some((e) => e.view >= candidate.view && bytesEqual(e.digest, candidate.digest))) count++;
  }
  return count >= weakQuorumOf(f);
}

function conditionB(seq: number, indexed: readonly Indexed[], f: number): boolean {
  let count = 0;
  for (const { message, prepared } of indexed) {
    if (message.stableSeq < seq && !prepared.has(seq)) count++;
  }
  return count >= quorumOf(f);
}

/** Finds a batch body for a digest among the VIEW-CHANGEs, trusting it only if it hashes to the digest. */
class BodyFinder {
  private readonly verified = new Map<string, BatchBody | null>();

  constructor(
    private readonly viewChanges: readonly ViewChange[],
    private readonly batchDigest: (body: BatchBody) => Uint8Array,
  ) {}

  find(digest: Uint8Array): BatchBody | null {
    const key = hexOf(digest);
    const cached = this.verified.get(key);
    if (cached !== undefined) return cached;
    let found: BatchBody | null = null;
    for (const message of this.viewChanges) {
      for (const batch of message.batches) {
        if (found !== null) break;
        if (bytesEqual(batch.digest, digest) && bytesEqual(this.batchDigest(batch), digest)) {
          found =
            batch.special === undefined
              ? { requests: batch.requests }
              : { requests: [], special: batch.special };
        }
      }
    }
    this.verified.set(key, found);
    return found;
  }
}
