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
import type { ByzantineKind } from "./byzantine-kinds.js";
import { createFaultPlan, type FaultPlan, type FaultPlanOptions } from "./fault-plan.js";
import type { Prng } from "./prng.js";

export const MIGRATION_FAULT_KINDS = [
  "none",
  "wrongStateSender",
  "targetCrash",
  "nonComplyingSource",
  "withholdMigration",
] as const;
export type MigrationFaultKind = (typeof MIGRATION_FAULT_KINDS)[number];

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
};

export function chooseMigrationFault(prng: Prng, fixed: MigrationFaultKind | "random"): MigrationFaultPlan {
  const kind = fixed === "random" ? prng.pick(MIGRATION_FAULT_KINDS) : fixed;
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
  const needsZero = fault.kind === "wrongStateSender" || fault.kind === "withholdMigration";
  return needsZero ? swapReplicaIds(plan, chosen.replicaId, 0) : plan;
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
  }
}
