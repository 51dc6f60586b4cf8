/**
 * A replica's protocol state for one (view, seq) of its log window (PBFT section 4.2). Owned and
 * changed by the replica core (replica.ts); collaborators get it read-only (replica-core.ts).
 */
import type { PrePrepare } from "../messages.js";
import type { VoteSet } from "./quorum.js";

/** Protocol state for one (view, seq) in the window (PBFT section 4.2). */
export interface Slot {
  readonly seq: number;
  readonly view: number;
  prePrepare: PrePrepare | null;
  readonly prepareVotes: VoteSet;
  readonly commitVotes: VoteSet;
  prepareSent: boolean;
  commitSent: boolean;
  prepared: boolean;
  committed: boolean;
  /** When we accepted (or, as primary, sent) the PRE-PREPARE: Toe runs from here (section 3.2). */
  acceptedAtMs: number;
  /**
   * The primary's PRE-PREPARE (digest checked) that we could not yet take because a request in it
   * was not authenticated for us: taken once we hold each such request from its client, or once
   * a quorum vouches for the digest (takeParkedPrePrepare).
   */
  parked: PrePrepare | null;
}
