/**
 * Migration checks (paper section 3, DESIGN.md section 5), over a format-2 history with migration.
 * Pure: the history and the committed order in, violations out. The checker keeps its own small
 * model of the replicated registry and membership and recomputes every round from the recorded
 * facts, so it does not trust the selection code it judges.
 *
 * - migrationRound: correct replicas agree on each round (pairs, trigger, l, digest); each round
 *   replaces exactly the selected sources (the DESIGN section 5 cyclic rule for timer rounds,
 *   counting only timer rounds; the ids a CM on-demand request named for on-demand rounds, or ids
 *   a correct replica accepted evidence against, section 3.4), each from the node that ran it, with
 *   exactly the selected targets: the registered standbys with the
 *   most recent join time, ties by node id, recomputed from the committed JOIN/LEAVE entries
 *   (`specialOrdered` events whose digest is the one executed at their seq). Every promotion and
 *   retirement belongs to a round's pairs. Evidence may name only Byzantine nodes: no correct
 *   replica accepts evidence against a correct node, and an on-demand round that only evidence
 *   justifies migrates ids from the Byzantine nodes that ran them then.
 * - migrationState: the state a target applied (its `promoted` digest at seq n) equals the
 *   checkpoint digest C the correct replicas sent in MIGRATE-NOW at n (2f+1 matching MIGRATE-NOWs
 *   include f+1 correct ones, so the correct replicas' C is the certified one).
 * - migrationCoverage: any four consecutive timer rounds together migrate every logical id.
 * - standbyTraffic: no client frame reached a node the CM held in the standby pool.
 */
import type { CommittedOrder } from "./agreement.js";
import { type EventOf, type History, type HistoryPair, isCorrect } from "./history.js";
import type { ViolationLog } from "./violation.js";

export interface MigrationStats {
  readonly roundsJudged: number;
  readonly roundsProactive: number;
  readonly roundsOnDemand: number;
  /** Targets not promoted by the end of the recording (a crashed target, or the run ended). */
  readonly targetsPending: number;
  readonly promotionsVerified: number;
  readonly coverageWindows: number;
}

export const MIGRATION_STATS_NONE: MigrationStats = {
  roundsJudged: 0,
  roundsProactive: 0,
  roundsOnDemand: 0,
  targetsPending: 0,
  promotionsVerified: 0,
  coverageWindows: 0,
};

/** CM roles of nodes in the standby pool (bft/cm/types.ts NodeRole): NIC1 is off for all of them. */
const POOL_ROLES: ReadonlySet<string> = new Set([
  "sanitizing",
  "probing",
  "registering",
  "standby",
  "damaged",
]);

/** Timer rounds whose sources together must cover every logical id. */
const COVERAGE_ROUNDS = 4;

/** The DESIGN section 5 rule, written independently of bft/migration/selection.ts. */
export function expectedSources(f: number, round: number): number[] {
  const order: number[] = [];
  for (let id = 3 * f; id >= 0; id -= 1) order.push(id);
  const sources: number[] = [];
  for (let position = round * f; position < round * f + f; position += 1)
    sources.push(order[position % order.length] as number);
  return sources;
}

interface Round {
  readonly seq: number;
  readonly reference: EventOf<"migrationExecuted">;
  readonly correctRecords: number;
}

export function checkMigration(
  history: History,
  order: CommittedOrder,
  violations: ViolationLog,
): MigrationStats {
  if (history.migration === undefined) return MIGRATION_STATS_NONE;
  checkStandbyTraffic(history, violations);
  checkEvidence(history, violations);
  const rounds = collectRounds(history, violations);
  const judged = judgeRounds(history, order, rounds, violations);
  const coverageWindows = checkCoverage(history, rounds, violations);
  return { ...judged, coverageWindows };
}

function checkStandbyTraffic(history: History, violations: ViolationLog): void {
  for (const event of history.events) {
    if (event.kind !== "clientFrameDelivered" || !POOL_ROLES.has(event.cmRole)) continue;
    violations.add({
      check: "standbyTraffic",
      message: "a client frame reached a node in the standby pool (its NIC1 must be disabled)",
      clientId: event.clientId,
      values: { nodeId: event.nodeId, cmRole: event.cmRole, atMs: event.atMs },
    });
  }
}

/**
 * Whether a node was Byzantine during the run: by node id when the history lists Byzantine nodes,
 * else (older histories) by the logical id it ran, which byzantineReplicas lists.
 */
function byzantineNode(history: History, nodeId: number, replicaId: number): boolean {
  const nodes = history.migration?.byzantineNodeIds;
  return nodes !== undefined ? nodes.includes(nodeId) : history.byzantineReplicas.includes(replicaId);
}

/** Section 3.4: a correct replica never accepts evidence against a correct node. */
function checkEvidence(history: History, violations: ViolationLog): void {
  for (const event of history.events) {
    if (event.kind !== "evidenceAccepted" || !isCorrect(history, event.replicaId)) continue;
    if (byzantineNode(history, event.offenderNodeId, event.offenderId)) continue;
    violations.add({
      check: "migrationRound",
      message: "a correct replica accepted evidence against a correct node",
      replicaIds: [event.replicaId],
      values: {
        offenderId: event.offenderId,
        offenderNodeId: event.offenderNodeId,
        view: event.view,
        fault: event.fault,
      },
    });
  }
}

/** "id@node" for every (offender, node) some correct replica accepted evidence against. */
function evidenceNamed(history: History): Set<string> {
  const named = new Set<string>();
  for (const event of history.events)
    if (event.kind === "evidenceAccepted" && isCorrect(history, event.replicaId))
      named.add(`${event.offenderId}@${event.offenderNodeId}`);
  return named;
}

function pairsKey(pairs: readonly HistoryPair[]): string {
  return pairs.map((p) => `${p.replicaId}:${p.sourceNodeId}>${p.targetNodeId}`).join(",");
}

/** One round per seq, from the correct replicas' records, which must agree. */
function collectRounds(history: History, violations: ViolationLog): Round[] {
  const bySeq = new Map<number, { reference: EventOf<"migrationExecuted">; count: number }>();
  for (const event of history.events) {
    if (event.kind !== "migrationExecuted" || !isCorrect(history, event.replicaId)) continue;
    const known = bySeq.get(event.seq);
    if (known === undefined) {
      bySeq.set(event.seq, { reference: event, count: 1 });
      continue;
    }
    known.count += 1;
    const a = known.reference;
    const same =
      pairsKey(a.pairs) === pairsKey(event.pairs) &&
      a.stateDigest === event.stateDigest &&
      a.trigger === event.trigger &&
      a.migrationNumber === event.migrationNumber;
    if (!same) {
      violations.add({
        check: "migrationRound",
        message: "two correct replicas executed different migrations at one seq",
        seq: event.seq,
        replicaIds: [a.replicaId, event.replicaId],
        values: {
          [`pairs@${a.replicaId}`]: pairsKey(a.pairs),
          [`pairs@${event.replicaId}`]: pairsKey(event.pairs),
          [`digest@${a.replicaId}`]: a.stateDigest,
          [`digest@${event.replicaId}`]: event.stateDigest,
        },
      });
    }
  }
  return [...bySeq.entries()]
    .sort(([a], [b]) => a - b)
    .map(([seq, { reference, count }]) => ({ seq, reference, correctRecords: count }));
}

type Committed =
  | {
      readonly seq: number;
      readonly kind: "join";
      readonly nodeId: number;
      readonly counter: number;
      readonly joinTimeMs: number;
    }
  | { readonly seq: number; readonly kind: "leave"; readonly nodeId: number; readonly counter: number };

/** JOIN and LEAVE entries that committed: the recorded proposal's digest is the executed one. */
function committedRegistrations(history: History, order: CommittedOrder): Committed[] {
  const digestBySeq = new Map(order.batches.map((batch) => [batch.seq, batch.digest]));
  const found = new Map<number, Committed>();
  for (const event of history.events) {
    if (event.kind !== "specialOrdered" || !isCorrect(history, event.replicaId)) continue;
    if (digestBySeq.get(event.seq) !== event.digest || found.has(event.seq)) continue;
    const special = event.special;
    if (special.kind === "join") found.set(event.seq, { seq: event.seq, ...special });
    else if (special.kind === "leave") found.set(event.seq, { seq: event.seq, ...special });
  }
  return [...found.values()].sort((a, b) => a.seq - b.seq);
}

/** The checker's model of the replicated registry (join-registry.ts rules, restated). */
class RegistryModel {
  readonly standbys = new Map<number, { joinTimeMs: number; counter: number }>();
  readonly executedCounters = new Map<number, number>();
  readonly active = new Set<number>();
  /** Logical replica id -> node running it. */
  readonly hostOf: number[];

  constructor(replicaCount: number) {
    this.hostOf = Array.from({ length: replicaCount }, (_, id) => id);
    for (let id = 0; id < replicaCount; id += 1) this.active.add(id);
  }

  apply(entry: Committed): void {
    const executed = this.executedCounters.get(entry.nodeId);
    if (entry.kind === "join") {
      if (executed !== undefined && entry.counter <= executed) return;
      if (this.active.has(entry.nodeId)) return;
      this.standbys.set(entry.nodeId, { joinTimeMs: entry.joinTimeMs, counter: entry.counter });
      this.executedCounters.set(entry.nodeId, entry.counter);
      return;
    }
    const record = this.standbys.get(entry.nodeId);
    if (record !== undefined && record.counter > entry.counter) return;
    this.standbys.delete(entry.nodeId);
    this.executedCounters.set(entry.nodeId, Math.max(executed ?? 0, entry.counter));
  }

  /** Most recent join first, ties by node id (DESIGN section 5). */
  preferredTargets(count: number): number[] {
    return [...this.standbys.entries()]
      .sort(([nodeA, a], [nodeB, b]) => b.joinTimeMs - a.joinTimeMs || nodeA - nodeB)
      .slice(0, count)
      .map(([nodeId]) => nodeId);
  }

  migrate(pairs: readonly HistoryPair[]): void {
    for (const pair of pairs) {
      this.standbys.delete(pair.targetNodeId);
      this.active.delete(pair.sourceNodeId);
      this.active.add(pair.targetNodeId);
      this.hostOf[pair.replicaId] = pair.targetNodeId;
    }
  }
}

function sortedText(values: readonly number[]): string {
  return [...values].sort((a, b) => a - b).join(",");
}

function judgeRounds(
  history: History,
  order: CommittedOrder,
  rounds: readonly Round[],
  violations: ViolationLog,
): Omit<MigrationStats, "coverageWindows"> {
  const model = new RegistryModel(history.replicaCount);
  const registrations = committedRegistrations(history, order);
  const onDemandSets = new Set(
    history.events.flatMap((e) => (e.kind === "onDemandRequested" ? [sortedText(e.replicaIds)] : [])),
  );
  const evidence = evidenceNamed(history);
  let next = 0;
  let proactive = 0;
  let onDemand = 0;
  for (const round of rounds) {
    while (next < registrations.length && (registrations[next] as Committed).seq < round.seq) {
      model.apply(registrations[next] as Committed);
      next += 1;
    }
    const event = round.reference;
    const sources = event.pairs.map((pair) => pair.replicaId);
    const targets = event.pairs.map((pair) => pair.targetNodeId);
    const where = { seq: round.seq, replicaIds: [event.replicaId] };
    let expected: number[] | null;
    if (event.trigger === "timer") {
      expected = expectedSources(history.f, proactive);
      proactive += 1;
    } else {
      const cmNamed = onDemandSets.has(sortedText(sources));
      const proven = event.pairs.every((pair) => evidence.has(`${pair.replicaId}@${pair.sourceNodeId}`));
      expected = cmNamed || proven ? sources : null;
      if (!cmNamed && proven) checkEvidenceRound(history, event, where, violations);
      onDemand += 1;
    }
    if (expected === null || sortedText(expected) !== sortedText(sources)) {
      violations.add({
        check: "migrationRound",
        message:
          event.trigger === "timer"
            ? "a timer round migrated other sources than the cyclic rule selects"
            : "an on-demand round migrated replicas no CM request named and no evidence proved faulty",
        ...where,
        values: {
          sources: sortedText(sources),
          expected: expected === null ? null : sortedText(expected),
          round: proactive - 1,
        },
      });
    }
    for (const pair of event.pairs) {
      if (model.hostOf[pair.replicaId] === pair.sourceNodeId) continue;
      violations.add({
        check: "migrationRound",
        message: "a round's source node is not the node that ran the replica",
        ...where,
        values: {
          replicaId: pair.replicaId,
          sourceNodeId: pair.sourceNodeId,
          host: model.hostOf[pair.replicaId] ?? null,
        },
      });
    }
    const expectedTargets = model.preferredTargets(sources.length);
    if (sortedText(expectedTargets) !== sortedText(targets)) {
      violations.add({
        check: "migrationRound",
        message: "a round chose other targets than the standbys with the most recent join times",
        ...where,
        values: {
          targets: sortedText(targets),
          expected: sortedText(expectedTargets),
          registry: [...model.standbys.entries()].map(([node, r]) => `${node}@${r.joinTimeMs}`).join(","),
        },
      });
    }
    model.migrate(event.pairs);
  }
  const promotion = checkPromotions(history, rounds, violations);
  checkRetirements(history, rounds, violations);
  return {
    roundsJudged: rounds.length,
    roundsProactive: proactive,
    roundsOnDemand: onDemand,
    ...promotion,
  };
}

/** An on-demand round only evidence justifies: each source was run by a Byzantine node then. */
function checkEvidenceRound(
  history: History,
  event: EventOf<"migrationExecuted">,
  where: { seq: number; replicaIds: number[] },
  violations: ViolationLog,
): void {
  for (const pair of event.pairs) {
    if (byzantineNode(history, pair.sourceNodeId, pair.replicaId)) continue;
    violations.add({
      check: "migrationRound",
      message: "an evidence round migrated a replica whose node was correct",
      ...where,
      values: { replicaId: pair.replicaId, sourceNodeId: pair.sourceNodeId },
    });
  }
}

/** Each promotion belongs to a round and installs exactly the certified migration checkpoint. */
function checkPromotions(
  history: History,
  rounds: readonly Round[],
  violations: ViolationLog,
): { targetsPending: number; promotionsVerified: number } {
  const bySeq = new Map(rounds.map((round) => [round.seq, round]));
  const promotedTargets = new Set<string>();
  let promotionsVerified = 0;
  for (const event of history.events) {
    if (event.kind !== "promoted") continue;
    const round = bySeq.get(event.seq);
    const pair = round?.reference.pairs.find((p) => p.targetNodeId === event.nodeId);
    if (round === undefined || pair === undefined || pair.replicaId !== event.replicaId) {
      violations.add({
        check: "migrationRound",
        message: "a node was promoted although no executed round named it as the target",
        seq: event.seq,
        replicaIds: [event.replicaId],
        values: { nodeId: event.nodeId },
      });
      continue;
    }
    promotedTargets.add(`${event.seq}:${event.nodeId}`);
    // f+1 correct records are needed to know C; fewer (too few correct replicas recorded) cannot judge.
    if (round.correctRecords < history.f + 1) continue;
    promotionsVerified += 1;
    if (event.stateDigest !== round.reference.stateDigest) {
      violations.add({
        check: "migrationState",
        message:
          "a promoted target applied state whose digest differs from the MIGRATE-NOW checkpoint digest",
        seq: event.seq,
        replicaIds: [event.replicaId],
        values: {
          nodeId: event.nodeId,
          appliedDigest: event.stateDigest,
          agreedDigest: round.reference.stateDigest,
        },
      });
    }
  }
  let targetsPending = 0;
  for (const round of rounds)
    for (const pair of round.reference.pairs)
      if (!promotedTargets.has(`${round.seq}:${pair.targetNodeId}`)) targetsPending += 1;
  return { targetsPending, promotionsVerified };
}

function checkRetirements(history: History, rounds: readonly Round[], violations: ViolationLog): void {
  const bySeq = new Map(rounds.map((round) => [round.seq, round]));
  for (const event of history.events) {
    if (event.kind !== "retired" || !isCorrect(history, event.replicaId)) continue;
    const pair = bySeq.get(event.seq)?.reference.pairs.find((p) => p.replicaId === event.replicaId);
    if (pair !== undefined && pair.sourceNodeId === event.nodeId) continue;
    violations.add({
      check: "migrationRound",
      message: "a replica retired although no executed round named it as a source",
      seq: event.seq,
      replicaIds: [event.replicaId],
      values: { nodeId: event.nodeId },
    });
  }
}

/** Section 3 / DESIGN section 5: any four consecutive timer rounds migrate every logical id. */
function checkCoverage(history: History, rounds: readonly Round[], violations: ViolationLog): number {
  const proactive = rounds.filter((round) => round.reference.trigger === "timer");
  let windows = 0;
  for (let start = 0; start + COVERAGE_ROUNDS <= proactive.length; start += 1) {
    windows += 1;
    const covered = new Set<number>();
    for (const round of proactive.slice(start, start + COVERAGE_ROUNDS))
      for (const pair of round.reference.pairs) covered.add(pair.replicaId);
    if (covered.size === history.replicaCount) continue;
    const first = proactive[start] as Round;
    const missing = Array.from({ length: history.replicaCount }, (_, id) => id).filter(
      (id) => !covered.has(id),
    );
    violations.add({
      check: "migrationCoverage",
      message: `${COVERAGE_ROUNDS} consecutive timer rounds left logical replicas unmigrated`,
      seq: first.seq,
      values: { missing: missing.join(","), firstRoundSeq: first.seq },
    });
  }
  return windows;
}
