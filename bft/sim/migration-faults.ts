/**
 * Migration faults for whole-system runs (paper section 3.2), chosen by the seed on top of the
 * usual swarm plan (fault-plan.ts). One per run:
 *
 * - wrongStateSender: replica 0 is Byzantine with `wrongState`: as the designated state sender
 *   (the lowest non-source id) it serves corrupt checkpoint chunks; targets must reject the copy
 *   (it does not hash to the certified C) and fetch from the next replica.
 * - targetCrash: a migration target crashes a few ms into its state fetch and comes back as a
 *   fresh standby core later; replicas' MIGRATE-NOW retransmissions restart the transfer (or the
 *   CM's failed probes trigger an on-demand migration of that id).
 * - nonComplyingSource: one replica is Byzantine (`replay`); when it is migrated it keeps running
 *   and sending, never complies, and the CM must cut off its NICs at the compliance deadline.
 * - withholdMigration: replica 0 (the primary of view 0) is Byzantine and never sends the
 *   PRE-PREPARE of a MIGRATION-REQUEST; backups' view-change timers replace it.
 * - lyingNewPrimary: replica 1 (the primary of view 1) is Byzantine and, whenever it leads a new
 *   view, sends a correctly signed NEW-VIEW whose PRE-PREPAREs contradict its VIEW-CHANGEs; replica
 *   0 is cut off by a partition once the standbys registered (asynchrony, not a fault) so that
 *   view 1 comes.
 *   Backups reject the NEW-VIEW, hold proof of the lie and migrate replica 1 on demand (section 3.4).
 * - none: only the swarm plan's faults. The primary is migrated in every run that reaches the
 *   round whose sources include it (DESIGN section 5: within any four consecutive rounds).
 *
 * The fault budget stays within f: the Byzantine replica these add is part of the swarm plan's
 * Byzantine set (so its crash windows account for it), moved to the id the fault needs by
 * swapping two ids throughout the plan; targetCrash runs without Byzantine replicas or planned
 * crashes, since the crashed target is itself the fault.
 */
import { assert } from "../assert.js";
import type { Principal } from "../messages.js";
import { defaultReplicaConfig } from "../replica/index.js";
import type { ByzantineKind } from "./byzantine-kinds.js";
import { createFaultPlan, type FaultPlan, type FaultPlanOptions } from "./fault-plan.js";
import type { Prng } from "./prng.js";

export const MIGRATION_FAULT_KINDS = [
  "none",
  "wrongStateSender",
  "targetCrash",
  "nonComplyingSource",
  "withholdMigration",
  "lyingNewPrimary",
] as const;
export type MigrationFaultKind = (typeof MIGRATION_FAULT_KINDS)[number];

/**
 * The faults a random run picks from. lyingNewPrimary is left out: it needs a view change at a
 * chosen moment (it partitions r0 early), so it is exercised by its own fixed runs
 * (test/sim/migration-evidence.test.ts) and by `--migration-fault lyingNewPrimary`.
 */
const RANDOM_MIGRATION_FAULT_KINDS = MIGRATION_FAULT_KINDS.filter((kind) => kind !== "lyingNewPrimary");

export interface MigrationFaultPlan {
  readonly kind: MigrationFaultKind;
  /** targetCrash: which round's first target crashes (0-based by execution order). */
  readonly crashRound: number;
  /** targetCrash: delay after the target's first FETCH-STATE, and how long it stays down. */
  readonly crashDelayMs: number;
  readonly crashDownMs: number;
}

/** The Byzantine kind standing for each fault in the plan (withholdMigration is applied by the host). */
const KIND_FOR_FAULT: Readonly<Record<MigrationFaultKind, ByzantineKind | null>> = {
  none: null,
  wrongStateSender: "wrongState",
  targetCrash: null,
  nonComplyingSource: "replay",
  withholdMigration: "silent",
  lyingNewPrimary: "lyingNewPrimary",
};

/**
 * lyingNewPrimary: when the partition that brings view 1 starts, and how long it lasts at least.
 * It starts after the standbys registered (their JOIN-REQUESTs need a working primary, and a
 * standby gives up after a few retransmissions): earlier, the evidence round found no targets.
 * Backups start a view change a view-change timeout after a client's retransmission (500 ms at
 * first) reaches them, so the partition lasts two timeouts and a second.
 */
const LYING_PARTITION_START_MS_MIN = 1200;
const LYING_PARTITION_START_MS_MAX = 2000;
const LYING_PARTITION_MS_MIN = 3000;
const LYING_PARTITION_SLACK_MS = 1000;
/** Replicas without seed tuning (--faults none) use the default timeout. */
const DEFAULT_VIEW_CHANGE_TIMEOUT_MS = defaultReplicaConfig(1, 0).viewChangeTimeoutMs;

export function chooseMigrationFault(prng: Prng, fixed: MigrationFaultKind | "random"): MigrationFaultPlan {
  const kind = fixed === "random" ? prng.pick(RANDOM_MIGRATION_FAULT_KINDS) : fixed;
  return {
    kind,
    crashRound: prng.int(0, 2),
    crashDelayMs: prng.int(0, 20),
    crashDownMs: prng.pick([300, 1000, 2500]),
  };
}

/** The swarm plan adjusted for the migration fault (see the module comment). */
export function createMigrationFaultPlan(
  options: FaultPlanOptions,
  fault: MigrationFaultPlan,
  prng: Prng,
): FaultPlan {
  const kind = KIND_FOR_FAULT[fault.kind];
  if (fault.kind === "targetCrash") {
    const plan = createFaultPlan({ ...options, byzantineKinds: [] }, prng);
    return { ...plan, crashes: [] };
  }
  if (kind === null) return createFaultPlan(options, prng);
  const plan = createFaultPlan({ ...options, byzantineKinds: [kind] }, prng);
  const chosen = plan.byzantine[0];
  assert(chosen !== undefined, "the fault's Byzantine replica is in the plan");
  if (fault.kind === "lyingNewPrimary")
    return withViewOneComing(swapReplicaIds(plan, chosen.replicaId, 1), prng);
  const needsZero = fault.kind === "wrongStateSender" || fault.kind === "withholdMigration";
  return needsZero ? swapReplicaIds(plan, chosen.replicaId, 0) : plan;
}

/**
 * The plan plus a partition that cuts replica 0 (the primary of view 0) off, long enough
 * for the others to change view (two view-change timeouts at least), so replica 1 leads view 1.
 * Healing waits for the partition's end (with --faults none the plan would heal at once).
 */
function withViewOneComing(plan: FaultPlan, prng: Prng): FaultPlan {
  const startMs = prng.int(LYING_PARTITION_START_MS_MIN, LYING_PARTITION_START_MS_MAX);
  const viewChangeTimeoutMs = plan.replicaTuning?.viewChangeTimeoutMs ?? DEFAULT_VIEW_CHANGE_TIMEOUT_MS;
  const endMs =
    startMs + Math.max(LYING_PARTITION_MS_MIN, 2 * viewChangeTimeoutMs + LYING_PARTITION_SLACK_MS);
  const partition = { startMs, endMs, members: [{ kind: "replica", id: 0 } as const] };
  // A principal is in one island at a time: the seed's partitions that overlap this one give way.
  const others = plan.partitions.filter((other) => other.endMs <= startMs || other.startMs >= endMs);
  return { ...plan, healAtMs: Math.max(plan.healAtMs, endMs), partitions: [partition, ...others] };
}

/** The same plan with replica ids a and b exchanged everywhere (the fault budget is symmetric). */
export function swapReplicaIds(plan: FaultPlan, a: number, b: number): FaultPlan {
  const swap = (id: number) => (id === a ? b : id === b ? a : id);
  const swapPrincipal = (p: Principal): Principal =>
    p.kind === "replica" ? { kind: "replica", id: swap(p.id) } : p;
  return {
    ...plan,
    byzantine: plan.byzantine.map((assignment) => ({ ...assignment, replicaId: swap(assignment.replicaId) })),
    crashes: plan.crashes.map((crash) => ({ ...crash, replicaId: swap(crash.replicaId) })),
    partitions: plan.partitions.map((partition) => ({
      ...partition,
      members: partition.members.map(swapPrincipal),
    })),
  };
}

export function describeMigrationFault(fault: MigrationFaultPlan): string {
  switch (fault.kind) {
    case "none":
      return "migration fault: none";
    case "wrongStateSender":
      return "migration fault: r0 (designated state sender) serves corrupt state";
    case "targetCrash":
      return (
        `migration fault: the first target of round ${fault.crashRound} crashes ${fault.crashDelayMs}ms` +
        ` into its fetch, down ${fault.crashDownMs}ms`
      );
    case "nonComplyingSource":
      return "migration fault: the Byzantine replica keeps sending after it is migrated (never complies)";
    case "withholdMigration":
      return "migration fault: r0 withholds MIGRATION-REQUEST PRE-PREPAREs (replaces its plan kind)";
    case "lyingNewPrimary":
      return "migration fault: r1 signs lying NEW-VIEWs as a new primary; r0 is partitioned after registration to bring view 1";
  }
}
