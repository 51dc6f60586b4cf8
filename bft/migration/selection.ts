/**
 * Source and target choice for a migration round (paper section 3.2 "Migration Set Selection",
 * section 3.4; DESIGN.md section 5). Every function here is deterministic: all correct replicas
 * compute the same sets from the same replicated inputs, which is what lets a replica check the
 * S and D of an INIT-MIGRATION against its own choice.
 *
 * Sources are logical replica ids (0..3f); targets are node ids of registered standby nodes.
 */
import { assert } from "../assert.js";
import { FAULTS_MAX } from "../limits.js";
import type { MigrationPair } from "../messages.js";
import { NODES_MAX } from "./limits.js";

export interface StandbyCandidate {
  readonly nodeId: number;
  /** Join time the primary assigned when the JOIN-REQUEST was ordered (section 3.1). */
  readonly joinTimeMs: number;
}

/** The chosen target node ids, best first, or why there are not enough (migration is postponed). */
export type TargetSelection =
  | { readonly ok: true; readonly targets: readonly number[] }
  | {
      readonly ok: false;
      readonly reason: "notEnoughStandbys";
      readonly needed: number;
      readonly available: number;
    };

export type OnDemandSelection =
  | { readonly ok: true; readonly sources: readonly number[]; readonly targets: readonly number[] }
  | {
      readonly ok: false;
      readonly reason: "notEnoughStandbys";
      readonly needed: number;
      readonly available: number;
    }
  | { readonly ok: false; readonly reason: "invalidSources"; readonly detail: string };

function assertF(f: number): void {
  assert(Number.isSafeInteger(f) && f >= 1 && f <= FAULTS_MAX, "f is an integer in 1..FAULTS_MAX");
}

/**
 * The f logical replica ids migrated in round `round` (the migration number l).
 *
 * DESIGN.md section 5: order the ids 3f, 3f-1, ..., 1, 0 and repeat that order forever; round l
 * takes positions l*f .. l*f+f-1. Four consecutive rounds span 4f >= 3f+1 consecutive positions,
 * so they recover every replica at least once. For f > 2 this is exactly the paper's example
 * (round 3 is 0, 3f, ..., 2f+2).
 */
export function selectSources(options: { readonly f: number; readonly round: number }): number[] {
  const { f, round } = options;
  assertF(f);
  assert(Number.isSafeInteger(round) && round >= 0, "round is a non-negative safe integer");
  const replicaCount = 3 * f + 1;
  // Reduce first so round * f cannot leave the safe-integer range for huge round numbers.
  const start = ((round % replicaCount) * f) % replicaCount;
  const sources: number[] = [];
  for (let offset = 0; offset < f; offset++) {
    const position = (start + offset) % replicaCount;
    sources.push(3 * f - position);
  }
  assert(new Set(sources).size === f, "a round's sources are distinct (f < 3f+1)");
  return sources;
}

/**
 * Orders standbys for target choice: most recent join time first (least time since
 * sanitization, section 3.2), ties by ascending node id. Exported so callers and tests share the
 * exact order.
 */
export function compareTargetPreference(a: StandbyCandidate, b: StandbyCandidate): number {
  if (a.joinTimeMs !== b.joinTimeMs) return b.joinTimeMs - a.joinTimeMs;
  return a.nodeId - b.nodeId;
}

/**
 * The `count` standbys with the most recent join time, ties by ascending node id, skipping
 * `exclude`. Fewer than `count` available is a result, not a throw: the migration is postponed.
 */
function chooseTargets(
  standbys: readonly StandbyCandidate[],
  count: number,
  exclude: readonly number[],
): TargetSelection {
  assert(standbys.length <= NODES_MAX, "standby list within NODES_MAX");
  const seen = new Set<number>();
  for (const standby of standbys) {
    assert(Number.isSafeInteger(standby.nodeId) && standby.nodeId >= 0, "standby node ids are integers");
    assert(Number.isFinite(standby.joinTimeMs), "standby join times are finite");
    assert(!seen.has(standby.nodeId), "standby list holds each node once");
    seen.add(standby.nodeId);
  }
  const excluded = new Set(exclude);
  const eligible = standbys.filter((standby) => !excluded.has(standby.nodeId));
  if (eligible.length < count) {
    return { ok: false, reason: "notEnoughStandbys", needed: count, available: eligible.length };
  }
  const targets = [...eligible]
    .sort(compareTargetPreference)
    .slice(0, count)
    .map((s) => s.nodeId);
  return { ok: true, targets };
}

/**
 * The f migration targets (the D of INIT-MIGRATION, section 3.2). `exclude` removes nodes that
 * must not be chosen, e.g. targets of a round still in progress.
 */
export function selectTargets(options: {
  readonly standbys: readonly StandbyCandidate[];
  readonly f: number;
  readonly exclude?: readonly number[];
}): TargetSelection {
  assertF(options.f);
  return chooseTargets(options.standbys, options.f, options.exclude ?? []);
}

/**
 * On-demand migration (section 3.4): the sources are the named replicas and the same number of
 * targets is chosen by the usual rule. `faulty` may come from evidence or the CM, so it is
 * validated into a result rather than asserted: logical ids in 0..3f, at least one, at most f
 * distinct (more than f faulty replicas is beyond what the protocol tolerates). Sources are
 * returned in the same descending order selectSources uses, so every replica builds the same S.
 */
export function selectOnDemand(options: {
  readonly faulty: readonly number[];
  readonly standbys: readonly StandbyCandidate[];
  readonly f: number;
  readonly exclude?: readonly number[];
}): OnDemandSelection {
  const { faulty, f } = options;
  assertF(f);
  const replicaCount = 3 * f + 1;
  for (const id of faulty) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= replicaCount) {
      return {
        ok: false,
        reason: "invalidSources",
        detail: `replica id ${String(id)} is not in 0..${3 * f}`,
      };
    }
  }
  const sources = [...new Set(faulty)].sort((a, b) => b - a);
  if (sources.length === 0) return { ok: false, reason: "invalidSources", detail: "no replica named" };
  if (sources.length > f) {
    return {
      ok: false,
      reason: "invalidSources",
      detail: `${sources.length} replicas named, at most f=${f}`,
    };
  }
  const targets = chooseTargets(options.standbys, sources.length, options.exclude ?? []);
  if (!targets.ok) return targets;
  return { ok: true, sources, targets: targets.targets };
}

/**
 * P for MIGRATE-NOW (section 3.2): source k is replaced by target k, in selection order, so every
 * replica pairs the same way. `nodeOfReplica` maps a logical id to the node running it now.
 */
export function pairSourcesWithTargets(options: {
  readonly sources: readonly number[];
  readonly targets: readonly number[];
  readonly nodeOfReplica: (replicaId: number) => number;
}): MigrationPair[] {
  const { sources, targets } = options;
  assert(sources.length === targets.length, "as many targets as sources");
  return sources.map((replicaId, index) => ({
    replicaId,
    sourceNodeId: options.nodeOfReplica(replicaId),
    targetNodeId: targets[index]!,
  }));
}
