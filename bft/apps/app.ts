/**
 * The replicated service's contract. An application is a deterministic state machine: the same
 * operations in the same order give the same results and the same state digest on every correct
 * replica. The replica core calls it synchronously; it must not read clocks or randomness.
 */
export interface Application {
  /** Runs one operation and returns its result. Must not throw on any input bytes (reply with an error result instead). */
  execute(operation: Uint8Array, clientId: number): Uint8Array;
  /**
   * Captures the state as it is now. The returned snapshot stays consistent with this moment even as
   * later operations run (copy-on-write or a copy); its bytes are produced lazily, only when a state
   * transfer needs them.
   */
  checkpoint(): AppSnapshot;
  /** Replaces the whole state with a snapshot's bytes. Returns false (state unchanged) on malformed bytes. */
  restore(bytes: Uint8Array): boolean;
  /**
   * The digest the state would have after restore(bytes), computed without changing the state;
   * undefined on malformed bytes. State transfer checks a received copy with it before installing.
   * App digests need not be a hash of the bytes (kv keeps an incremental digest), so a receiver
   * cannot simply hash what it got.
   */
  snapshotDigest(bytes: Uint8Array): Uint8Array | undefined;
}

export interface AppSnapshot {
  /** Digest of the state at capture; equals the digest a replica computes after restore(bytes()). */
  readonly digest: Uint8Array;
  /** Size of bytes() without producing them. */
  readonly sizeBytes: number;
  bytes(): Uint8Array;
}
