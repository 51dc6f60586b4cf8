/**
 * Our own checkpoints by seq (PBFT section 4.3) and the serving side of state transfer (section
 * 5.3): a lagging replica, or a migration target fetching the round's state (paper section 3.2),
 * asks for one chunk at a time of the state behind a checkpoint digest. The encoded state is built
 * on the first request for it and kept with the checkpoint. Which checkpoints are kept is the
 * core's rule (Replica.checkpointNeeded, bounded by Replica.ownCheckpointsMax); this store holds
 * them, drops what that rule refuses, and serves the rest. The fetching side is state-transfer.ts.
 */
import type { AppSnapshot } from "../apps/app.js";
import { bytesEqual } from "../bytes.js";
import type { Checkpoint, FetchState, StateChunk } from "../messages.js";
import { encodeState } from "./state-encoding.js";
import { stateChunkOf } from "./state-transfer.js";

/** One of our own checkpoints, kept until a later one is stable so we can serve state transfer. */
export interface OwnCheckpoint {
  readonly message: Checkpoint;
  readonly clientTableBytes: Uint8Array;
  readonly appSnapshot: AppSnapshot;
  readonly middlewareBytes: Uint8Array;
  /** The encoded state, built on the first FETCH-STATE for it. */
  stateBytes: Uint8Array | null;
}

/** Why a FETCH-STATE gets no chunk (the core counts it as a drop of that reason). */
export type ServeRefusal = "unknownCheckpoint" | "badChunk";

export class OwnCheckpoints {
  private readonly bySeq = new Map<number, OwnCheckpoint>();

  get size(): number {
    return this.bySeq.size;
  }

  get(seq: number): OwnCheckpoint | undefined {
    return this.bySeq.get(seq);
  }

  has(seq: number): boolean {
    return this.bySeq.has(seq);
  }

  set(seq: number, own: OwnCheckpoint): void {
    this.bySeq.set(seq, own);
  }

  clear(): void {
    this.bySeq.clear();
  }

  /** Seqs in the order the checkpoints were taken or installed. */
  keys(): IterableIterator<number> {
    return this.bySeq.keys();
  }

  /** In the order taken or installed, as a VIEW-CHANGE and a STATUS answer list them. */
  values(): IterableIterator<OwnCheckpoint> {
    return this.bySeq.values();
  }

  /** Drops every checkpoint whose seq `needed` refuses (Replica.checkpointNeeded). */
  retain(needed: (seq: number) => boolean): void {
    for (const seq of this.bySeq.keys()) if (!needed(seq)) this.bySeq.delete(seq);
  }

  /**
   * The chunk a FETCH-STATE asks for, stamped with `replicaId` (ours). Only a checkpoint we hold
   * with exactly the requested digest is served: the requester checks the reassembled state
   * against its certified digest anyway, and a copy of some other state would only waste a fetch.
   */
  serve(request: FetchState, replicaId: number): StateChunk | ServeRefusal {
    const own = this.bySeq.get(request.seq);
    if (own === undefined || !bytesEqual(own.message.stateDigest, request.stateDigest))
      return "unknownCheckpoint";
    own.stateBytes ??= encodeState({
      clientTableBytes: own.clientTableBytes,
      appDigest: own.appSnapshot.digest,
      middlewareBytes: own.middlewareBytes,
      appBytes: own.appSnapshot.bytes(),
    });
    const chunk = stateChunkOf({
      stateBytes: own.stateBytes,
      seq: request.seq,
      stateDigest: own.message.stateDigest,
      chunkIndex: request.chunkIndex,
      replicaId,
    });
    return chunk ?? "badChunk";
  }
}
