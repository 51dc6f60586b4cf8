/**
 * Limits of the configuration manager's core. Relationships are asserted at load.
 */
import { assert } from "../assert.js";
import { REPLICAS_MAX } from "../limits.js";
import { NODES_MAX } from "../migration/index.js";

/** Nodes one CM manages (active + pool). */
export const CM_NODES_MAX = NODES_MAX;
/**
 * Automatic sanitization attempts before a node is declared damaged and an administrator is
 * called (paper section 3.1): attempt 1 reboots, attempt 2 swaps in a clean disk.
 */
export const SANITIZE_ATTEMPTS_MAX = 2;
/** Replicas whose MIGRATE-NOW votes are held: 3f+1 at most. */
export const MIGRATE_NOW_VOTES_MAX = REPLICAS_MAX;
/**
 * Rounds held per replica: its votes for its newest rounds. Replicas resend their MIGRATE-NOWs of
 * the latest MIGRATION_CHECKPOINTS_MAX (2) rounds to the CM, oldest first, their peers' copies
 * too; one vote per replica let a round's copy displace the same author's vote for the other.
 */
export const MIGRATE_NOW_ROUNDS_PER_REPLICA = 2;
/**
 * Effects one step can emit: a tick may probe, time out or sanitize every node, a few effects
 * each (a forced cut-off is 2 NIC effects, a sanitize, a notification and a role record).
 */
export const CM_EFFECTS_PER_STEP_MAX = 8 * CM_NODES_MAX;

assert(MIGRATE_NOW_VOTES_MAX >= 4, "votes hold at least 3f+1 for f=1");
assert(
  MIGRATE_NOW_ROUNDS_PER_REPLICA >= 2,
  "two rounds may be in flight at a replica (MIGRATION_CHECKPOINTS_MAX)",
);
assert(SANITIZE_ATTEMPTS_MAX >= 2, "both reboot and disk swap are tried before calling an administrator");
