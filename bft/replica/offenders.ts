/**
 * The replica's record of proven-faulty replicas (section 3.4 evidence, see evidence.ts): one
 * entry per logical id, naming the node that offended, so the id is migrated only while that
 * node still runs it, and a floor per id below which proofs are replays. Bounded by 3f+1 entries.
 * Local state, not replicated: each correct replica acts on proofs it verified itself, and the
 * on-demand round that follows needs 2f+1 matching INIT-MIGRATIONs (so f+1 correct replicas that
 * verified the same proof) before it is ordered.
 */
import { assert } from "../assert.js";
import type { Evidence, MigrationPair } from "../messages.js";
import type { EvidenceVerdict } from "./evidence.js";

export interface OffenderRecord {
  readonly offenderId: number;
  readonly nodeId: number;
  readonly view: number;
  /** The proof as first verified here, kept to forward to peers that missed it. */
  readonly evidence: Evidence;
}

export type EvidenceStaleness = "duplicate" | "stale" | null;

export class Offenders {
  private readonly records: (OffenderRecord | undefined)[];
  /** Per id: the view in which it last moved to another node; older proofs name an earlier holder. */
  private readonly viewFloors: number[];

  constructor(private readonly replicaCount: number) {
    this.records = new Array<OffenderRecord | undefined>(replicaCount).fill(undefined);
    this.viewFloors = new Array<number>(replicaCount).fill(-1);
  }

  /**
   * Whether a proof is not worth verifying: its offender is proven already against the same node
   * (the same evidence twice, or another proof of the same fault), or its view is not above the
   * view in which the id last moved (a replay of a proof against an earlier holder).
   */
  staleness(evidence: Evidence): EvidenceStaleness {
    const offenderId = evidence.newView.replicaId;
    if (offenderId < 0 || offenderId >= this.replicaCount) return null; // verifyEvidence refuses it
    if (this.records[offenderId]?.nodeId === evidence.offenderNodeId) return "duplicate";
    if (evidence.newView.view <= this.viewFloors[offenderId]!) return "stale";
    return null;
  }

  record(evidence: Evidence, verdict: Extract<EvidenceVerdict, { ok: true }>): OffenderRecord {
    assert(verdict.offenderId === evidence.newView.replicaId, "the verdict is about this proof");
    assert(verdict.offenderId >= 0 && verdict.offenderId < this.replicaCount, "offender is a replica id");
    const record: OffenderRecord = {
      offenderId: verdict.offenderId,
      nodeId: verdict.offenderNodeId,
      view: evidence.newView.view,
      evidence,
    };
    this.records[verdict.offenderId] = record;
    return record;
  }

  get(offenderId: number): OffenderRecord | undefined {
    return this.records[offenderId];
  }

  /** Proven ids whose offending node still runs them, ascending, at most f (one on-demand round). */
  liveIds(nodeOf: (replicaId: number) => number, f: number): number[] {
    const ids: number[] = [];
    for (const record of this.records) {
      if (record === undefined || nodeOf(record.offenderId) !== record.nodeId) continue;
      if (ids.length < f) ids.push(record.offenderId);
    }
    assert(ids.length <= f, "at most f sources per round");
    return ids;
  }

  /**
   * An executed round moved these ids off their nodes in `view`: proofs against the old holders
   * are spent, and any proof for a view up to this one names an earlier holder.
   */
  migrated(pairs: readonly MigrationPair[], view: number): void {
    for (const pair of pairs) {
      const id = pair.replicaId;
      if (id < 0 || id >= this.replicaCount) continue;
      if (this.records[id]?.nodeId === pair.sourceNodeId) this.records[id] = undefined;
      this.viewFloors[id] = Math.max(this.viewFloors[id]!, view);
    }
  }
}
