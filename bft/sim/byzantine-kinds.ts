/** The Byzantine behaviours the simulator can give a replica (see byzantine.ts for what each does). */
export const BYZANTINE_KINDS = [
  /** As primary, sends different PRE-PREPAREs for one (view, seq) to different backups. */
  "equivocate",
  /** Corrupts the digest in its PREPARE, COMMIT and CHECKPOINT messages (MACs stay valid). */
  "wrongDigest",
  /** Corrupts the authenticator bytes of its frames. */
  "badMac",
  /** Sends nothing at all. */
  "silent",
  /** Re-sends frames it sent earlier, to their receivers and to others. */
  "replay",
  /** Sends random bytes and mutated copies of its frames to everyone. */
  "flood",
  /** Serves corrupt state chunks (with the right digest claims) during state transfer. */
  "wrongState",
  /** Replies to clients with wrong results. */
  "wrongReply",
] as const;

/**
 * Kinds a seed never picks at random (adding one to BYZANTINE_KINDS would change every seed's
 * plan): a migration fault places them where they can act (migration-faults.ts).
 */
export const TARGETED_BYZANTINE_KINDS = [
  /**
   * As a new primary, sends a NEW-VIEW whose PRE-PREPAREs do not follow from its VIEW-CHANGEs (a
   * prepared batch dropped, or a digest changed), correctly signed by its node: evidence that
   * gets it migrated (paper section 3.4).
   */
  "lyingNewPrimary",
] as const;

export type ByzantineKind = (typeof BYZANTINE_KINDS)[number] | (typeof TARGETED_BYZANTINE_KINDS)[number];

export function isByzantineKind(value: string): value is ByzantineKind {
  return (
    (BYZANTINE_KINDS as readonly string[]).includes(value) ||
    (TARGETED_BYZANTINE_KINDS as readonly string[]).includes(value)
  );
}
