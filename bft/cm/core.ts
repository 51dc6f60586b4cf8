/**
 * The configuration manager's core (paper sections 2, 3.1, 3.2, 3.4): the standby pool, health
 * probing, sanitization, admission, NIC control, acting on f+1 matching MIGRATE-NOW, cutting off
 * non-complying sources and triggering on-demand migration. `step(state, input, nowMs)` mutates
 * `state` in place (as raft's step does) and returns effects; it does no I/O, so the simulator
 * runs it directly and the testbed's CM hosts it over etcd, SSH and the switch emulator.
 */
import { assert, unreachable } from "../assert.js";
import { DIGEST_BYTES, FAULTS_MAX } from "../limits.js";
import { type MigrateNow, MigrationConfigError, migrateNowSignedBytes } from "../migration/index.js";
import {
  CM_EFFECTS_PER_STEP_MAX,
  CM_NODES_MAX,
  MIGRATE_NOW_ROUNDS_PER_REPLICA,
  MIGRATE_NOW_VOTES_MAX,
  SANITIZE_ATTEMPTS_MAX,
} from "./limits.js";
import type {
  AdminReason,
  CmConfig,
  CmEffect,
  CmInput,
  CmState,
  NodeEntry,
  NodeRole,
  PendingPromotion,
  SanitizeMethod,
} from "./types.js";

export interface InitialNode {
  readonly nodeId: number;
  /** Set for the 3f+1 nodes that start as active replicas; absent for pool nodes. */
  readonly replicaId?: number;
}

function requirePositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new MigrationConfigError(
      `${name} must be a positive number of ms, got ${value}`,
      `set ${name} above 0`,
    );
  }
}

export function validateCmConfig(config: CmConfig): CmConfig {
  if (!Number.isSafeInteger(config.f) || config.f < 1 || config.f > FAULTS_MAX) {
    throw new MigrationConfigError(
      `f must be an integer in 1..${FAULTS_MAX}, got ${config.f}`,
      "set f to 1, 2 or 3",
    );
  }
  requirePositive("probeIntervalMs", config.probeIntervalMs);
  requirePositive("probeTimeoutMs", config.probeTimeoutMs);
  requirePositive("complianceTimeoutMs", config.complianceTimeoutMs);
  requirePositive("registerTimeoutMs", config.registerTimeoutMs);
  requirePositive("onDemandRetryMs", config.onDemandRetryMs);
  requirePositive("promotionTimeoutMs", config.promotionTimeoutMs);
  if (!Number.isFinite(config.standbyResanitizeIntervalMs) || config.standbyResanitizeIntervalMs < 0) {
    throw new MigrationConfigError(
      `standbyResanitizeIntervalMs must be >= 0, got ${config.standbyResanitizeIntervalMs}`,
      "use 0 to disable periodic re-sanitization",
    );
  }
  return config;
}

/** A CM state for `nodes`: exactly 3f+1 carry replica ids 0..3f, the rest form the pool. */
export function createCmState(config: CmConfig, nodes: readonly InitialNode[]): CmState {
  validateCmConfig(config);
  const replicaCount = 3 * config.f + 1;
  if (nodes.length > CM_NODES_MAX || nodes.length < replicaCount + config.f) {
    throw new MigrationConfigError(
      `a deployment needs 3f+1 active nodes and at least f standbys, at most ${CM_NODES_MAX} nodes; got ${nodes.length}`,
      "add standby nodes to the pool",
    );
  }
  const replicaIds = nodes
    .flatMap((node) => (node.replicaId === undefined ? [] : [node.replicaId]))
    .sort((a, b) => a - b);
  if (replicaIds.length !== replicaCount || replicaIds.some((id, index) => id !== index)) {
    throw new MigrationConfigError(
      `replica ids must be exactly 0..${replicaCount - 1}`,
      "assign one node per replica id",
    );
  }
  const entries = new Map<number, NodeEntry>();
  for (const node of nodes) {
    if (!Number.isSafeInteger(node.nodeId) || node.nodeId < 0 || entries.has(node.nodeId)) {
      throw new MigrationConfigError(
        `node id ${node.nodeId} is invalid or repeated`,
        "give each node a distinct id",
      );
    }
    const active = node.replicaId !== undefined;
    entries.set(node.nodeId, {
      nodeId: node.nodeId,
      role: active ? "active" : "sanitizing",
      replicaId: node.replicaId ?? null,
      nic1Enabled: active,
      nic2Enabled: true,
      sanitizeAttempt: 0,
      probeId: null,
      probeDeadlineMs: 0,
      nextProbeAtMs: 0,
      deadlineMs: null,
      registeredCounter: null,
      joinCounter: null,
      leaveCounter: 0,
      registeredAtMs: null,
      onDemandRequestedAtMs: null,
    });
  }
  const members = new Array<number>(replicaCount).fill(0);
  for (const node of nodes) if (node.replicaId !== undefined) members[node.replicaId] = node.nodeId;
  return {
    config,
    nodes: entries,
    members,
    promotions: new Array<PendingPromotion | null>(replicaCount).fill(null),
    votes: new Map(),
    lastMigrationSeq: -1,
    nextProbeId: 1,
    started: false,
    drops: { malformedMigrateNow: 0, staleMigrateNow: 0, staleProbeResult: 0 },
  };
}

/** Feeds one input; returns the effects to carry out in order (see CmEffect). */
export function step(state: CmState, input: CmInput, nowMs: number): CmEffect[] {
  assert(Number.isFinite(nowMs) && nowMs >= 0, "nowMs is finite and >= 0");
  assert(input.kind === "start" || state.started, "the CM core is started before other inputs");
  const effects: CmEffect[] = [];
  switch (input.kind) {
    case "start":
      onStart(state, nowMs, effects);
      break;
    case "tick":
      onTick(state, nowMs, effects);
      break;
    case "probeResult":
      onProbeResult(state, input.nodeId, input.probeId, input.healthy, nowMs, effects);
      break;
    case "sanitizeResult":
      onSanitizeResult(state, input.nodeId, input.ok, nowMs, effects);
      break;
    case "nodeRegistered":
      onNodeRegistered(state, input.nodeId, input.counter, nowMs, effects);
      break;
    case "registrationFailed":
      withNode(state, input.nodeId, (node) => {
        if (node.role === "registering") escalate(node, effects);
      });
      break;
    case "joinRequested":
      withNode(state, input.nodeId, (node) => noteJoinCounter(node, input.counter));
      break;
    case "migrateNow":
      onMigrateNow(state, input.from, input.message, nowMs, effects);
      break;
    case "complianceCheck":
      withNode(state, input.nodeId, (node) => {
        if (node.role !== "retiring") return;
        if (input.complied) sanitizeRetired(state, node, effects);
        else forceCutOff(node, effects);
      });
      break;
    case "intrusionReport":
      onIntrusionReport(state, input.nodeId, input.source, nowMs, effects);
      break;
    case "replicaStarted":
      onReplicaStarted(state, input.nodeId, input.replicaId);
      break;
    case "repaired":
      withNode(state, input.nodeId, (node) => {
        if (node.role !== "damaged") return;
        node.sanitizeAttempt = SANITIZE_ATTEMPTS_MAX - 1;
        startSanitize(node, "swapDisk", effects);
      });
      break;
    default:
      unreachable(input);
  }
  assert(effects.length <= CM_EFFECTS_PER_STEP_MAX, "effects per step within CM_EFFECTS_PER_STEP_MAX");
  return effects;
}

function withNode(state: CmState, nodeId: number, action: (node: NodeEntry) => void): void {
  // Node ids in inputs come from the host's own records; an unknown one is dropped, not asserted,
  // because operator and IDS reports may name nodes that do not exist.
  const node = state.nodes.get(nodeId);
  if (node !== undefined) action(node);
}

function setRole(node: NodeEntry, role: NodeRole, effects: CmEffect[]): void {
  if (node.role === role) return;
  effects.push({ kind: "roleChanged", nodeId: node.nodeId, from: node.role, to: role });
  node.role = role;
}

function setNic(node: NodeEntry, nic: "nic1" | "nic2", enabled: boolean, effects: CmEffect[]): void {
  effects.push({ kind: "setNic", nodeId: node.nodeId, nic, enabled });
  if (nic === "nic1") node.nic1Enabled = enabled;
  else node.nic2Enabled = enabled;
}

function onStart(state: CmState, nowMs: number, effects: CmEffect[]): void {
  assert(!state.started, "start is fed once");
  state.started = true;
  for (const node of sortedNodes(state)) {
    // Re-assert every port: the switch may hold anything from a previous run.
    setNic(node, "nic1", node.role === "active", effects);
    setNic(node, "nic2", true, effects);
    if (node.role === "active") node.nextProbeAtMs = nowMs + state.config.probeIntervalMs;
    else startSanitize(node, "reboot", effects);
  }
}

function sortedNodes(state: CmState): NodeEntry[] {
  // Iterate in node-id order so effects do not depend on Map insertion history.
  return [...state.nodes.values()].sort((a, b) => a.nodeId - b.nodeId);
}

function onTick(state: CmState, nowMs: number, effects: CmEffect[]): void {
  const { config } = state;
  checkPromotions(state, nowMs, effects);
  for (const node of sortedNodes(state)) {
    if (node.probeId !== null && nowMs >= node.probeDeadlineMs) {
      // No answer in time is a failed probe (section 3.1: constant probing).
      onProbeResult(state, node.nodeId, node.probeId, false, nowMs, effects);
      continue;
    }
    if (node.deadlineMs !== null && nowMs >= node.deadlineMs) {
      if (node.role === "retiring") forceCutOff(node, effects);
      else if (node.role === "registering") escalate(node, effects);
      continue;
    }
    if (
      (node.role === "standby" || node.role === "active") &&
      node.probeId === null &&
      nowMs >= node.nextProbeAtMs
    ) {
      startProbe(state, node, nowMs, effects);
      continue;
    }
    if (node.role === "standby" && config.standbyResanitizeIntervalMs > 0 && node.registeredAtMs !== null) {
      const due = nowMs >= node.registeredAtMs + config.standbyResanitizeIntervalMs;
      // Keep at least f registered standbys so a migration round can always find its targets.
      if (due && countRole(state, "standby") - 1 >= config.f) {
        node.sanitizeAttempt = 0;
        startSanitize(node, "reboot", effects);
      }
    }
  }
}

function onReplicaStarted(state: CmState, nodeId: number, replicaId: number): void {
  const pending = state.promotions[replicaId];
  if (pending !== undefined && pending !== null && pending.nodeId === nodeId)
    state.promotions[replicaId] = null;
}

/**
 * A round's target that has not started its replica by the promotion deadline (or that the CM
 * knew to be unavailable when it applied the round) leaves its id without a replica: the replicas
 * re-arm their migration timer at execution whatever the targets do, so the next proactive round
 * takes another id down (long runs, docs/migration-progress.md Open 7). Ask for an on-demand round
 * of the id (section 3.4), which moves it to another standby, every onDemandRetryMs until the id
 * moves or the node reports its replica started. What a target can do with this: by never
 * starting it costs its id one promotion deadline and one on-demand round (docs/migration.md,
 * "Promotion deadline").
 */
function checkPromotions(state: CmState, nowMs: number, effects: CmEffect[]): void {
  state.promotions.forEach((pending, replicaId) => {
    if (pending === null || nowMs < pending.deadlineMs) return;
    if (pending.requestedAtMs !== null && nowMs < pending.requestedAtMs + state.config.onDemandRetryMs)
      return;
    assert(state.members[replicaId] === pending.nodeId, "a pending promotion names the id's member");
    if (pending.requestedAtMs === null)
      effects.push({ kind: "adminNotification", nodeId: pending.nodeId, reason: "targetNotStarted" });
    pending.requestedAtMs = nowMs;
    effects.push({
      kind: "requestOnDemandMigration",
      nodeId: pending.nodeId,
      replicaId,
      reason: "targetNotStarted",
    });
  });
}

function countRole(state: CmState, role: NodeRole): number {
  let count = 0;
  for (const node of state.nodes.values()) if (node.role === role) count += 1;
  return count;
}

function startProbe(state: CmState, node: NodeEntry, nowMs: number, effects: CmEffect[]): void {
  assert(node.probeId === null, "one probe in flight per node");
  node.probeId = state.nextProbeId;
  state.nextProbeId += 1;
  node.probeDeadlineMs = nowMs + state.config.probeTimeoutMs;
  effects.push({ kind: "probe", nodeId: node.nodeId, probeId: node.probeId });
}

function onProbeResult(
  state: CmState,
  nodeId: number,
  probeId: number,
  healthy: boolean,
  nowMs: number,
  effects: CmEffect[],
): void {
  const node = state.nodes.get(nodeId);
  if (node === undefined || node.probeId !== probeId) {
    state.drops.staleProbeResult += 1;
    return;
  }
  node.probeId = null;
  node.nextProbeAtMs = nowMs + state.config.probeIntervalMs;
  if (healthy) {
    if (node.role === "probing") admit(state, node, nowMs, effects);
    return;
  }
  switch (node.role) {
    case "probing":
      escalate(node, effects);
      return;
    case "standby":
      deregister(node, effects);
      escalate(node, effects);
      return;
    case "active":
      requestOnDemand(state, node, "probeFailed", nowMs, effects);
      return;
    default:
      // A probe answered after the node changed role: its verdict no longer applies.
      return;
  }
}

function admit(state: CmState, node: NodeEntry, nowMs: number, effects: CmEffect[]): void {
  setRole(node, "registering", effects);
  node.deadlineMs = nowMs + state.config.registerTimeoutMs;
  const members = sortedNodes(state)
    .filter((other) => other.role === "active" && other.replicaId !== null)
    .map((other) => ({ replicaId: other.replicaId!, nodeId: other.nodeId }))
    .sort((a, b) => a.replicaId - b.replicaId);
  effects.push({ kind: "admit", nodeId: node.nodeId, members });
}

function onSanitizeResult(
  state: CmState,
  nodeId: number,
  ok: boolean,
  nowMs: number,
  effects: CmEffect[],
): void {
  const node = state.nodes.get(nodeId);
  if (node === undefined || node.role !== "sanitizing") return;
  if (!ok) {
    escalate(node, effects);
    return;
  }
  // A standby has NIC1 off and NIC2 on (section 2); a forced cut-off may have turned NIC2 off.
  if (node.nic1Enabled) setNic(node, "nic1", false, effects);
  if (!node.nic2Enabled) setNic(node, "nic2", true, effects);
  setRole(node, "probing", effects);
  startProbe(state, node, nowMs, effects);
}

function onNodeRegistered(
  state: CmState,
  nodeId: number,
  counter: number,
  nowMs: number,
  effects: CmEffect[],
): void {
  const node = state.nodes.get(nodeId);
  if (node === undefined || (node.role !== "registering" && node.role !== "standby")) return;
  if (!Number.isSafeInteger(counter) || counter <= 0) return;
  if (node.registeredCounter !== null && counter <= node.registeredCounter) return;
  node.registeredCounter = counter;
  noteJoinCounter(node, counter);
  node.registeredAtMs = nowMs;
  node.sanitizeAttempt = 0;
  node.deadlineMs = null;
  node.nextProbeAtMs = nowMs + state.config.probeIntervalMs;
  setRole(node, "standby", effects);
}

/**
 * Next sanitization step after a failure: reboot, then disk swap, then an administrator
 * (section 3.1: "if the configuration manager ... cannot repair it automatically").
 */
function escalate(node: NodeEntry, effects: CmEffect[]): void {
  // A failed node leaves the pool: revoke any join the replicas may have executed for it. A
  // registration timeout does not mean the join did not execute (only that 2f+1 approvals did not
  // reach the node or us); without the LEAVE the replicas keep it as their freshest standby and
  // pick it as a target the CM will not promote (long run seed 2: a damaged node chosen, two ids
  // left without a replica).
  deregister(node, effects);
  node.deadlineMs = null;
  if (node.sanitizeAttempt >= SANITIZE_ATTEMPTS_MAX) {
    markDamaged(node, effects);
    return;
  }
  const method: SanitizeMethod = node.sanitizeAttempt === 0 ? "reboot" : "swapDisk";
  startSanitize(node, method, effects);
}

function startSanitize(node: NodeEntry, method: SanitizeMethod, effects: CmEffect[]): void {
  assert(node.sanitizeAttempt < SANITIZE_ATTEMPTS_MAX, "sanitization attempts bounded");
  node.sanitizeAttempt += 1;
  node.probeId = null;
  node.deadlineMs = null;
  node.replicaId = null;
  node.registeredCounter = null;
  node.registeredAtMs = null;
  node.onDemandRequestedAtMs = null;
  effects.push({ kind: "sanitize", nodeId: node.nodeId, method });
  setRole(node, "sanitizing", effects);
}

function markDamaged(node: NodeEntry, effects: CmEffect[]): void {
  // Out of the pool: no NIC1, and no NIC2 so it cannot talk to replicas or standbys.
  if (node.nic1Enabled) setNic(node, "nic1", false, effects);
  if (node.nic2Enabled) setNic(node, "nic2", false, effects);
  node.probeId = null;
  node.deadlineMs = null;
  node.replicaId = null;
  node.registeredCounter = null;
  node.registeredAtMs = null;
  setRole(node, "damaged", effects);
  effects.push({ kind: "adminNotification", nodeId: node.nodeId, reason: "needsRepair" });
}

/** LEAVE-REQUEST for the node's latest join, once per join counter (section 3.1). */
function deregister(node: NodeEntry, effects: CmEffect[]): void {
  const counter = Math.max(node.registeredCounter ?? 0, node.joinCounter ?? 0);
  if (counter === 0 || counter <= node.leaveCounter) return;
  node.leaveCounter = counter;
  effects.push({ kind: "leaveRequest", nodeId: node.nodeId, counter });
}

function noteJoinCounter(node: NodeEntry, counter: number): void {
  if (!Number.isSafeInteger(counter) || counter <= 0) return;
  if (node.joinCounter === null || counter > node.joinCounter) node.joinCounter = counter;
}

function requestOnDemand(
  state: CmState,
  node: NodeEntry,
  reason: "probeFailed" | "operator" | "ids",
  nowMs: number,
  effects: CmEffect[],
): void {
  assert(node.role === "active" && node.replicaId !== null, "on-demand migration names an active replica");
  const last = node.onDemandRequestedAtMs;
  if (last !== null && nowMs < last + state.config.onDemandRetryMs) return;
  node.onDemandRequestedAtMs = nowMs;
  effects.push({ kind: "requestOnDemandMigration", nodeId: node.nodeId, replicaId: node.replicaId, reason });
}

function onIntrusionReport(
  state: CmState,
  nodeId: number,
  source: "operator" | "ids",
  nowMs: number,
  effects: CmEffect[],
): void {
  withNode(state, nodeId, (node) => {
    switch (node.role) {
      case "active":
        requestOnDemand(state, node, source, nowMs, effects);
        return;
      case "retiring":
        forceCutOff(node, effects);
        return;
      case "standby":
      case "registering":
      case "probing":
        deregister(node, effects);
        // Straight to a clean disk: a reported intrusion may have persisted beyond memory.
        node.sanitizeAttempt = SANITIZE_ATTEMPTS_MAX - 1;
        startSanitize(node, "swapDisk", effects);
        return;
      case "sanitizing":
      case "damaged":
        return;
      default:
        unreachable(node.role);
    }
  });
}

/** A compliant retired source is sanitized back into the pool (section 3.2). */
function sanitizeRetired(state: CmState, node: NodeEntry, effects: CmEffect[]): void {
  assert(node.role === "retiring", "only retiring sources are sanitized as retired");
  node.sanitizeAttempt = state.config.retiredSanitizeMethod === "swapDisk" ? SANITIZE_ATTEMPTS_MAX - 1 : 0;
  startSanitize(node, state.config.retiredSanitizeMethod, effects);
}

/**
 * Section 3.2: a source that did not comply is cut off at the switch (NIC1, then NIC2) and
 * sanitized with a clean disk; the administrator hears of it.
 */
function forceCutOff(node: NodeEntry, effects: CmEffect[]): void {
  assert(node.role === "retiring", "only retiring sources are cut off");
  setNic(node, "nic1", false, effects);
  setNic(node, "nic2", false, effects);
  effects.push({ kind: "adminNotification", nodeId: node.nodeId, reason: "sourceNotComplying" });
  node.sanitizeAttempt = SANITIZE_ATTEMPTS_MAX - 1;
  startSanitize(node, "swapDisk", effects);
}

function migrateNowKey(message: MigrateNow): string {
  const digest = Buffer.from(message.checkpointDigest).toString("hex");
  const pairs = message.pairs.map((p) => `${p.replicaId}:${p.sourceNodeId}>${p.targetNodeId}`).join(",");
  // Not the view: each replica names the view it was in when it executed or resent the round.
  return `${message.seq}|${digest}|${pairs}`;
}

/** Structural checks on a MIGRATE-NOW from a possibly Byzantine replica. */
function isWellFormedMigrateNow(state: CmState, from: number, message: MigrateNow): boolean {
  const { f } = state.config;
  const replicaCount = 3 * f + 1;
  const isId = (value: number) => Number.isSafeInteger(value) && value >= 0;
  if (message.type !== "MigrateNow" || message.replicaId !== from || !isId(from) || from >= replicaCount)
    return false;
  if (!isId(message.view) || !isId(message.seq) || message.checkpointDigest.length !== DIGEST_BYTES)
    return false;
  if (message.pairs.length < 1 || message.pairs.length > f) return false;
  const replicaIds = new Set<number>();
  const nodeIds = new Set<number>();
  for (const pair of message.pairs) {
    if (!isId(pair.replicaId) || pair.replicaId >= replicaCount) return false;
    if (!state.nodes.has(pair.sourceNodeId) || !state.nodes.has(pair.targetNodeId)) return false;
    replicaIds.add(pair.replicaId);
    nodeIds.add(pair.sourceNodeId).add(pair.targetNodeId);
  }
  return replicaIds.size === message.pairs.length && nodeIds.size === 2 * message.pairs.length;
}

/**
 * The CM host's check of a MIGRATE-NOW before it becomes a `migrateNow` input. Replicas send
 * their own and relay their peers' signed copies: a signer that sent its copy into a partition
 * and then lost its memory or retired reaches the CM only so (migration CI seed 198: the CM held
 * one vote of the f+1 for good and never certified the round). A copy is the vote of the
 * replica it names, whoever's frame carried it, and only under the signature of the node the
 * CM's membership has running that id (the round's source node while the CM has not applied
 * it), so f+1 votes are still f+1 distinct replicas (paper section 3.2). Null: not its vote.
 */
export function migrateNowInput(
  state: CmState,
  message: MigrateNow,
  publicKeyOf: (nodeId: number) => Uint8Array | undefined,
  verify: (publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array) => boolean,
): Extract<CmInput, { kind: "migrateNow" }> | null {
  const signer = message.replicaId;
  const nodeId = Number.isSafeInteger(signer) && signer >= 0 ? state.members[signer] : undefined;
  const publicKey = nodeId === undefined ? undefined : publicKeyOf(nodeId);
  const { type: _type, signature, ...fields } = message;
  if (publicKey === undefined || !verify(publicKey, migrateNowSignedBytes(fields), signature)) return null;
  return { kind: "migrateNow", from: signer, message };
}

/** Section 3.2: act only on f+1 MIGRATE-NOW with the same n, C and P from distinct replicas. */
function onMigrateNow(
  state: CmState,
  from: number,
  message: MigrateNow,
  nowMs: number,
  effects: CmEffect[],
): void {
  if (!isWellFormedMigrateNow(state, from, message)) {
    state.drops.malformedMigrateNow += 1;
    return;
  }
  if (message.seq <= state.lastMigrationSeq) {
    state.drops.staleMigrateNow += 1;
    return;
  }
  // A replica's copies arrive relayed by its peers as well (the host checked each one's
  // signature), in any order, and replicas resend their latest rounds oldest first: each
  // replica's votes for its newest MIGRATE_NOW_ROUNDS_PER_REPLICA rounds are kept, so a copy of
  // one round never displaces the same author's vote for another (seed 79).
  const key = migrateNowKey(message);
  const held = (state.votes.get(from) ?? []).filter((vote) => vote.message.seq !== message.seq);
  held.push({ key, message });
  held.sort((a, b) => a.message.seq - b.message.seq);
  while (held.length > MIGRATE_NOW_ROUNDS_PER_REPLICA) held.shift();
  state.votes.set(from, held);
  assert(state.votes.size <= MIGRATE_NOW_VOTES_MAX, "votes of 3f+1 replicas at most");
  if (!held.some((vote) => vote.key === key)) {
    state.drops.staleMigrateNow += 1;
    return;
  }
  let matching = 0;
  for (const votes of state.votes.values()) if (votes.some((vote) => vote.key === key)) matching += 1;
  if (matching < state.config.f + 1) return;
  state.lastMigrationSeq = message.seq;
  // The round's sources retire: every vote held for the ids it moves was signed by a source node
  // (migrateNowInput keys a copy by the node the CM's membership runs for its author), and a
  // correct source votes for no later round. Kept, such a vote would outlive its signer's tenure
  // and meet another node's vote years later: a node compromised while it ran an id could plant a
  // vote for a far-future seq (two rounds are kept per replica, the highest), and once the id
  // moved to a correct node, one more compromised replica would make f+1 for a round that no
  // correct replica asked for, f faulty at a time.
  for (const pair of message.pairs) state.votes.delete(pair.replicaId);
  for (const [replicaId, votes] of state.votes) {
    const later = votes.filter((vote) => vote.message.seq > state.lastMigrationSeq);
    if (later.length === 0) state.votes.delete(replicaId);
    else state.votes.set(replicaId, later);
  }
  applyMigration(state, message, nowMs, effects);
}

function applyMigration(state: CmState, message: MigrateNow, nowMs: number, effects: CmEffect[]): void {
  const sources = message.pairs.map((pair) => state.nodes.get(pair.sourceNodeId)!);
  const targets = message.pairs.map((pair) => state.nodes.get(pair.targetNodeId)!);
  const notify = (nodeId: number, reason: AdminReason) =>
    effects.push({ kind: "adminNotification", nodeId, reason });
  // f+1 matching votes include a correct replica, so P is the ordered decision: cut every
  // source off even if the CM's own view disagrees, and say so.
  message.pairs.forEach((pair, index) => {
    const source = sources[index]!;
    if (source.role !== "active" || source.replicaId !== pair.replicaId)
      notify(source.nodeId, "membershipMismatch");
    if (source.role === "active" || source.nic1Enabled) setNic(source, "nic1", false, effects);
  });
  const promoted: boolean[] = targets.map(
    (target) => target.role === "standby" || target.role === "registering",
  );
  targets.forEach((target, index) => {
    if (promoted[index]) setNic(target, "nic1", true, effects);
  });
  message.pairs.forEach((pair, index) => {
    const source = sources[index]!;
    if (source.role === "active") {
      setRole(source, "retiring", effects);
      source.probeId = null;
      source.deadlineMs = nowMs + state.config.complianceTimeoutMs;
    }
    const target = targets[index]!;
    if (!promoted[index]) {
      // Never expose a node the CM knows to be unclean; the replicas will run without it until
      // an on-demand migration replaces replica s.
      notify(target.nodeId, "targetUnavailable");
      return;
    }
    setRole(target, "active", effects);
    target.replicaId = pair.replicaId;
    target.deadlineMs = null;
    target.probeId = null;
    target.registeredCounter = null;
    target.onDemandRequestedAtMs = null;
    target.nextProbeAtMs = nowMs + state.config.probeIntervalMs;
  });
  effects.push({ kind: "migrationApplied", view: message.view, seq: message.seq, pairs: message.pairs });
  message.pairs.forEach((pair, index) => {
    state.members[pair.replicaId] = pair.targetNodeId;
    // An unavailable target never starts: ask at the next tick.
    const deadlineMs = promoted[index] ? nowMs + state.config.promotionTimeoutMs : nowMs;
    state.promotions[pair.replicaId] = { nodeId: pair.targetNodeId, deadlineMs, requestedAtMs: null };
  });
  effects.push({
    kind: "membershipCertified",
    seq: message.seq,
    checkpointDigest: message.checkpointDigest,
    members: state.members.map((nodeId, replicaId) => ({ replicaId, nodeId })),
  });
}
