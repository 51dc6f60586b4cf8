/**
 * Limits of the migration protocol's building blocks. Relationships are asserted at load.
 */
import { assert } from "../assert.js";
import { FAULTS_MAX, REPLICAS_MAX } from "../limits.js";

/** Nodes (active + standby) a deployment may have; node ids are 0..NODES_MAX-1. */
export const NODES_MAX = 256;
/** Registered standby nodes the active replicas track (paper section 3.1). */
export const STANDBYS_MAX = 128;
/** A node's NIC2 address as text ("host:port"), in characters. */
export const ADDRESS_CHARS_MAX = 128;
/**
 * p0 bounds the interval controller's ring buffer of order-and-execute samples (8 bytes each):
 * one million samples is 8 MB, far above the paper's 10,000.
 */
export const REQUESTS_PER_ROUND_MIN_MAX = 1_000_000;
/**
 * How long a target holds the CM's MEMBERSHIP-CERTIFICATE of its round before f+1 matching
 * MIGRATE-NOWs certify the round with it (StandbyNode.cmVouches). Until then it waits for the
 * paper's 2f+1, which arrive within a few status intervals when they can arrive at all; replicas
 * resend MIGRATE-NOW to an unstarted target once per status interval up to
 * migrateNowRetransmitsMax times (20 x 500 ms in the simulator), so copies keep coming after it.
 */
export const CM_VOUCH_AFTER_MS = 2000;
/** A standby's JOIN-REQUEST retransmissions before it gives up and reports to the CM. */
export const JOIN_RETRANSMIT_COUNT_MAX = 1000;
/**
 * A deployment's MigrationSettings.joinTimeSkewMsMax: how far a primary-assigned join time may be
 * from a backup's clock when the backup judges the JOIN PRE-PREPARE itself (synchronized clocks
 * plus the PRE-PREPARE's delivery). A backup that gets it later accepts it on its peers' votes
 * (Replica.joinTimeAcceptable), so a slow link or a lagging replica needs no more.
 */
export const JOIN_TIME_SKEW_MS_DEFAULT = 1000;
/**
 * Mean order-and-execute times below this are rounded up to it (a simulator may execute in zero
 * simulated time), so Equation 2 never divides by zero. One microsecond.
 */
export const ORDER_EXECUTE_MS_FLOOR = 0.001;

// Every standby must be addressable as a node; the pool also holds the 3f+1 active nodes.
assert(STANDBYS_MAX + REPLICAS_MAX <= NODES_MAX, "standbys and active replicas fit in the node id space");
// Migration needs f targets per round (paper section 2: the pool size is at least f).
assert(STANDBYS_MAX >= FAULTS_MAX, "the standby pool can hold f targets");

/** CM replicas (Paxos group, paper section 2); cm principal ids are 0..CM_REPLICAS_MAX-1. */
export const CM_REPLICAS_MAX = 7;
/** Raw X25519 key-agreement key in KEY-EXCHANGE. */
export const KEY_AGREEMENT_KEY_BYTES = 32;
