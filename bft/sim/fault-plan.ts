/**
 * Swarm testing (TigerBeetle's VOPR `options_swarm`): the seed picks the whole fault mix up front:
 * which replicas are Byzantine and how, the link drop/duplicate/reorder rates and latency, and a
 * schedule of crashes, restarts and partitions. Every fault happens before `healAtMs`; from then on
 * the network is clean (latency only), every crashed replica is back, no partition remains, and the
 * Byzantine replicas (at most f) may stay Byzantine. The run then checks liveness.
 *
 * Fault budget: at every instant, Byzantine replicas plus crashed replicas number at most f. A
 * crashed replica loses its memory, so from its crash until the faults heal it counts as faulty like
 * a Byzantine one (see crashFits).
 * Partitions do not count: they are asynchrony, which PBFT's safety must survive in any amount.
 */
import { assert } from "../assert.js";
import { LOG_WINDOW_SEQS } from "../limits.js";
import type { Principal } from "../messages.js";
import { BYZANTINE_KINDS, type ByzantineKind } from "./byzantine-kinds.js";
import { LINK_FAULTS_NONE, type LinkFaults } from "./network.js";
import type { Prng } from "./prng.js";

export interface ByzantineAssignment {
  readonly replicaId: number;
  readonly kind: ByzantineKind;
}

export interface CrashWindow {
  readonly replicaId: number;
  readonly crashAtMs: number;
  readonly restartAtMs: number;
}

export interface PartitionWindow {
  readonly startMs: number;
  readonly endMs: number;
  /** The island: these principals are cut off from everyone else. */
  readonly members: readonly Principal[];
}

export interface FaultPlan {
  readonly healAtMs: number;
  readonly byzantine: readonly ByzantineAssignment[];
  /** Link behaviour before healing. */
  readonly linkFaults: LinkFaults;
  /** Link behaviour after healing: the same latency, nothing lost, duplicated or reordered. */
  readonly healedLinkFaults: LinkFaults;
  readonly crashes: readonly CrashWindow[];
  readonly partitions: readonly PartitionWindow[];
  /** Replica settings the seed varies (small checkpoint intervals make state transfer frequent). */
  readonly replicaTuning: ReplicaTuning | undefined;
}

export interface ReplicaTuning {
  readonly checkpointIntervalSeqs: number;
  readonly logWindowSeqs: number;
  readonly batchSizeMax: number;
  readonly batchInflightMax: number;
  readonly viewChangeTimeoutMs: number;
  readonly statusIntervalMs: number;
}

export interface FaultPlanOptions {
  readonly f: number;
  readonly clientCount: number;
  readonly durationMs: number;
  readonly faults: "none" | "random";
  /** Exactly these kinds, one Byzantine replica each; overrides the seed's choice. */
  readonly byzantineKinds?: readonly ByzantineKind[] | undefined;
  /** Exactly this many Byzantine replicas with kinds the seed picks (ignored when byzantineKinds is set). */
  readonly byzantineCount?: number | undefined;
}

/** A clean LAN: nothing lost, a little jitter so frames still arrive in varied orders. */
const LINK_CLEAN: LinkFaults = { ...LINK_FAULTS_NONE, latencyMsMin: 1, latencyMsMax: 5 };

/** Bounds on the schedule, so a plan stays small whatever the seed. */
const CRASHES_MAX = 4;
const PARTITIONS_MAX = 3;
const PLAN_ATTEMPTS_MAX = 20;

export function createFaultPlan(options: FaultPlanOptions, prng: Prng): FaultPlan {
  const replicaCount = 3 * options.f + 1;
  const byzantine = chooseByzantine(options, replicaCount, prng);
  assert(byzantine.length <= options.f, "at most f Byzantine replicas");
  if (options.faults === "none") {
    return {
      healAtMs: 0,
      byzantine,
      linkFaults: LINK_CLEAN,
      healedLinkFaults: LINK_CLEAN,
      crashes: [],
      partitions: [],
      replicaTuning: undefined,
    };
  }
  // Faults fill the first 40-70% of the run; the rest shows that progress resumes.
  const healAtMs = Math.round(options.durationMs * (0.4 + 0.3 * prng.float()));
  const linkFaults = chooseLinkFaults(prng);
  const healedLinkFaults: LinkFaults = {
    ...LINK_FAULTS_NONE,
    latencyMsMin: linkFaults.latencyMsMin,
    latencyMsMax: linkFaults.latencyMsMax,
  };
  const byzantineIds = byzantine.map((assignment) => assignment.replicaId);
  const crashes = chooseCrashes({ f: options.f, replicaCount, healAtMs, byzantineIds }, prng);
  const partitions = choosePartitions({ replicaCount, clientCount: options.clientCount, healAtMs }, prng);
  const replicaTuning = chooseReplicaTuning(prng);
  return { healAtMs, byzantine, linkFaults, healedLinkFaults, crashes, partitions, replicaTuning };
}

function chooseReplicaTuning(prng: Prng): ReplicaTuning {
  const checkpointIntervalSeqs = prng.pick([4, 8, 16, 64]);
  // The wire bounds view-change sizes by LOG_WINDOW_SEQS, so no replica may use a larger window.
  const logWindowSeqs = Math.min(checkpointIntervalSeqs * prng.pick([2, 4]), LOG_WINDOW_SEQS);
  return {
    checkpointIntervalSeqs,
    logWindowSeqs,
    batchSizeMax: prng.pick([1, 4, 16, 64]),
    batchInflightMax: Math.min(prng.pick([1, 2, 4, 8]), logWindowSeqs),
    viewChangeTimeoutMs: prng.pick([500, 1000, 2000]),
    statusIntervalMs: prng.pick([250, 500, 1000]),
  };
}

function chooseByzantine(options: FaultPlanOptions, replicaCount: number, prng: Prng): ByzantineAssignment[] {
  let kinds: ByzantineKind[];
  if (options.byzantineKinds !== undefined) {
    kinds = [...options.byzantineKinds];
  } else {
    let count = options.byzantineCount;
    if (count === undefined)
      count = options.faults === "none" ? 0 : prng.chance(0.5) ? options.f : prng.int(0, options.f);
    kinds = [];
    for (let index = 0; index < count; index += 1) kinds.push(prng.pick(BYZANTINE_KINDS));
  }
  assert(kinds.length <= options.f, `at most f=${options.f} Byzantine replicas, got ${kinds.length}`);
  const ids = prng.shuffle(Array.from({ length: replicaCount }, (_, id) => id));
  // An equivocating replica only misbehaves as primary; half the time put it where view 0 starts.
  const equivocateIndex = kinds.indexOf("equivocate");
  if (equivocateIndex >= 0 && prng.chance(0.5)) {
    const zeroIndex = ids.indexOf(0);
    ids[zeroIndex] = ids[equivocateIndex] as number;
    ids[equivocateIndex] = 0;
  }
  return kinds.map((kind, index) => ({ replicaId: ids[index] as number, kind }));
}

function chooseLinkFaults(prng: Prng): LinkFaults {
  const latencyMsMin = prng.pick([0, 1, 2, 5]);
  return {
    dropRate: prng.pick([0, 0, 0.01, 0.05, 0.1, 0.2, 0.3]),
    duplicateRate: prng.pick([0, 0, 0.01, 0.05, 0.2]),
    reorderRate: prng.pick([0, 0.02, 0.1, 0.3]),
    reorderDelayMsMax: prng.pick([10, 50, 200, 1000]),
    latencyMsMin,
    latencyMsMax: latencyMsMin + prng.pick([1, 5, 20, 50]),
  };
}

interface CrashChoice {
  readonly f: number;
  readonly replicaCount: number;
  readonly healAtMs: number;
  readonly byzantineIds: readonly number[];
}

function chooseCrashes(choice: CrashChoice, prng: Prng): CrashWindow[] {
  const windows: CrashWindow[] = [];
  const target = prng.int(0, CRASHES_MAX);
  for (let attempt = 0; attempt < PLAN_ATTEMPTS_MAX && windows.length < target; attempt += 1) {
    const crashAtMs = prng.int(0, Math.max(0, choice.healAtMs - 1));
    const downMs = prng.pick([100, 500, 2000, 5000, 10_000]);
    const candidate: CrashWindow = {
      replicaId: prng.int(0, choice.replicaCount - 1),
      crashAtMs,
      restartAtMs: Math.min(crashAtMs + downMs, choice.healAtMs),
    };
    if (crashFits(candidate, windows, choice)) windows.push(candidate);
  }
  return windows.sort((a, b) => a.crashAtMs - b.crashAtMs);
}

/**
 * The window keeps Byzantine plus crashed-or-recovering replicas at most f at every instant. A
 * replica restarted without memory may have voted before its crash and cannot know it, so it counts
 * as faulty from its crash until the faults heal (PBFT-PR counts recovering replicas as faulty too);
 * counting only its downtime let more than f amnesiac replicas break agreement (seeds 161, 1026).
 */
function crashFits(candidate: CrashWindow, windows: readonly CrashWindow[], choice: CrashChoice): boolean {
  const downOverlap = windows.some(
    (window) =>
      window.replicaId === candidate.replicaId &&
      window.crashAtMs <= candidate.restartAtMs &&
      candidate.crashAtMs <= window.restartAtMs,
  );
  if (downOverlap) return false;
  // Faulty intervals are [crashAtMs, healAtMs]: the count only rises, so check at the candidate's start
  // and at every later crash start.
  const starts = [candidate.crashAtMs, ...windows.map((window) => window.crashAtMs)];
  for (const atMs of starts) {
    if (atMs < candidate.crashAtMs) continue;
    const faulty = new Set<number>(choice.byzantineIds);
    faulty.add(candidate.replicaId);
    for (const window of windows) if (window.crashAtMs <= atMs) faulty.add(window.replicaId);
    if (faulty.size > choice.f) return false;
  }
  return true;
}

interface PartitionChoice {
  readonly replicaCount: number;
  readonly clientCount: number;
  readonly healAtMs: number;
}

function choosePartitions(choice: PartitionChoice, prng: Prng): PartitionWindow[] {
  const windows: PartitionWindow[] = [];
  const target = prng.int(0, PARTITIONS_MAX);
  for (let attempt = 0; attempt < PLAN_ATTEMPTS_MAX && windows.length < target; attempt += 1) {
    const startMs = prng.int(0, Math.max(0, choice.healAtMs - 1));
    const lengthMs = prng.pick([200, 1000, 3000, 8000]);
    const replicaIds = prng.shuffle(Array.from({ length: choice.replicaCount }, (_, id) => id));
    const members: Principal[] = replicaIds
      .slice(0, prng.int(1, choice.replicaCount - 1))
      .sort((a, b) => a - b)
      .map((id) => ({ kind: "replica", id }));
    for (let clientId = 0; clientId < choice.clientCount; clientId += 1) {
      if (prng.chance(0.25)) members.push({ kind: "client", id: clientId });
    }
    const candidate: PartitionWindow = {
      startMs,
      endMs: Math.min(startMs + lengthMs, choice.healAtMs),
      members,
    };
    if (partitionFits(candidate, windows)) windows.push(candidate);
  }
  return windows.sort((a, b) => a.startMs - b.startMs);
}

/** Concurrent islands must not share members (a principal is on one island at a time). */
function partitionFits(candidate: PartitionWindow, windows: readonly PartitionWindow[]): boolean {
  const keys = new Set(candidate.members.map((member) => `${member.kind}:${member.id}`));
  for (const window of windows) {
    const overlapsInTime = window.startMs <= candidate.endMs && candidate.startMs <= window.endMs;
    if (overlapsInTime && window.members.some((member) => keys.has(`${member.kind}:${member.id}`)))
      return false;
  }
  return true;
}

/** One line per fault, for --verbose and failure reports. */
export function describeFaultPlan(plan: FaultPlan): string[] {
  const lines: string[] = [];
  const byzantine = plan.byzantine.map((b) => `r${b.replicaId}=${b.kind}`).join(" ");
  lines.push(`byzantine: ${byzantine.length > 0 ? byzantine : "none"}`);
  const l = plan.linkFaults;
  lines.push(
    `links: drop=${l.dropRate} duplicate=${l.duplicateRate} reorder=${l.reorderRate}` +
      ` (+<=${l.reorderDelayMsMax}ms) latency=${l.latencyMsMin}-${l.latencyMsMax}ms`,
  );
  for (const c of plan.crashes)
    lines.push(`crash: r${c.replicaId} at ${c.crashAtMs}ms, restart at ${c.restartAtMs}ms`);
  for (const p of plan.partitions) {
    const members = p.members.map((m) => (m.kind === "replica" ? `r${m.id}` : `c${m.id}`)).join(",");
    lines.push(`partition: {${members}} from ${p.startMs}ms to ${p.endMs}ms`);
  }
  const t = plan.replicaTuning;
  if (t !== undefined) {
    lines.push(
      `replicas: checkpoint every ${t.checkpointIntervalSeqs} seqs, window ${t.logWindowSeqs}, batch <= ${t.batchSizeMax},` +
        ` inflight <= ${t.batchInflightMax}, view-change timeout ${t.viewChangeTimeoutMs}ms, status every ${t.statusIntervalMs}ms`,
    );
  }
  lines.push(`heal at ${plan.healAtMs}ms`);
  return lines;
}
