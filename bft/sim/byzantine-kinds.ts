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

export type ByzantineKind = (typeof BYZANTINE_KINDS)[number];

export function isByzantineKind(value: string): value is ByzantineKind {
  return (BYZANTINE_KINDS as readonly string[]).includes(value);
}
