/**
 * Quorum sizes and vote counting (PBFT section 4: n = 3f+1; prepared needs 2f matching PREPAREs
 * from backups, committed and stable need 2f+1, f+1 matching messages contain one correct sender).
 */
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { FAULTS_MAX, REPLICAS_MAX } from "../limits.js";

export function replicaCountOf(f: number): number {
  assert(Number.isInteger(f) && f >= 1 && f <= FAULTS_MAX, "f in range");
  return 3 * f + 1;
}

/** 2f+1: any two such sets intersect in at least one correct replica. */
export function quorumOf(f: number): number {
  return 2 * f + 1;
}

/** f+1: at least one member is correct. */
export function weakQuorumOf(f: number): number {
  return f + 1;
}

/** The primary of view v is v mod n (PBFT section 4.1). */
export function primaryOf(view: number, replicaCount: number): number {
  assert(Number.isSafeInteger(view) && view >= 0, "view is a safe non-negative integer");
  assert(replicaCount >= 4 && replicaCount <= REPLICAS_MAX, "replica count in range");
  return view % replicaCount;
}

/**
 * One vote per replica id, so a Byzantine replica cannot inflate a count by repeating itself. A
 * replica's first vote sticks: a second, different vote for the same slot is equivocation.
 */
export class VoteSet {
  private readonly votes: (Uint8Array | undefined)[];

  constructor(replicaCount: number) {
    assert(replicaCount >= 4 && replicaCount <= REPLICAS_MAX, "replica count in range");
    this.votes = new Array<Uint8Array | undefined>(replicaCount).fill(undefined);
  }

  /** Returns "added", "duplicate" (same vote again) or "conflict" (a different vote). */
  add(replicaId: number, digest: Uint8Array): "added" | "duplicate" | "conflict" {
    assert(replicaId >= 0 && replicaId < this.votes.length, "voter is a replica");
    const previous = this.votes[replicaId];
    if (previous === undefined) {
      this.votes[replicaId] = digest;
      return "added";
    }
    return bytesEqual(previous, digest) ? "duplicate" : "conflict";
  }

  has(replicaId: number): boolean {
    return this.votes[replicaId] !== undefined;
  }

  get(replicaId: number): Uint8Array | undefined {
    return this.votes[replicaId];
  }

  /** Voters whose vote equals digest; at most n, so the scan is bounded by REPLICAS_MAX. */
  countMatching(digest: Uint8Array): number {
    let count = 0;
    for (const vote of this.votes) {
      if (vote !== undefined && bytesEqual(vote, digest)) count++;
    }
    assert(count <= this.votes.length, "count bounded by n");
    return count;
  }

  votersMatching(digest: Uint8Array): number[] {
    const voters: number[] = [];
    this.votes.forEach((vote, replicaId) => {
      if (vote !== undefined && bytesEqual(vote, digest)) voters.push(replicaId);
    });
    return voters;
  }
}
