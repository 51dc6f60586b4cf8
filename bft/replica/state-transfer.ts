/**
 * Fetching a certified checkpoint's state, chunk by chunk, from one replica at a time (PBFT
 * section 5.3, simplified to whole-state transfer). The caller supplies the certified
 * (seq, stateDigest) -- from f+1 matching CHECKPOINTs, a NEW-VIEW decision, or, for migration,
 * 2f+1 MIGRATE-NOW digests -- and the replicas to ask. This module only moves and reassembles
 * bytes; the caller verifies the reassembled state against the digest and calls rejectCopy() when
 * it is wrong, which moves on to the next source. It is pure: requests are returned, not sent.
 */
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { DIGEST_BYTES, STATE_BYTES_MAX, STATE_CHUNK_BYTES_MAX } from "../limits.js";
import type { FetchState, StateChunk } from "../messages.js";

export interface StateFetchOptions {
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  /** Replica ids to ask, in order of preference; rotated on timeout or a wrong copy. */
  readonly sources: readonly number[];
  /** Our own id, stamped on FETCH-STATE. */
  readonly requesterId: number;
}

export interface FetchRequest {
  readonly to: number;
  readonly message: FetchState;
}

export type ChunkResult =
  | { readonly kind: "ignored"; readonly reason: "wrongSource" | "wrongCheckpoint" | "badChunk" }
  | { readonly kind: "next"; readonly request: FetchRequest }
  | { readonly kind: "complete"; readonly bytes: Uint8Array; readonly source: number };

export class StateFetch {
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  private readonly sources: readonly number[];
  private readonly requesterId: number;
  private sourceIndex = 0;
  private chunkNext = 0;
  private buffer: Uint8Array | null = null;
  private chunkCount = 0;
  private chunkBytes = 0;
  /** Copies that reassembled but failed verification (a Byzantine or stale source). */
  badCopies = 0;
  /** Times the fetch moved to another source. */
  rotations = 0;

  constructor(options: StateFetchOptions) {
    assert(Number.isSafeInteger(options.seq) && options.seq > 0, "fetch a checkpoint above genesis");
    assert(options.stateDigest.length === DIGEST_BYTES, "certified digest length");
    assert(options.sources.length > 0, "someone to ask");
    assert(!options.sources.includes(options.requesterId), "never ask ourselves");
    this.seq = options.seq;
    this.stateDigest = options.stateDigest;
    this.sources = [...options.sources];
    this.requesterId = options.requesterId;
  }

  get source(): number {
    const source = this.sources[this.sourceIndex % this.sources.length];
    assert(source !== undefined, "source index in range");
    return source;
  }

  /** The FETCH-STATE for the next chunk we need, addressed to the current source. */
  request(): FetchRequest {
    return {
      to: this.source,
      message: {
        type: "FetchState",
        seq: this.seq,
        stateDigest: this.stateDigest,
        chunkIndex: this.chunkNext,
        replicaId: this.requesterId,
      },
    };
  }

  /** The source did not answer in time: ask the next one from the first chunk. */
  rotate(): FetchRequest {
    this.rotations++;
    this.sourceIndex = (this.sourceIndex + 1) % this.sources.length;
    this.restart();
    return this.request();
  }

  /** The reassembled state did not verify: count it and ask the next source. */
  rejectCopy(): FetchRequest {
    this.badCopies++;
    return this.rotate();
  }

  onChunk(fromId: number, chunk: StateChunk): ChunkResult {
    if (fromId !== this.source) return { kind: "ignored", reason: "wrongSource" };
    if (chunk.seq !== this.seq || !bytesEqual(chunk.stateDigest, this.stateDigest)) {
      return { kind: "ignored", reason: "wrongCheckpoint" };
    }
    if (chunk.chunkIndex !== this.chunkNext || !this.acceptShape(chunk)) {
      return { kind: "ignored", reason: "badChunk" };
    }
    const buffer = this.buffer;
    assert(buffer !== null, "shape accepted implies a buffer");
    buffer.set(chunk.bytes, chunk.chunkIndex * this.chunkBytes);
    this.chunkNext++;
    if (this.chunkNext < this.chunkCount) return { kind: "next", request: this.request() };
    assert(this.chunkNext === this.chunkCount, "all chunks in");
    return { kind: "complete", bytes: buffer, source: fromId };
  }

  /** Checks a chunk's claimed sizes against the first chunk's, so reassembly is bounded. */
  private acceptShape(chunk: StateChunk): boolean {
    if (chunk.chunkIndex === 0) {
      const total = chunk.totalBytes;
      const size = chunk.bytes.length;
      if (!Number.isSafeInteger(total) || total <= 0 || total > STATE_BYTES_MAX) return false;
      if (size === 0 || size > STATE_CHUNK_BYTES_MAX || size > total) return false;
      if (chunk.chunkCount !== Math.ceil(total / size)) return false;
      this.buffer = new Uint8Array(total);
      this.chunkCount = chunk.chunkCount;
      this.chunkBytes = size;
      return true;
    }
    const buffer = this.buffer;
    if (buffer === null) return false;
    if (chunk.totalBytes !== buffer.length || chunk.chunkCount !== this.chunkCount) return false;
    const expectedBytes = Math.min(this.chunkBytes, buffer.length - chunk.chunkIndex * this.chunkBytes);
    return chunk.bytes.length === expectedBytes;
  }

  private restart(): void {
    this.chunkNext = 0;
    this.buffer = null;
    this.chunkCount = 0;
    this.chunkBytes = 0;
  }
}

/** Serving side: the chunk at index of state bytes, or null when the index is out of range. */
export function stateChunkOf(options: {
  readonly stateBytes: Uint8Array;
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  readonly chunkIndex: number;
  readonly replicaId: number;
  readonly chunkBytes?: number;
}): StateChunk | null {
  const chunkBytes = options.chunkBytes ?? STATE_CHUNK_BYTES_MAX;
  assert(chunkBytes > 0 && chunkBytes <= STATE_CHUNK_BYTES_MAX, "chunk size in range");
  assert(options.stateBytes.length > 0, "state is never empty (it has a header)");
  const chunkCount = Math.ceil(options.stateBytes.length / chunkBytes);
  if (
    !Number.isSafeInteger(options.chunkIndex) ||
    options.chunkIndex < 0 ||
    options.chunkIndex >= chunkCount
  ) {
    return null;
  }
  const start = options.chunkIndex * chunkBytes;
  return {
    type: "StateChunk",
    seq: options.seq,
    stateDigest: options.stateDigest,
    chunkIndex: options.chunkIndex,
    chunkCount,
    totalBytes: options.stateBytes.length,
    bytes: options.stateBytes.subarray(start, Math.min(start + chunkBytes, options.stateBytes.length)),
    replicaId: options.replicaId,
  };
}
