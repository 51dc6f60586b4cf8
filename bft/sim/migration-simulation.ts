/**
 * Whole-system deterministic simulation with migration (paper section 3; DESIGN.md sections 4-5).
 *
 * Physical nodes, not logical replicas, are the network's endpoints: nodes 0..3f start running
 * replica ids 0..3f, nodes 3f+1.. form the standby pool, plus clients and one CM. Every principal
 * routes a message for logical replica r to the node its own Wire membership names (a stale view
 * reaches the old node, as a stale address would), so membership changes are exercised for real:
 * MAC keys are per node (Wire.setMember), VIEW-CHANGE and migration signatures come from each
 * node's FakeCoprocessor key, whose store survives the node's crashes and sanitizations.
 *
 * Switch ports: each node has NIC1 (clients), NIC2 (replicas and standbys) and NIC3 (the CM,
 * always on). The CM core commands NIC1/NIC2 through `setNic`; the network drops frames through a
 * disabled port (`nicDisabled`). Sanitization is a crash (memory and Byzantine compromise gone),
 * then after `sanitizeMs` the node is up and empty; the CM probes it, admits it (a fresh
 * StandbyNode core) and the node registers again with a higher coprocessor counter.
 *
 * Hosts carry out the cores' migration effects: `migrationExecuted`, `membershipChanged` (Wire
 * updates), `retire` (the source stops; a Byzantine source keeps sending and never complies),
 * the standby's `promoted` (the simulator replaces the StandbyNode by Replica.promoted under the
 * logical id and sends the MIGRATION-DONEs as the node). Everything is recorded in a format-2
 * history and judged by bft/checker, including the migration checks.
 */
import { createHash, createPrivateKey, type KeyObject } from "node:crypto";
import { performance } from "node:perf_hooks";
import { assert } from "../assert.js";
import { hexOf, type MigrationHistoryInfo, type OrderedSpecialRecord } from "../checker/index.js";
import { type ClientDeps, type ClientEffect, defaultClientConfig } from "../client/index.js";
import {
  type CmEffect,
  type CmInput,
  type CmState,
  step as cmStep,
  createCmState,
  migrateNowInput,
} from "../cm/index.js";
import {
  createFakeCoprocessorStore,
  createX25519KeyAgreement,
  FakeCoprocessor,
  fakeSeed,
  type KeyAgreement,
  PKCS8_ED25519_PREFIX,
  verifySignature,
} from "../coprocessor/index.js";
import { STATE_CHUNK_BYTES_MAX } from "../limits.js";
import type {
  MemberAddress,
  MembershipCertificate,
  Message,
  OnDemandMigration,
  PrePrepare,
  Principal,
} from "../messages.js";
import {
  JOIN_TIME_SKEW_MS_DEFAULT,
  leaveRequestSignedBytes,
  membershipCertificateSignedBytes,
  newViewSignedBytes,
  onDemandMigrationSignedBytes,
  type RosterEntry,
} from "../migration/index.js";
import {
  type CoreDeps,
  defaultReplicaConfig,
  type Effect,
  Replica,
  type ReplicaConfig,
  type ReplicaInput,
  StandbyNode,
  type StandbyNodeEffect,
  type StandbyNodeInput,
  validateReplicaConfig,
} from "../replica/index.js";
import type { Transport } from "../transport/transport.js";
import {
  createDerivedKeyRing,
  type Destination,
  fitsInFrame,
  MAC_KEY_BYTES,
  type OpenResult,
  SessionKeyStore,
  sha256,
  Wire,
} from "../wire/index.js";
import {
  type ByzantineBehaviour,
  type ByzantineContext,
  createByzantineBehaviour,
  sendHonest,
} from "./byzantine.js";
import type { FaultPlan } from "./fault-plan.js";
import {
  chooseMigrationFault,
  createMigrationFaultPlan,
  describeMigrationFault,
  type MigrationFaultPlan,
} from "./migration-faults.js";
import { type Delivery, SimNetwork } from "./network.js";
import {
  type MigrationRoundReport,
  type MigrationRunOptions,
  resolveOptions,
  type SimulationOptions,
} from "./options.js";
import { Prng } from "./prng.js";
import type { SimulationResult } from "./simulation.js";
import {
  type ClientNode,
  describeInput,
  faultPlanOptions,
  principalName,
  type RunOutcome,
  SimulationBase,
  sendAsReplica,
  tickByzantine,
} from "./simulation-base.js";
import { TimerGenerations } from "./timer-generations.js";

/** What a run with migration reports beyond SimulationResult. */
export interface MigrationRunResult extends SimulationResult {
  readonly migrationFault: MigrationFaultPlan;
  readonly rounds: readonly MigrationRoundReport[];
  /** Rounds executed by the correct replicas (some may still have targets in transfer). */
  readonly roundsExecuted: number;
  readonly sanitizations: number;
  readonly cutOffs: number;
}

type OwnEvent =
  | {
      readonly kind: "nodeTimer";
      readonly nodeId: number;
      readonly epoch: number;
      readonly timer: string;
      readonly generation: number;
    }
  | { readonly kind: "byzantineTick"; readonly nodeId: number; readonly epoch: number }
  | { readonly kind: "nodeCrash"; readonly nodeId: number; readonly downMs: number }
  | { readonly kind: "nodeRestart"; readonly nodeId: number; readonly epoch: number }
  | { readonly kind: "cmTick" }
  | { readonly kind: "cmInput"; readonly input: CmInput }
  | { readonly kind: "sanitizeDone"; readonly nodeId: number; readonly epoch: number }
  | { readonly kind: "complianceCheck"; readonly nodeId: number };

type NodeRole =
  | {
      readonly kind: "replica";
      readonly replicaId: number;
      readonly core: Replica;
      readonly incarnation: number;
    }
  | { readonly kind: "standby"; readonly core: StandbyNode }
  /**
   * A source after its round. A correct one keeps its core, which answers only peers' STATUS
   * (Replica.onInputWhileRetired), until the CM sanitizes the node; a Byzantine one keeps sending
   * what its behaviour sends until the CM cuts it off.
   */
  | { readonly kind: "retired"; readonly replicaId: number; readonly core: Replica | null }
  | { readonly kind: "empty" };

interface SimNode {
  readonly id: number;
  readonly principal: Principal;
  readonly transport: Transport;
  readonly coprocessor: FakeCoprocessor;
  readonly signingKey: KeyObject;
  /** X25519 for KEY-EXCHANGE, private keys drawn from the run's seed (deterministic). */
  readonly keyAgreement: KeyAgreement;
  readonly randomBytes: (length: number) => Uint8Array;
  /** Keys from KEY-EXCHANGE: memory, so a crash or sanitization loses them; a promotion keeps them. */
  sessionKeys: SessionKeyStore;
  byzantine: ByzantineBehaviour | undefined;
  up: boolean;
  /** Bumped at every crash, sanitization and core change: stale timers and ticks are ignored. */
  epoch: number;
  role: NodeRole;
  wire: Wire;
  context: ByzantineContext;
  readonly timerGenerations: TimerGenerations<string>;
  nic1: boolean;
  nic2: boolean;
  /** Down because of a planned crash (restarts at the plan's restart time). */
  planCrashed: boolean;
  /** State-chunk bytes received since the node last became a standby. */
  transferBytes: number;
  fetchStarted: boolean;
}

interface RoundTrack {
  readonly report: Omit<MigrationRoundReport, "transferBytes" | "latencyMs" | "atMs" | "wallMs">;
  readonly executedAtMs: number;
  readonly pending: Set<number>;
  transferBytes: number;
}

const CM_ID = 0;
const CM_TICK_MS = 100;
const PROBE_RESULT_MS = 2;
const COMPLIANCE_POLL_MS = 50;
/** Rounds kept for reporting; a run longer than this still checks every round in the history. */
const ROUND_REPORTS_MAX = 100_000;

export function runMigrationSimulation(
  partial: Partial<SimulationOptions> & { seed: number; migration: MigrationRunOptions },
): MigrationRunResult {
  return new MigrationSimulation(resolveOptions(partial)).run();
}

export class MigrationSimulation extends SimulationBase<OwnEvent> {
  readonly plan: FaultPlan;
  readonly migrationFault: MigrationFaultPlan;
  private readonly migration: MigrationRunOptions;
  private readonly nodes: SimNode[] = [];
  private readonly roster: RosterEntry[] = [];
  private readonly byzantinePrng: Prng;
  private readonly faultPrng: Prng;
  private readonly cmCoprocessor: FakeCoprocessor;
  private readonly cm: CmState;
  private readonly cmWire: Wire;
  private readonly cmTransport: Transport;
  private cmOnDemandCounter = 0;
  private readonly f: number;
  /** Logical id -> node running it (the simulator's truth, updated at promotion). */
  private readonly hostOf: number[];
  private readonly logicalIncarnation: number[];
  private readonly rounds = new Map<number, RoundTrack>();
  private readonly reports: MigrationRoundReport[] = [];
  private readonly faultWindows: { startMs: number; endMs: number; reason: string }[] = [];
  private readonly config: { fetchTimeoutMs: number; stallBoundMs: number; transferAllowanceMs: number };
  private roundsExecuted = 0;
  private targetCrashesDone = 0;
  private sanitizations = 0;
  private cutOffs = 0;

  constructor(options: SimulationOptions) {
    super(options);
    assert(options.migration !== undefined, "a migration run has migration options");
    this.migration = options.migration;
    this.f = options.f;
    const root = new Prng(options.seed);
    const planPrng = root.fork();
    const networkPrng = root.fork();
    this.byzantinePrng = root.fork();
    const clientPrng = root.fork();
    this.faultPrng = root.fork();
    this.migrationFault = chooseMigrationFault(
      this.faultPrng,
      options.faults === "none" && this.migration.fault === "random" ? "none" : this.migration.fault,
    );
    this.plan = createMigrationFaultPlan(faultPlanOptions(options), this.migrationFault, planPrng);
    this.config = this.timing();
    const standbyCount = this.migration.standbyCount ?? 2 * options.f;
    const standbyNodeIds = Array.from({ length: standbyCount }, (_, index) => this.n + index);
    const migrationInfo: MigrationHistoryInfo = {
      standbyNodeIds,
      stallBoundMs: this.config.stallBoundMs,
      faultWindows: this.faultWindows,
      // Nodes 0..3f start running replica id = node id; only they are ever made Byzantine.
      byzantineNodeIds: this.plan.byzantine.map((b) => b.replicaId),
    };
    this.recorder = this.createRecorder(migrationInfo);
    this.network = new SimNetwork({
      prng: networkPrng,
      faults: this.plan.linkFaults,
      ...this.networkClock(),
      admits: (from, to) => this.admits(from, to),
      observe: (delivery) => this.observe(delivery),
      bandwidthBitsPerMs: this.migration.bandwidthMbit * 1000,
    });
    this.hostOf = Array.from({ length: this.n }, (_, id) => id);
    this.logicalIncarnation = Array.from({ length: this.n }, () => 0);
    const nodeCount = this.n + standbyCount;
    const stores = Array.from({ length: nodeCount }, (_, nodeId) =>
      createFakeCoprocessorStore({ seed: fakeSeed(options.seed, nodeId), codeDigest: new Uint8Array(32) }),
    );
    for (let nodeId = 0; nodeId < nodeCount; nodeId += 1) {
      const coprocessor = new FakeCoprocessor(
        stores[nodeId] as ReturnType<typeof createFakeCoprocessorStore>,
      );
      this.roster.push({ nodeId, publicKey: coprocessor.publicKey() });
    }
    this.cmCoprocessor = new FakeCoprocessor(
      createFakeCoprocessorStore({ seed: fakeSeed(options.seed, 100_000), codeDigest: new Uint8Array(32) }),
    );
    for (let nodeId = 0; nodeId < nodeCount; nodeId += 1)
      this.nodes.push(
        this.createNode(nodeId, stores[nodeId] as ReturnType<typeof createFakeCoprocessorStore>),
      );
    this.cm = createCmState(
      {
        f: options.f,
        probeIntervalMs: 1000,
        probeTimeoutMs: 500,
        complianceTimeoutMs: 1000,
        registerTimeoutMs: 10_000,
        standbyResanitizeIntervalMs: 0,
        onDemandRetryMs: 3000,
        promotionTimeoutMs: 20_000,
        retiredSanitizeMethod: "reboot",
      },
      this.nodes.map((node) =>
        node.id < this.n ? { nodeId: node.id, replicaId: node.id } : { nodeId: node.id },
      ),
    );
    const cmPrincipal: Principal = { kind: "cm", id: CM_ID };
    this.cmTransport = this.network.attach(cmPrincipal);
    this.cmWire = this.createWire(cmPrincipal, { kind: "cm", id: CM_ID }, this.hostOf);
    this.cmTransport.onFrame((frame) => this.onCmFrame(frame));
    for (let id = 0; id < options.clients; id += 1)
      this.clients.push(this.createClient(id, clientPrng.fork()));
  }

  /** Fetch timeout, stall bound (bft/checker/stall.ts) from the bandwidth and the state size. */
  private timing(): { fetchTimeoutMs: number; stallBoundMs: number; transferAllowanceMs: number } {
    const bitsPerMs = this.migration.bandwidthMbit * 1000;
    const chunkBytes = Math.min(STATE_CHUNK_BYTES_MAX, this.options.kvStateBytes + 4096);
    const chunkMs = Math.ceil((chunkBytes * 8) / bitsPerMs);
    const fetchTimeoutMs = Math.max(500, 4 * chunkMs + 200);
    const stateMs = Math.ceil(((this.options.kvStateBytes + 4096) * 8) / bitsPerMs);
    const transferAllowanceMs = stateMs + 2 * fetchTimeoutMs;
    const viewChangeMs =
      this.plan.replicaTuning?.viewChangeTimeoutMs ?? defaultReplicaConfig(this.f, 0).viewChangeTimeoutMs;
    const retransmitMs = defaultClientConfig(0, this.f).retransmitTimeoutMs;
    return {
      fetchTimeoutMs,
      transferAllowanceMs,
      stallBoundMs: 2 * (3 * viewChangeMs + transferAllowanceMs) + retransmitMs,
    };
  }

  run(): MigrationRunResult {
    const outcome = this.runToEnd(() => {
      this.scheduleFaults();
      this.log(describeMigrationFault(this.migrationFault));
      this.queue.push(CM_TICK_MS, { kind: "cmTick" });
      this.scheduleClients(this.byzantinePrng);
      for (const node of this.nodes) if (node.id < this.n) this.bootReplica(node, node.id, false);
      this.feedCm({ kind: "start" });
    });
    return this.result(outcome);
  }

  protected dispatchOwn(event: OwnEvent): void {
    switch (event.kind) {
      case "nodeTimer":
        this.onNodeTimer(event);
        return;
      case "byzantineTick":
        this.onByzantineTick(event.nodeId, event.epoch);
        return;
      case "nodeCrash":
        this.targetCrash(this.node(event.nodeId), event.downMs);
        return;
      case "nodeRestart":
        this.restartCrashedTarget(this.node(event.nodeId), event.epoch);
        return;
      case "cmTick":
        this.feedCm({ kind: "tick" });
        this.queue.push(this.nowMs + CM_TICK_MS, { kind: "cmTick" });
        return;
      case "cmInput":
        this.feedCm(event.input);
        return;
      case "sanitizeDone":
        this.sanitizeDone(this.node(event.nodeId), event.epoch);
        return;
      case "complianceCheck":
        this.pollCompliance(this.node(event.nodeId));
        return;
    }
  }

  // ---- schedule, faults -----------------------------------------------------------------------

  /** Logical ids whose replica is faulty now: a Byzantine or crashed host, or a Byzantine source not yet cut off. */
  private faultyCount(): number {
    let count = 0;
    for (const node of this.nodes) {
      const hosts = node.role.kind === "replica" && this.hostOf[node.role.replicaId] === node.id;
      if (hosts && (!node.up || node.byzantine !== undefined)) count += 1;
      else if (node.role.kind === "retired" && node.byzantine !== undefined && node.nic2) count += 1;
      else if (node.planCrashed || (!node.up && node.fetchStarted)) count += 1;
    }
    return count;
  }

  protected onPlannedCrash(replicaId: number): void {
    if (this.healed) return;
    const node = this.node(this.hostOf[replicaId] as number);
    if (!node.up || node.role.kind !== "replica" || node.role.replicaId !== replicaId) return;
    const counted = node.byzantine !== undefined;
    if (!counted && this.faultyCount() + 1 > this.f) {
      this.log(`r${replicaId}@n${node.id}: planned crash skipped (fault budget f=${this.f} in use)`);
      return;
    }
    this.stopNode(node);
    node.planCrashed = true;
    this.crashCount += 1;
    this.recorder.replicaCrashed(this.nowMs, replicaId, node.role.incarnation);
    this.log(`r${replicaId}@n${node.id} crashed (memory lost)`);
  }

  protected onPlannedRestart(replicaId: number): void {
    for (const node of this.nodes)
      if (node.planCrashed && this.planHosts(node, replicaId)) this.restartPlanned(node);
  }

  private planHosts(node: SimNode, replicaId: number): boolean {
    return node.role.kind === "replica" && node.role.replicaId === replicaId;
  }

  private restartPlanned(node: SimNode): void {
    assert(node.planCrashed && !node.up, "a planned restart follows a planned crash");
    node.planCrashed = false;
    const role = node.role;
    if (role.kind === "replica" && this.hostOf[role.replicaId] === node.id) {
      this.bootReplica(node, role.replicaId, true);
      this.log(`r${role.replicaId}@n${node.id} restarted`);
      return;
    }
    // Migrated away while down: the node comes back empty; the CM sanitizes it as a retired source.
    this.bringUpEmpty(node);
  }

  /** targetCrash: the chosen round's first target crashes a little after its fetch starts. */
  private maybeCrashTarget(node: SimNode): void {
    const fault = this.migrationFault;
    if (fault.kind !== "targetCrash" || this.targetCrashesDone > 0 || node.fetchStarted) return;
    if (this.roundsExecuted <= fault.crashRound) return;
    this.targetCrashesDone += 1;
    this.queue.push(this.nowMs + fault.crashDelayMs, {
      kind: "nodeCrash",
      nodeId: node.id,
      downMs: fault.crashDownMs,
    });
  }

  private targetCrash(node: SimNode, downMs: number): void {
    if (!node.up || node.role.kind !== "standby" || this.faultyCount() + 1 > this.f) return;
    this.stopNode(node);
    node.fetchStarted = true;
    this.crashCount += 1;
    this.faultWindows.push({
      startMs: this.nowMs,
      endMs: this.nowMs + downMs + this.config.transferAllowanceMs,
      reason: `target n${node.id} crashed mid-transfer`,
    });
    this.queue.push(this.nowMs + downMs, { kind: "nodeRestart", nodeId: node.id, epoch: node.epoch });
    this.log(`n${node.id} (migration target) crashed mid-transfer, down ${downMs}ms`);
  }

  private restartCrashedTarget(node: SimNode, epoch: number): void {
    // The CM may have sanitized it meanwhile (failed probes, on-demand migration): then it owns the node.
    if (node.up || node.epoch !== epoch) return;
    node.fetchStarted = false;
    node.up = true;
    this.network.setDown(node.principal, false);
    this.becomeStandby(node, this.cmMembers());
    this.log(`n${node.id} restarted as a fresh standby core`);
    // Its session keys died with its memory: exchange new ones under a higher counter.
    const role = node.role;
    assert(role.kind === "standby", "a restarted target runs a standby core");
    this.stepStandby(node, role.core, { kind: "rekey", counter: node.coprocessor.incrementCounter() });
  }

  protected startPartition(index: number): void {
    const partition = this.plan.partitions[index];
    assert(partition !== undefined, "partition index from the plan");
    if (this.healed) return;
    // The plan keeps overlapping partitions apart by logical id, but a node may since have been
    // cut off as another id's host (migrated away from mid-partition, sanitized and promoted to
    // the id this partition names): it stays on its island (seed 115 of the migration runs).
    // Two ids the partition names may also map to one node (hostOf still names a node for an id
    // whose target was never promoted, and that node now runs the other id): cut it off once
    // (seed 150).
    const seen = new Set<string>();
    const members = partition.members
      .map(
        (member): Principal =>
          member.kind === "replica" ? { kind: "node", id: this.hostOf[member.id] as number } : member,
      )
      .filter((member) => {
        const key = `${member.kind}:${member.id}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return !this.network.inIsland(member);
      });
    if (members.length === 0) return;
    this.partitionIslands.set(index, this.network.addIsland(members));
    this.log(`partition ${index} starts: ${members.map(principalName).join(",")} cut off`);
  }

  protected restartCrashed(): void {
    for (const node of this.nodes) if (node.planCrashed) this.restartPlanned(node);
  }

  // ---- nodes ----------------------------------------------------------------------------------

  private createNode(nodeId: number, store: ReturnType<typeof createFakeCoprocessorStore>): SimNode {
    const principal: Principal = { kind: "node", id: nodeId };
    const transport = this.network.attach(principal);
    const assignment = nodeId < this.n ? this.plan.byzantine.find((b) => b.replicaId === nodeId) : undefined;
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + store.seed.length);
    der.set(PKCS8_ED25519_PREFIX, 0);
    der.set(store.seed, PKCS8_ED25519_PREFIX.length);
    const wire = this.createWire(principal, principal, this.hostOf);
    const randomBytes = seededBytes(this.options.seed, nodeId);
    const node: SimNode = {
      id: nodeId,
      principal,
      transport,
      coprocessor: new FakeCoprocessor(store),
      signingKey: createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }),
      keyAgreement: createX25519KeyAgreement(randomBytes),
      randomBytes,
      sessionKeys: new SessionKeyStore(randomBytes(MAC_KEY_BYTES)),
      byzantine: assignment === undefined ? undefined : this.behaviourFor(assignment.kind),
      up: false,
      epoch: 0,
      role: { kind: "empty" },
      wire,
      context: undefined as unknown as ByzantineContext,
      timerGenerations: new TimerGenerations(),
      nic1: nodeId < this.n,
      nic2: true,
      planCrashed: false,
      transferBytes: 0,
      fetchStarted: false,
    };
    node.context = this.byzantineContext(node);
    this.network.setDown(principal, true);
    transport.onFrame((frame) => this.onNodeFrame(node, frame));
    return node;
  }

  private behaviourFor(kind: ReturnType<typeof createByzantineBehaviour>["kind"]): ByzantineBehaviour {
    if (this.migrationFault.kind === "withholdMigration") return withholdMigrationBehaviour();
    return createByzantineBehaviour(kind);
  }

  private replicaConfig(
    replicaId: number,
    nodeId: number,
    hosts: readonly number[] = this.hostOf,
  ): ReplicaConfig {
    const tuning = this.plan.replicaTuning;
    const base = defaultReplicaConfig(this.f, replicaId);
    return validateReplicaConfig({
      ...base,
      ...(tuning ?? {}),
      migration: {
        nodeId,
        roster: this.roster,
        members: this.membersOf(hosts),
        cmPublicKeys: [this.cmCoprocessor.publicKey()],
        interval: { p0: 10, toeMs0: 50, tsMs0: 10_000 },
        migrationTimeoutMsMin: this.migration.migrationTimeoutMs,
        proactive: true,
        joinTimeSkewMsMax: JOIN_TIME_SKEW_MS_DEFAULT,
        migrateNowRetransmitsMax: 20,
        // Past the CM's promotion deadline (20 s), which moves a target's id that never starts.
        targetWaitMsMax: 25_000,
      },
    });
  }

  private membersOf(hosts: readonly number[]): MemberAddress[] {
    return hosts.map((nodeId, replicaId) => ({ replicaId, nodeId, address: nodeAddress(nodeId) }));
  }

  private replicaDeps(node: SimNode): CoreDeps {
    // Each boot exchanges keys under a new counter (a promoted target keeps its standby's table).
    const keyExchange = { counter: node.coprocessor.incrementCounter(), keyAgreement: node.keyAgreement };
    return {
      app: this.createApplication(),
      digest: sha256,
      requestDigest: (request) => node.wire.requestDigest(request),
      requestAuthentic: (request) => node.wire.requestAuthentic(request),
      signViewChange: (viewChange) => node.wire.signViewChange(viewChange),
      migration: {
        sign: (bytes) => node.coprocessor.sign(bytes),
        verify: verifySignature,
        authenticateInitMigration: (message) => node.wire.authenticateInitMigration(message),
        initMigrationAuthentic: (message) => node.wire.initMigrationAuthentic(message),
        keyExchange,
        fitsInFrame,
      },
    };
  }

  private bootReplica(node: SimNode, replicaId: number, recovering: boolean): void {
    this.resetNode(node);
    node.up = true;
    this.network.setDown(node.principal, false);
    node.sessionKeys = new SessionKeyStore(node.randomBytes(MAC_KEY_BYTES));
    node.wire = this.replicaWire(node, replicaId);
    this.activity = `in r${replicaId}@n${node.id} boot`;
    // hostOf may name this node for an id whose target never promoted as well (the node retired
    // from it, was sanitized and promoted for another id): a restarted replica recovers its
    // membership with the state, so stale entries only need to be distinct (constructionHosts).
    const hosts = constructionHosts(this.hostOf, replicaId, this.roster);
    const core = new Replica(this.replicaConfig(replicaId, node.id, hosts), this.replicaDeps(node));
    const incarnation = recovering ? this.nextIncarnation(replicaId) : 0;
    node.role = { kind: "replica", replicaId, core, incarnation };
    node.context = this.byzantineContext(node);
    this.recorder.replicaStarted(this.nowMs, replicaId, incarnation);
    this.applyReplicaEffects(node, core.start(this.nowMs, { recovering }));
    this.scheduleByzantineTick(node);
  }

  private nextIncarnation(replicaId: number): number {
    const next = (this.logicalIncarnation[replicaId] as number) + 1;
    this.logicalIncarnation[replicaId] = next;
    return next;
  }

  private scheduleByzantineTick(node: SimNode): void {
    const tickIntervalMs = node.byzantine?.tickIntervalMs;
    if (tickIntervalMs === undefined) return;
    this.queue.push(this.nowMs + tickIntervalMs, {
      kind: "byzantineTick",
      nodeId: node.id,
      epoch: node.epoch,
    });
  }

  /** Forget timers and cores' pending events: a new epoch. */
  private resetNode(node: SimNode): void {
    node.epoch += 1;
  }

  private stopNode(node: SimNode): void {
    node.up = false;
    this.resetNode(node);
    this.network.setDown(node.principal, true);
  }

  private bringUpEmpty(node: SimNode): void {
    this.resetNode(node);
    node.role = { kind: "empty" };
    node.up = true;
    this.network.setDown(node.principal, false);
  }

  private becomeStandby(node: SimNode, members: readonly { replicaId: number; nodeId: number }[]): void {
    this.resetNode(node);
    const hosts = members.map((member) => member.nodeId);
    node.sessionKeys = new SessionKeyStore(node.randomBytes(MAC_KEY_BYTES));
    node.wire = this.createWire(node.principal, node.principal, hosts, undefined, node.sessionKeys);
    node.context = this.byzantineContext(node);
    node.transferBytes = 0;
    const verifier = this.createApplication();
    const core = new StandbyNode(
      {
        registration: {
          nodeId: node.id,
          f: this.f,
          address: nodeAddress(node.id),
          publicKey: node.coprocessor.publicKey(),
          retransmitIntervalMs: 300,
        },
        roster: this.roster,
        members: this.membersOf(hosts),
        // Both callers pass the CM's membership: that of the rounds the CM applied.
        membershipSeq: Math.max(0, this.cm.lastMigrationSeq),
        cmPublicKeys: [this.cmCoprocessor.publicKey()],
        fetchTimeoutMs: this.config.fetchTimeoutMs,
      },
      {
        sign: (bytes) => node.coprocessor.sign(bytes),
        verify: verifySignature,
        digest: sha256,
        app: verifier,
        keyAgreement: node.keyAgreement,
      },
    );
    node.role = { kind: "standby", core };
  }

  private onNodeFrame(node: SimNode, frame: Uint8Array): void {
    if (!node.up) return;
    const opened = node.wire.open(frame);
    if (!opened.ok) {
      this.countRejected(opened.reason);
      return;
    }
    const role = node.role;
    if (role.kind === "replica") {
      // What a correct replica received counts too: a Byzantine primary's proposals are otherwise
      // invisible; the checker keeps only entries whose digest is the one executed at their seq.
      if (node.byzantine === undefined) this.recordSpecials(node, opened.message);
      this.stepReplica(node, role.core, { kind: "message", from: opened.from, message: opened.message });
    } else if (role.kind === "retired" && role.core !== null) {
      this.stepReplica(node, role.core, { kind: "message", from: opened.from, message: opened.message });
    } else if (role.kind === "standby") {
      if (opened.message.type === "StateChunk") node.transferBytes += opened.message.bytes.length;
      this.stepStandby(node, role.core, { kind: "message", from: opened.from, message: opened.message });
    }
  }

  private onNodeTimer(event: Extract<OwnEvent, { kind: "nodeTimer" }>): void {
    const node = this.node(event.nodeId);
    if (!node.up || node.epoch !== event.epoch) return;
    if (!node.timerGenerations.fire(event.timer, event.generation)) return;
    const role = node.role;
    if (role.kind === "replica")
      this.stepReplica(node, role.core, { kind: "timer", timer: event.timer as "status" });
    else if (role.kind === "standby")
      this.stepStandby(node, role.core, { kind: "timer", timer: event.timer as "fetch" });
  }

  private setTimer(node: SimNode, timer: string, afterMs: number): void {
    assert(afterMs >= 0, "timers fire in the future");
    const generation = node.timerGenerations.set(timer);
    this.queue.push(this.nowMs + afterMs, {
      kind: "nodeTimer",
      nodeId: node.id,
      epoch: node.epoch,
      timer,
      generation,
    });
  }

  private cancelTimer(node: SimNode, timer: string): void {
    node.timerGenerations.cancel(timer);
  }

  private onByzantineTick(nodeId: number, epoch: number): void {
    const node = this.node(nodeId);
    if (!node.up || node.epoch !== epoch || node.byzantine === undefined) return;
    const tickIntervalMs = tickByzantine(node.byzantine, node.context);
    this.queue.push(this.nowMs + tickIntervalMs, { kind: "byzantineTick", nodeId, epoch });
  }

  // ---- replica effects ------------------------------------------------------------------------

  private stepReplica(node: SimNode, core: Replica, input: ReplicaInput): void {
    this.activity = describeInput(`r${core.config.replicaId}@n${node.id}`, input);
    this.applyReplicaEffects(node, core.step(input, this.nowMs));
  }

  /** Carries out effects in array order (the core's ordering contract). */
  private applyReplicaEffects(node: SimNode, effects: readonly Effect[]): void {
    for (const effect of effects) {
      const role = node.role;
      switch (effect.kind) {
        case "send":
          this.replicaSend(node, effect.message, effect.to);
          break;
        case "broadcast":
          this.replicaSend(node, effect.message, "replicas");
          break;
        case "setTimer":
          this.setTimer(node, effect.timer, effect.afterMs);
          break;
        case "cancelTimer":
          this.cancelTimer(node, effect.timer);
          break;
        case "membershipChanged":
          this.applyMembership(node.wire, effect.members);
          break;
        case "retire":
          this.onRetire(node, effect.replicaId, effect.seq);
          break;
        case "migrationExecuted":
          this.onMigrationExecuted(node, effect);
          break;
        case "migrationCompleted":
          if (role.kind === "replica" || role.kind === "retired")
            this.recorder.record({
              kind: "migrationCompleted",
              atMs: this.nowMs,
              replicaId: role.replicaId,
              seq: effect.seq,
              latencyMs: effect.latencyMs,
            });
          break;
        case "migrationPostponed":
          this.log(`n${node.id}: migration postponed (${effect.reason})`);
          break;
        case "adminNotification":
          break;
        case "peerKey":
          node.sessionKeys.set(effect.nodeId, effect.key);
          break;
        case "evidenceAccepted":
          this.onEvidenceAccepted(node, effect);
          break;
        default: {
          assert(role.kind === "replica", "history effects come from running replicas");
          const recorded = this.recorder.replicaEffect(this.nowMs, role.replicaId, role.incarnation, effect);
          assert(recorded, `effect ${effect.kind} is a history record`);
          if (effect.kind === "viewEntered")
            this.log(
              `r${role.replicaId}@n${node.id} entered view ${effect.view} (primary r${effect.primary})`,
            );
          // State transfer may carry a later membership than the replica executed (no
          // membershipChanged effect then): point the wire at the members the state names.
          if (effect.kind === "stateInstalled") this.syncMembership(node, role.core);
        }
      }
    }
  }

  private onMigrationExecuted(node: SimNode, effect: Extract<Effect, { kind: "migrationExecuted" }>): void {
    const role = node.role;
    assert(role.kind === "replica", "a running replica executes migrations");
    this.recorder.record({
      kind: "migrationExecuted",
      atMs: this.nowMs,
      replicaId: role.replicaId,
      incarnation: role.incarnation,
      nodeId: node.id,
      view: effect.view,
      seq: effect.seq,
      migrationNumber: effect.migrationNumber,
      trigger: effect.trigger,
      pairs: effect.pairs.map((p) => ({ ...p })),
      stateDigest: hexOf(effect.stateDigest),
      stateSender: effect.stateSender,
    });
    if (this.rounds.has(effect.seq) || node.byzantine !== undefined) return;
    this.roundsExecuted += 1;
    this.rounds.set(effect.seq, {
      report: {
        migrationNumber: effect.migrationNumber,
        seq: effect.seq,
        trigger: effect.trigger,
        pairs: effect.pairs.map((p) => ({ ...p })),
      },
      executedAtMs: this.nowMs,
      pending: new Set(effect.pairs.map((p) => p.targetNodeId)),
      transferBytes: 0,
    });
    const pairs = effect.pairs
      .map((p) => `r${p.replicaId}: n${p.sourceNodeId} -> n${p.targetNodeId}`)
      .join(", ");
    this.log(`round l=${effect.migrationNumber} (${effect.trigger}) executed at seq ${effect.seq}: ${pairs}`);
  }

  private onEvidenceAccepted(node: SimNode, effect: Extract<Effect, { kind: "evidenceAccepted" }>): void {
    const role = node.role;
    assert(role.kind === "replica", "a running replica accepts evidence");
    this.recorder.record({
      kind: "evidenceAccepted",
      atMs: this.nowMs,
      replicaId: role.replicaId,
      incarnation: role.incarnation,
      nodeId: node.id,
      offenderId: effect.offenderId,
      offenderNodeId: effect.offenderNodeId,
      view: effect.view,
      fault: effect.fault,
    });
    this.log(
      `r${role.replicaId}@n${node.id}: evidence against r${effect.offenderId}@n${effect.offenderNodeId}` +
        ` (NEW-VIEW ${effect.view}: ${effect.fault})`,
    );
  }

  private syncMembership(node: SimNode, core: Replica): void {
    const members = core.migrationState?.members;
    if (members !== undefined) this.applyMembership(node.wire, members);
  }

  private applyMembership(wire: Wire, members: readonly MemberAddress[]): void {
    for (const member of members) {
      if (wire.nodeOf(member.replicaId) === member.nodeId) continue;
      wire.setMember(member.replicaId, member.nodeId, this.publicKeyOf(member.nodeId));
    }
  }

  private onRetire(node: SimNode, replicaId: number, seq: number): void {
    const core = node.role.kind === "replica" && node.byzantine === undefined ? node.role.core : null;
    node.role = { kind: "retired", replicaId, core };
    this.recorder.record({ kind: "retired", atMs: this.nowMs, replicaId, nodeId: node.id, seq });
    this.log(
      `r${replicaId}@n${node.id} retired at seq ${seq}${node.byzantine === undefined ? "" : " (Byzantine: keeps running)"}`,
    );
    if (this.cm.nodes.get(node.id)?.role === "retiring") this.pollCompliance(node);
  }

  private replicaSend(node: SimNode, message: Message, to: Destination): void {
    if (node.byzantine === undefined) this.recordSpecials(node, message);
    sendAsReplica(node.byzantine, message, to, node.context);
  }

  /** Special entries a correct replica proposes or relays (the checker's registry model input). */
  private recordSpecials(node: SimNode, message: Message): void {
    const role = node.role;
    if (role.kind !== "replica") return;
    const prePrepares: readonly PrePrepare[] =
      message.type === "PrePrepare" ? [message] : message.type === "NewView" ? message.prePrepares : [];
    for (const prePrepare of prePrepares) {
      const special = prePrepare.special;
      if (special === undefined) continue;
      let record: OrderedSpecialRecord;
      if (special.kind === "join") {
        const { nodeId, counter } = special.request;
        record = { kind: "join", nodeId, counter, joinTimeMs: special.joinTimeMs };
      } else if (special.kind === "leave") {
        record = { kind: "leave", nodeId: special.request.nodeId, counter: special.request.counter };
      } else {
        const { migrationNumber, trigger, sources, targets } = special.request;
        record = {
          kind: "migration",
          migrationNumber,
          trigger,
          sources: [...sources],
          targets: [...targets],
        };
      }
      this.recorder.record({
        kind: "specialOrdered",
        atMs: this.nowMs,
        replicaId: role.replicaId,
        view: prePrepare.view,
        seq: prePrepare.seq,
        digest: hexOf(prePrepare.digest),
        special: record,
      });
    }
  }

  private byzantineContext(node: SimNode): ByzantineContext {
    const role = node.role;
    const wire = node.wire;
    return {
      ...this.byzantineContextOf({
        replicaId: role.kind === "replica" || role.kind === "retired" ? role.replicaId : 0,
        prng: this.byzantinePrng,
        wire,
        sendFrame: (to, frame) => this.route(node.transport, wire, to, frame),
      }),
      signNewView: ({ type: _type, ...fields }) => node.coprocessor.sign(newViewSignedBytes(fields)),
    };
  }

  /** A logical replica is reached at the node the sender's own membership names. */
  private route(transport: Transport, wire: Wire, to: Principal, frame: Uint8Array): void {
    if (to.kind !== "replica") {
      transport.send(to, frame);
      return;
    }
    const nodeId = wire.nodeOf(to.id);
    assert(nodeId !== undefined, "membership-keyed wires name every replica's node");
    transport.send({ kind: "node", id: nodeId }, frame);
  }

  // ---- standby effects ------------------------------------------------------------------------

  private stepStandby(node: SimNode, core: StandbyNode, input: StandbyNodeInput): void {
    this.activity = `in standby n${node.id} on ${input.kind === "message" ? input.message.type : input.kind}`;
    this.applyStandbyEffects(node, core.step(input, this.nowMs));
  }

  private applyStandbyEffects(node: SimNode, effects: readonly StandbyNodeEffect[]): void {
    // MIGRATION-DONE follows `promoted` and goes out as the node: keep the node's wire for it.
    const wire = node.wire;
    const epoch = node.epoch;
    for (const effect of effects) {
      if (node.epoch !== epoch && effect.kind !== "send") continue;
      switch (effect.kind) {
        case "registered":
          this.feedCm({ kind: "nodeRegistered", nodeId: node.id, counter: effect.counter });
          break;
        case "registrationFailed":
          this.feedCm({ kind: "registrationFailed", nodeId: node.id });
          break;
        case "incrementCounter": {
          const counter = node.coprocessor.incrementCounter();
          if (node.role.kind === "standby")
            this.stepStandby(node, node.role.core, { kind: "counterIncremented", counter });
          break;
        }
        case "broadcast": {
          // The CM runs the node: it learns the l of each JOIN-REQUEST, to revoke that join if
          // the node fails before the CM hears of its approval.
          if (effect.message.type === "JoinRequest")
            this.feedCm({ kind: "joinRequested", nodeId: node.id, counter: effect.message.counter });
          const frame = wire.seal(effect.message, "replicas");
          for (let id = 0; id < this.n; id += 1)
            this.route(node.transport, wire, { kind: "replica", id }, frame);
          break;
        }
        case "send":
          if (effect.message.type === "FetchState") this.maybeCrashTarget(node);
          if (effect.message.type === "FetchState") node.fetchStarted = true;
          this.route(node.transport, wire, effect.to, wire.seal(effect.message, effect.to));
          break;
        case "setTimer":
          this.setTimer(node, effect.timer, effect.afterMs);
          break;
        case "cancelTimer":
          this.cancelTimer(node, effect.timer);
          break;
        case "membershipChanged":
          this.applyMembership(wire, effect.members);
          break;
        case "promoted":
          this.promote(node, effect);
          break;
        case "peerKey":
          node.sessionKeys.set(effect.nodeId, effect.key);
          break;
        default:
          break;
      }
    }
  }

  /** Section 3.2: the target runs the logical replica from the verified migration checkpoint. */
  private promote(node: SimNode, effect: Extract<StandbyNodeEffect, { kind: "promoted" }>): void {
    const replicaId = effect.replicaId;
    this.activity = `in n${node.id} promotion to r${replicaId}`;
    this.resetNode(node);
    node.byzantine = undefined;
    node.fetchStarted = false;
    const hosts = [...this.hostOf];
    hosts[replicaId] = node.id;
    // Built on the old holders, then moved to the checkpoint's membership (below), so the wire
    // keeps each moved id's previous node key for VIEW-CHANGEs nested in older NEW-VIEWs.
    node.wire = this.replicaWire(node, replicaId);
    const core = Replica.promoted(
      this.replicaConfig(replicaId, node.id, constructionHosts(hosts, replicaId, this.roster)),
      this.replicaDeps(node),
      effect,
    );
    const members = core.migrationState?.members;
    assert(members !== undefined, "a promoted replica has a membership");
    this.applyMembership(node.wire, members);
    this.hostOf[replicaId] = node.id;
    const incarnation = this.nextIncarnation(replicaId);
    node.role = { kind: "replica", replicaId, core, incarnation };
    node.context = this.byzantineContext(node);
    const stateDigest = hexOf(effect.stateDigest);
    this.recorder.replicaStarted(this.nowMs, replicaId, incarnation);
    this.recorder.replicaEffect(this.nowMs, replicaId, incarnation, {
      kind: "stateInstalled",
      seq: effect.seq,
      stateDigest: effect.stateDigest,
    });
    this.recorder.record({
      kind: "promoted",
      atMs: this.nowMs,
      replicaId,
      incarnation,
      nodeId: node.id,
      view: effect.view,
      seq: effect.seq,
      stateDigest,
    });
    this.log(
      `n${node.id} promoted to r${replicaId} at seq ${effect.seq} (${node.transferBytes} state bytes)`,
    );
    this.trackPromotion(node, effect.seq);
    // The node's agent supervises the replica process: the CM hears that the target started.
    this.feedCm({ kind: "replicaStarted", nodeId: node.id, replicaId });
    this.applyReplicaEffects(node, core.start(this.nowMs));
  }

  private trackPromotion(node: SimNode, seq: number): void {
    const round = this.rounds.get(seq);
    if (round === undefined || !round.pending.delete(node.id)) return;
    round.transferBytes += node.transferBytes;
    if (round.pending.size > 0) return;
    const report: MigrationRoundReport = {
      ...round.report,
      transferBytes: round.transferBytes,
      latencyMs: this.nowMs - round.executedAtMs,
      atMs: this.nowMs,
      wallMs: performance.now() - this.wallStartMs,
    };
    if (this.reports.length < ROUND_REPORTS_MAX) this.reports.push(report);
    this.options.onMigrationRound?.(report);
    const rounds = this.migration.rounds;
    if (rounds > 0 && this.reports.length >= rounds && this.loadEndMs > this.nowMs) {
      this.loadEndMs = this.nowMs;
      this.log(`${rounds} rounds completed: clients stop submitting`);
    }
  }

  // ---- CM -------------------------------------------------------------------------------------

  private feedCm(input: CmInput): void {
    this.activity = `in the CM on ${input.kind}`;
    this.applyCmEffects(cmStep(this.cm, input, this.nowMs));
  }

  private onCmFrame(frame: Uint8Array): void {
    const opened = this.cmWire.open(frame);
    if (!opened.ok) {
      this.countRejected(opened.reason);
      return;
    }
    const { from, message } = opened;
    if (message.type !== "MigrateNow" || from.kind !== "replica") return;
    // Replicas keep resending their last rounds' copies, their peers' among them, after the CM
    // applied them: counted apart from bad signatures (and not verified), since the CM core would
    // drop them anyway. A copy that fails its check below may also be one signed by a node that a
    // round the CM has not applied yet moved to its author's id (resent again later).
    if (message.seq <= this.cm.lastMigrationSeq) {
      this.countRejected("cm:staleMigrateNow");
      return;
    }
    // Sent by its signer or relayed by a peer: the vote of the replica it names, if signed so.
    const input = migrateNowInput(
      this.cm,
      message,
      (nodeId) => this.roster[nodeId]?.publicKey,
      verifySignature,
    );
    if (input === null) {
      this.countRejected("cm:badSignature");
      return;
    }
    this.feedCm(input);
  }

  /** The CM's view of who runs each logical id (what `admit` carries). */
  private cmMembers(): { replicaId: number; nodeId: number }[] {
    const members = Array.from({ length: this.n }, (_, replicaId) => ({
      replicaId,
      nodeId: this.cmWire.nodeOf(replicaId) as number,
    }));
    return members;
  }

  private applyCmEffects(effects: readonly CmEffect[]): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "setNic":
          this.setNic(effect.nodeId, effect.nic, effect.enabled);
          break;
        case "sanitize":
          this.sanitize(this.node(effect.nodeId));
          break;
        case "probe":
          this.queue.push(this.nowMs + PROBE_RESULT_MS, {
            kind: "cmInput",
            input: {
              kind: "probeResult",
              nodeId: effect.nodeId,
              probeId: effect.probeId,
              healthy: this.node(effect.nodeId).up,
            },
          });
          break;
        case "admit":
          this.admit(this.node(effect.nodeId), effect.members);
          break;
        case "leaveRequest":
          this.sendLeave(effect.nodeId, effect.counter);
          break;
        case "requestOnDemandMigration":
          this.sendOnDemand([effect.replicaId]);
          break;
        case "roleChanged":
          if (effect.to === "retiring") this.pollCompliance(this.node(effect.nodeId));
          break;
        case "migrationApplied":
          for (const pair of effect.pairs)
            this.cmWire.setMember(pair.replicaId, pair.targetNodeId, this.publicKeyOf(pair.targetNodeId));
          break;
        case "membershipCertified":
          this.sendCertificate(effect.seq, effect.checkpointDigest, effect.members);
          break;
        case "adminNotification":
          if (effect.reason === "sourceNotComplying") this.cutOffs += 1;
          this.log(`CM admin notification: n${effect.nodeId} ${effect.reason}`);
          break;
      }
    }
  }

  private setNic(nodeId: number, nic: "nic1" | "nic2", enabled: boolean): void {
    const node = this.node(nodeId);
    if (nic === "nic1") node.nic1 = enabled;
    else node.nic2 = enabled;
    this.recorder.record({ kind: "nicChanged", atMs: this.nowMs, nodeId, nic, enabled });
  }

  /** A correct retired source has stopped: it complies. A Byzantine one never does (cut off at the deadline). */
  private pollCompliance(node: SimNode): void {
    if (this.cm.nodes.get(node.id)?.role !== "retiring") return;
    const stopped = node.role.kind !== "replica" || !node.up;
    if (node.byzantine === undefined && stopped) {
      this.feedCm({ kind: "complianceCheck", nodeId: node.id, complied: true });
      return;
    }
    this.queue.push(this.nowMs + COMPLIANCE_POLL_MS, { kind: "complianceCheck", nodeId: node.id });
  }

  /** Sanitization = reboot: memory (and any compromise) gone; the node is up again after sanitizeMs. */
  private sanitize(node: SimNode): void {
    this.stopNode(node);
    node.role = { kind: "empty" };
    node.byzantine = undefined;
    node.planCrashed = false;
    node.fetchStarted = false;
    this.sanitizations += 1;
    this.recorder.record({ kind: "sanitized", atMs: this.nowMs, nodeId: node.id });
    this.queue.push(this.nowMs + this.migration.sanitizeMs, {
      kind: "sanitizeDone",
      nodeId: node.id,
      epoch: node.epoch,
    });
  }

  private sanitizeDone(node: SimNode, epoch: number): void {
    if (node.epoch !== epoch) return;
    this.bringUpEmpty(node);
    this.feedCm({ kind: "sanitizeResult", nodeId: node.id, ok: true });
  }

  private admit(node: SimNode, members: readonly { replicaId: number; nodeId: number }[]): void {
    if (!node.up) return;
    // The CM lists only ids it holds an active node for; the rest keep their last known node.
    const view = this.cmMembers().map(
      (member) => members.find((m) => m.replicaId === member.replicaId) ?? member,
    );
    this.becomeStandby(node, view);
    const role = node.role;
    assert(role.kind === "standby", "an admitted node runs a standby core");
    this.stepStandby(node, role.core, { kind: "sanitized" });
  }

  private sendLeave(nodeId: number, counter: number): void {
    const fields = { nodeId, counter, cmId: CM_ID };
    const message: Message = {
      type: "LeaveRequest",
      ...fields,
      signature: this.cmCoprocessor.sign(leaveRequestSignedBytes(fields)),
    };
    this.cmBroadcast(message);
  }

  private sendOnDemand(replicaIds: number[]): void {
    this.cmOnDemandCounter += 1;
    const fields = { replicaIds, counter: this.cmOnDemandCounter, cmId: CM_ID };
    const message: OnDemandMigration = {
      type: "OnDemandMigration",
      ...fields,
      signature: this.cmCoprocessor.sign(onDemandMigrationSignedBytes(fields)),
    };
    this.recorder.record({ kind: "onDemandRequested", atMs: this.nowMs, replicaIds: [...replicaIds] });
    this.log(`CM requests an on-demand migration of r${replicaIds.join(",r")}`);
    this.cmBroadcast(message);
  }

  /**
   * The CM signs the membership after a round it applied and sends it over NIC3 to the node
   * running each id (as the certificate names it) and to every standby; replicas relay it to
   * clients (docs/migration.md, "Membership certificates").
   */
  private sendCertificate(
    seq: number,
    checkpointDigest: Uint8Array,
    members: readonly { replicaId: number; nodeId: number }[],
  ): void {
    const fields = {
      seq,
      checkpointDigest,
      members: members.map((member) => ({ ...member, address: nodeAddress(member.nodeId) })),
      cmId: CM_ID,
    };
    const message: MembershipCertificate = {
      type: "MembershipCertificate",
      ...fields,
      signature: this.cmCoprocessor.sign(membershipCertificateSignedBytes(fields)),
    };
    for (const member of members) {
      const to: Principal = { kind: "replica", id: member.replicaId };
      this.cmTransport.send({ kind: "node", id: member.nodeId }, this.cmWire.seal(message, to));
    }
    for (const node of this.nodes) {
      if (node.role.kind !== "standby") continue;
      const to: Principal = { kind: "node", id: node.id };
      this.cmTransport.send(to, this.cmWire.seal(message, to));
    }
  }

  private cmBroadcast(message: Message): void {
    for (let id = 0; id < this.n; id += 1) {
      const to: Principal = { kind: "replica", id };
      this.route(this.cmTransport, this.cmWire, to, this.cmWire.seal(message, to));
    }
  }

  // ---- network rules --------------------------------------------------------------------------

  /** NIC1 carries client traffic, NIC2 node-to-node traffic, NIC3 (always on) the CM's. */
  private admits(from: Principal, to: Principal): boolean {
    if (from.kind === "cm" || to.kind === "cm") return true;
    const source = from.kind === "node" ? this.node(from.id) : undefined;
    const target = to.kind === "node" ? this.node(to.id) : undefined;
    if (from.kind === "client") return target === undefined || target.nic1;
    if (to.kind === "client") return source === undefined || source.nic1;
    return (source?.nic2 ?? true) && (target?.nic2 ?? true);
  }

  /** Records client frames that reach a node running no active replica (standbys must see none). */
  private observe(delivery: Delivery): void {
    if (delivery.from.kind !== "client" || delivery.to.kind !== "node") return;
    const node = this.node(delivery.to.id);
    if (node.role.kind === "replica") return;
    this.recorder.record({
      kind: "clientFrameDelivered",
      atMs: this.nowMs,
      clientId: delivery.from.id,
      nodeId: node.id,
      cmRole: this.cm.nodes.get(node.id)?.role ?? "unknown",
    });
  }

  // ---- clients --------------------------------------------------------------------------------

  protected clientWire(principal: Principal): Wire {
    return this.createWire(principal, principal, this.hostOf);
  }

  protected clientDeps(wire: Wire): ClientDeps {
    return {
      authenticateRequest: (request) => wire.authenticateRequest(request),
      membershipCertificates: { cmPublicKeys: [this.cmCoprocessor.publicKey()], verify: verifySignature },
    };
  }

  protected openClientFrame(client: ClientNode, frame: Uint8Array): OpenResult {
    const opened = client.wire.open(frame);
    if (opened.ok) this.activity = `in c${client.id} on ${opened.message.type}`;
    return opened;
  }

  protected sendClientFrame(client: ClientNode, to: Principal, frame: Uint8Array): void {
    this.route(client.transport, client.wire, to, frame);
  }

  protected override onClientMembershipChanged(
    client: ClientNode,
    effect: Extract<ClientEffect, { kind: "membershipChanged" }>,
  ): void {
    this.applyMembership(client.wire, effect.members);
  }

  // ---- helpers --------------------------------------------------------------------------------

  /**
   * A Wire for `self`, MAC-keyed as `keyOwner` (a node, client or the CM), with replicas keyed by
   * the nodes in `hosts` and their coprocessor keys for VIEW-CHANGE signatures.
   */
  private createWire(
    self: Principal,
    keyOwner: Principal,
    hosts: readonly number[],
    signingKey?: KeyObject,
    sessionKeys?: SessionKeyStore,
  ): Wire {
    return new Wire({
      self,
      n: this.n,
      keys: createDerivedKeyRing({ clusterSecret: this.clusterSecret, self: keyOwner }),
      ...(signingKey === undefined ? {} : { signing: { privateKey: signingKey } }),
      replicaPublicKeys: hosts.map((nodeId) => this.publicKeyOf(nodeId)),
      membership: hosts,
      ...(sessionKeys === undefined ? {} : { sessionKeys }),
    });
  }

  /** A node's wire as replica `replicaId`, keying the other ids by the nodes in hostOf. */
  private replicaWire(node: SimNode, replicaId: number): Wire {
    return this.createWire(
      { kind: "replica", id: replicaId },
      node.principal,
      this.hostOf,
      node.signingKey,
      node.sessionKeys,
    );
  }

  private publicKeyOf(nodeId: number): Uint8Array {
    const entry = this.roster[nodeId];
    assert(entry !== undefined && entry.nodeId === nodeId, `node ${nodeId} is in the roster`);
    return entry.publicKey;
  }

  protected countRejected(reason: string): void {
    const key = reason.includes(":") ? reason : `wire:${reason}`;
    this.wireRejected.set(key, (this.wireRejected.get(key) ?? 0) + 1);
  }

  private node(id: number): SimNode {
    const node = this.nodes[id];
    assert(node !== undefined, `node ${id} exists`);
    return node;
  }

  private result(outcome: RunOutcome): MigrationRunResult {
    return {
      ...this.resultOf(outcome),
      migrationFault: this.migrationFault,
      rounds: this.reports,
      roundsExecuted: this.roundsExecuted,
      sanitizations: this.sanitizations,
      cutOffs: this.cutOffs,
    };
  }
}

/** Honest, except that as primary it never sends the PRE-PREPARE of a MIGRATION-REQUEST. */
function withholdMigrationBehaviour(): ByzantineBehaviour {
  return {
    kind: "silent",
    tickIntervalMs: undefined,
    tick: () => {},
    send: (message, to, context) => {
      if (message.type === "PrePrepare" && message.special?.kind === "migration") return;
      sendHonest(message, to, context);
    },
  };
}

/** A node's random bytes (X25519 private keys, its own MAC key), reproducible from the run's seed. */
function seededBytes(seed: number, nodeId: number): (length: number) => Uint8Array {
  let drawn = 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += 32) {
      drawn += 1;
      const block = createHash("sha256").update(`migrate-bft/sim/random/${seed}/${nodeId}/${drawn}`).digest();
      out.set(block.subarray(0, Math.min(32, length - offset)), offset);
    }
    return out;
  };
}

function nodeAddress(nodeId: number): string {
  return `10.2.0.${nodeId}:7000`;
}

/**
 * The membership a promoted or restarted replica is constructed with. It is a placeholder:
 * Replica.promoted replaces it with the membership in the certified migration checkpoint, and a
 * restarted (amnesiac) replica gets it with the state it fetches. The simulator's own map
 * updates only at promotions, so it can still name the promoted node for another logical id it
 * served before (a source retired, sanitized and chosen again before that id's target promoted);
 * such stale entries get unused roster nodes so the construction-time membership is distinct.
 */
export function constructionHosts(
  hosts: readonly number[],
  replicaId: number,
  roster: readonly { nodeId: number }[],
): number[] {
  const result = [...hosts];
  const seen = new Set<number>([result[replicaId]!]);
  const spare = roster.map((entry) => entry.nodeId).filter((nodeId) => !result.includes(nodeId));
  for (let index = 0; index < result.length; index += 1) {
    if (index === replicaId) continue;
    if (seen.has(result[index]!)) {
      const replacement = spare.shift();
      assert(replacement !== undefined, "the roster has a spare node for a stale membership entry");
      result[index] = replacement;
    }
    seen.add(result[index]!);
  }
  return result;
}
