/**
 * Test harness for migration (not a test file itself): 3f+1 replica cores with migration
 * settings, standby node cores, one CM core, and clients as recorders, wired through an in-memory
 * FIFO queue with simulated time and timers (like replica-harness.ts, without wire encoding: the
 * envelope's `from` is what the wire would report after authentication). Signatures are real
 * Ed25519 from FakeCoprocessors. Messages to a logical replica id go to whichever node runs it now.
 */
import type { CmEffect, CmState } from "../../bft/cm/index.js";
import { step as cmStep, createCmState, migrateNowInput } from "../../bft/cm/index.js";
import {
  createFakeCoprocessorStore,
  FakeCoprocessor,
  fakeSeed,
  verifySignature,
} from "../../bft/coprocessor/index.js";
import type {
  InitMigration,
  MemberAddress,
  Message,
  MigrateNow,
  OnDemandMigration,
  Principal,
  Request,
} from "../../bft/messages.js";
import {
  DEFAULT_INTERVAL_PARAMS,
  type IntervalParams,
  onDemandMigrationSignedBytes,
  type RosterEntry,
} from "../../bft/migration/index.js";
import {
  type CoreDeps,
  defaultReplicaConfig,
  type Effect,
  type MigrationSettings,
  Replica,
  type ReplicaConfig,
  StandbyNode,
  type StandbyNodeEffect,
} from "../../bft/replica/index.js";
import { fitsInFrame } from "../../bft/wire/index.js";
import { ChainApp, makeDeps, makeRequest } from "./replica-harness.js";
import { takeNextDueTimer } from "./timers.js";

export interface Envelope {
  readonly from: Principal;
  readonly to: Principal;
  readonly message: Message;
}

export interface MigrationClusterOptions {
  readonly f: number;
  readonly standbyCount?: number;
  readonly interval?: IntervalParams;
  readonly proactive?: boolean;
  readonly config?: Partial<ReplicaConfig>;
  /** MigrationSettings.targetWaitMsMax; 0 (no hold) unless a test sets it. */
  readonly targetWaitMsMax?: number;
}

interface ReplicaHost {
  readonly nodeId: number;
  readonly replica: Replica;
  readonly app: ChainApp;
}

const STANDBY_NODE_BASE = 100;
const CM_SEED = 999;

export class MigrationCluster {
  readonly f: number;
  readonly n: number;
  readonly standbyIds: number[];
  readonly coprocessors = new Map<number, FakeCoprocessor>();
  readonly cmCoprocessor: FakeCoprocessor;
  readonly roster: RosterEntry[];
  readonly initialMembers: MemberAddress[];
  /** Logical replica id -> the node running it now (absent while a target is still fetching). */
  readonly hosts = new Map<number, ReplicaHost>();
  readonly standbys = new Map<number, StandbyNode>();
  readonly retired: ReplicaHost[] = [];
  readonly cm: CmState;
  readonly cmEffects: CmEffect[] = [];
  readonly effects: { readonly actor: string; readonly effect: Effect | StandbyNodeEffect }[] = [];
  readonly clientInbox = new Map<number, Message[]>();
  readonly queue: Envelope[] = [];
  readonly timers = new Map<string, number>();
  readonly crashedNodes = new Set<number>();
  /** Retired sources tell the CM they complied (a non-complying source is cut off at its deadline). */
  sourcesComply = true;
  filter: (envelope: Envelope) => boolean = () => true;
  /** What the replicas' INIT-MIGRATION authenticators are made under (see replicaDeps). */
  initMigrationKeyEpoch = 0;
  /**
   * Whether the replica on `nodeId` can verify a proof's authenticator entry (the wire's MAC
   * check): a test stands for session keys renewed by a restart here.
   */
  initMigrationAuthentic: (nodeId: number, proof: InitMigration) => boolean = () => true;
  mutate: (envelope: Envelope) => Envelope = (envelope) => envelope;
  nowMs = 0;
  private readonly settingsBase: Omit<MigrationSettings, "nodeId">;
  private readonly configBase: Partial<ReplicaConfig>;
  private onDemandCounter = 0;

  constructor(options: MigrationClusterOptions) {
    this.f = options.f;
    this.n = 3 * options.f + 1;
    const standbyCount = options.standbyCount ?? 2 * options.f;
    this.standbyIds = Array.from({ length: standbyCount }, (_, index) => STANDBY_NODE_BASE + index);
    for (const nodeId of [...Array.from({ length: this.n }, (_, id) => id), ...this.standbyIds]) {
      const store = createFakeCoprocessorStore({ seed: fakeSeed(7, nodeId), codeDigest: new Uint8Array(32) });
      this.coprocessors.set(nodeId, new FakeCoprocessor(store));
    }
    this.cmCoprocessor = new FakeCoprocessor(
      createFakeCoprocessorStore({ seed: fakeSeed(7, CM_SEED), codeDigest: new Uint8Array(32) }),
    );
    this.roster = [...this.coprocessors].map(([nodeId, coprocessor]) => ({
      nodeId,
      publicKey: coprocessor.publicKey(),
    }));
    this.initialMembers = Array.from({ length: this.n }, (_, replicaId) => ({
      replicaId,
      nodeId: replicaId,
      address: `10.1.0.${replicaId}:7000`,
    }));
    this.settingsBase = {
      roster: this.roster,
      members: this.initialMembers,
      cmPublicKeys: [this.cmCoprocessor.publicKey()],
      interval: options.interval ?? { p0: 10, toeMs0: 50, tsMs0: 5000 },
      proactive: options.proactive ?? true,
      migrationTimeoutMsMin: 400,
      joinTimeSkewMsMax: 1000,
      migrateNowRetransmitsMax: 20,
      targetWaitMsMax: options.targetWaitMsMax ?? 0,
    };
    this.configBase = {
      checkpointIntervalSeqs: 4,
      logWindowSeqs: 8,
      batchSizeMax: 4,
      batchInflightMax: 2,
      statusIntervalMs: 100,
      viewChangeTimeoutMs: 1000,
      ...options.config,
    };
    for (let replicaId = 0; replicaId < this.n; replicaId++) {
      const app = new ChainApp();
      this.hosts.set(replicaId, {
        nodeId: replicaId,
        app,
        replica: new Replica(this.replicaConfig(replicaId, replicaId), this.replicaDeps(replicaId, app)),
      });
    }
    for (const nodeId of this.standbyIds) this.standbys.set(nodeId, this.makeStandby(nodeId));
    this.cm = createCmState(
      {
        f: this.f,
        probeIntervalMs: 1_000_000,
        probeTimeoutMs: 1_000_000,
        complianceTimeoutMs: 2000,
        registerTimeoutMs: 1_000_000,
        standbyResanitizeIntervalMs: 0,
        onDemandRetryMs: 1000,
        promotionTimeoutMs: 1_000_000,
        retiredSanitizeMethod: "reboot",
      },
      [
        ...Array.from({ length: this.n }, (_, replicaId) => ({ nodeId: replicaId, replicaId })),
        ...this.standbyIds.map((nodeId) => ({ nodeId })),
      ],
    );
  }

  replicaConfig(replicaId: number, nodeId: number): ReplicaConfig {
    return {
      ...defaultReplicaConfig(this.f, replicaId),
      ...this.configBase,
      migration: { ...this.settingsBase, nodeId },
    };
  }

  replicaDeps(nodeId: number, app: ChainApp): CoreDeps {
    const coprocessor = this.coprocessors.get(nodeId)!;
    return {
      ...makeDeps(app),
      migration: {
        sign: (bytes) => coprocessor.sign(bytes),
        verify: verifySignature,
        // Stands for the session keys the host MACs with: a test bumps the epoch to renew them.
        authenticateInitMigration: () => Uint8Array.of(this.initMigrationKeyEpoch),
        initMigrationAuthentic: (proof) => this.initMigrationAuthentic(nodeId, proof),
        fitsInFrame,
      },
    };
  }

  makeStandby(
    nodeId: number,
    members: readonly { readonly replicaId: number; readonly nodeId: number }[] = this.initialMembers,
    membershipSeq = 0,
  ): StandbyNode {
    const coprocessor = this.coprocessors.get(nodeId)!;
    const verifierApp = new ChainApp();
    return new StandbyNode(
      {
        registration: {
          nodeId,
          f: this.f,
          address: `10.2.0.${nodeId}:7000`,
          publicKey: coprocessor.publicKey(),
          retransmitIntervalMs: 300,
        },
        roster: this.roster,
        members: members.map((member) => ({ ...member, address: `10.1.0.${member.nodeId}:7000` })),
        membershipSeq,
        cmPublicKeys: [this.cmCoprocessor.publicKey()],
        fetchTimeoutMs: 300,
      },
      {
        sign: (bytes) => coprocessor.sign(bytes),
        verify: verifySignature,
        digest: makeDeps(verifierApp).digest,
        app: verifierApp,
      },
    );
  }

  start(): this {
    for (const [replicaId, host] of this.hosts)
      this.applyReplica(replicaId, host, host.replica.start(this.nowMs));
    this.feedCm({ kind: "start" });
    return this;
  }

  /** The CM sanitized, probed and admitted every pool node at start; let them register (section 3.1). */
  registerStandbys(): void {
    this.deliverAll();
  }

  /** Starts the cluster and lets every standby register: where most migration tests begin. */
  startRegistered(): this {
    this.start();
    this.registerStandbys();
    this.advance(50);
    return this;
  }

  replica(replicaId: number): Replica {
    const host = this.hosts.get(replicaId);
    if (host === undefined) throw new Error(`no running replica ${replicaId}`);
    return host.replica;
  }

  host(replicaId: number): ReplicaHost {
    const host = this.hosts.get(replicaId);
    if (host === undefined) throw new Error(`no running replica ${replicaId}`);
    return host;
  }

  /** Client 1's next timestamp under loadWhile. */
  private loadTimestamp = 1;

  /**
   * The steady load the liveness tests run rounds under: client 1 sends a new request to every
   * replica every 50 ms while `going()` holds and the clock is below untilMs.
   */
  loadWhile(going: () => boolean, untilMs = 6000): void {
    while (this.nowMs < untilMs && going()) {
      this.request(makeRequest(1, this.loadTimestamp++));
      this.advance(50);
    }
  }

  /** The distinct seqs of the migration rounds any replica executed, in order of first execution. */
  executedRoundSeqs(): number[] {
    return [
      ...new Set(this.effectsOf("migrationExecuted").map((entry) => (entry.effect as { seq: number }).seq)),
    ];
  }

  /** The replica ids named by the MIGRATE-NOWs `actor` sent to the CM, its own and relayed copies. */
  migrateNowAuthorsSentToCm(actor: string): number[] {
    return this.effectsOf("send")
      .filter((entry) => entry.actor === actor)
      .map((entry) => entry.effect as { to: { kind: string }; message: Message })
      .filter((effect) => effect.to.kind === "cm" && effect.message.type === "MigrateNow")
      .map((effect) => (effect.message as MigrateNow).replicaId);
  }

  request(request: Request): void {
    for (let replicaId = 0; replicaId < this.n; replicaId++)
      this.queue.push({
        from: { kind: "client", id: request.clientId },
        to: { kind: "replica", id: replicaId },
        message: request,
      });
  }

  /** A CM-signed on-demand request for `replicaIds` to every replica (section 3.4). */
  onDemand(replicaIds: number[]): void {
    this.onDemandCounter += 1;
    const fields = { replicaIds, counter: this.onDemandCounter, cmId: 0 };
    const message: OnDemandMigration = {
      type: "OnDemandMigration",
      ...fields,
      signature: this.cmCoprocessor.sign(onDemandMigrationSignedBytes(fields)),
    };
    for (let replicaId = 0; replicaId < this.n; replicaId++)
      this.queue.push({ from: { kind: "cm", id: 0 }, to: { kind: "replica", id: replicaId }, message });
  }

  /** A crashed node loses its memory; on restart a standby core starts afresh (not registered). */
  crashNode(nodeId: number): void {
    this.crashedNodes.add(nodeId);
    for (const key of [...this.timers.keys()]) if (key.startsWith(`n${nodeId}:`)) this.timers.delete(key);
  }

  /** With the CM's membership and, when `withSeq`, the seq of the last round the CM applied. */
  restartStandby(nodeId: number, withSeq = false): void {
    this.crashedNodes.delete(nodeId);
    const membershipSeq = withSeq ? Math.max(0, this.cm.lastMigrationSeq) : 0;
    this.standbys.set(nodeId, this.makeStandby(nodeId, this.cmMembers(), membershipSeq));
  }

  /** The CM's view of the membership (what it hands a node it admits). */
  cmMembers(): { replicaId: number; nodeId: number }[] {
    return [...this.cm.nodes.values()]
      .filter((node) => node.replicaId !== null && node.role === "active")
      .map((node) => ({ replicaId: node.replicaId!, nodeId: node.nodeId }))
      .sort((a, b) => a.replicaId - b.replicaId);
  }

  effectsOf(kind: string): { readonly actor: string; readonly effect: Effect | StandbyNodeEffect }[] {
    return this.effects.filter((entry) => entry.effect.kind === kind);
  }

  deliverAll(stepsMax = 500_000): void {
    let steps = 0;
    while (this.queue.length > 0) {
      if (++steps > stepsMax) throw new Error("deliverAll: step limit reached");
      const envelope = this.mutate(this.queue.shift()!);
      if (!this.filter(envelope)) continue;
      this.deliver(envelope);
    }
  }

  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    this.deliverAll();
    for (;;) {
      const next = takeNextDueTimer(this.timers, endMs);
      if (next === null) break;
      this.nowMs = Math.max(this.nowMs, next.dueMs);
      this.fireTimer(next.key);
      this.deliverAll();
    }
    this.nowMs = endMs;
    this.feedCm({ kind: "tick" });
    this.deliverAll();
  }

  private fireTimer(key: string): void {
    const [actor, timer] = key.split(":") as [string, string];
    if (actor.startsWith("r")) {
      const [replicaText, nodeText] = actor.slice(1).split("@") as [string, string];
      const host = this.hosts.get(Number(replicaText));
      if (host === undefined || host.nodeId !== Number(nodeText)) return;
      this.applyReplica(
        Number(replicaText),
        host,
        host.replica.step({ kind: "timer", timer: timer as never }, this.nowMs),
      );
      return;
    }
    const nodeId = Number(actor.slice(1));
    if (this.crashedNodes.has(nodeId)) return;
    this.stepStandby(nodeId, { kind: "timer", timer: timer as never });
  }

  private deliver(envelope: Envelope): void {
    const { from, to, message } = envelope;
    if (from.kind === "node" && this.crashedNodes.has(from.id)) return;
    switch (to.kind) {
      case "replica": {
        const host = this.hosts.get(to.id);
        if (host === undefined || this.crashedNodes.has(host.nodeId)) return;
        this.applyReplica(to.id, host, host.replica.step({ kind: "message", from, message }, this.nowMs));
        return;
      }
      case "node":
        if (this.crashedNodes.has(to.id) || !this.standbys.has(to.id)) return;
        this.stepStandby(to.id, { kind: "message", from, message });
        return;
      case "cm":
        if (message.type === "MigrateNow" && from.kind === "replica") {
          const input = migrateNowInput(
            this.cm,
            message,
            (nodeId) => this.coprocessors.get(nodeId)?.publicKey(),
            verifySignature,
          );
          if (input !== null) this.applyCm(cmStep(this.cm, input, this.nowMs));
        }
        return;
      case "client": {
        const inbox = this.clientInbox.get(to.id) ?? [];
        inbox.push(message);
        this.clientInbox.set(to.id, inbox);
        return;
      }
    }
  }

  stepStandby(nodeId: number, input: Parameters<StandbyNode["step"]>[0]): void {
    const standby = this.standbys.get(nodeId);
    if (standby === undefined) return;
    this.applyStandby(nodeId, standby.step(input, this.nowMs));
  }

  private applyStandby(nodeId: number, effects: readonly StandbyNodeEffect[]): void {
    const from: Principal = { kind: "node", id: nodeId };
    for (const effect of effects) {
      this.effects.push({ actor: `n${nodeId}`, effect });
      switch (effect.kind) {
        case "registered":
          this.feedCm({ kind: "nodeRegistered", nodeId, counter: effect.counter });
          break;
        case "incrementCounter": {
          const counter = this.coprocessors.get(nodeId)!.incrementCounter();
          this.stepStandby(nodeId, { kind: "counterIncremented", counter });
          break;
        }
        case "broadcast":
          for (let id = 0; id < this.n; id++)
            this.queue.push({ from, to: { kind: "replica", id }, message: effect.message });
          break;
        case "send":
          this.queue.push({ from, to: effect.to, message: effect.message });
          break;
        case "setTimer":
          this.timers.set(`n${nodeId}:${effect.timer}`, this.nowMs + effect.afterMs);
          break;
        case "cancelTimer":
          this.timers.delete(`n${nodeId}:${effect.timer}`);
          break;
        case "promoted": {
          const app = new ChainApp();
          const replica = Replica.promoted(
            this.replicaConfig(effect.replicaId, nodeId),
            this.replicaDeps(nodeId, app),
            effect,
          );
          const host = { nodeId, replica, app };
          this.standbys.delete(nodeId);
          this.hosts.set(effect.replicaId, host);
          this.applyReplica(effect.replicaId, host, replica.start(this.nowMs));
          break;
        }
        default:
          break;
      }
    }
  }

  private applyReplica(replicaId: number, host: ReplicaHost, effects: readonly Effect[]): void {
    const from: Principal = { kind: "replica", id: replicaId };
    const actor = `r${replicaId}@${host.nodeId}`;
    for (const effect of effects) {
      this.effects.push({ actor, effect });
      switch (effect.kind) {
        case "send":
          this.queue.push({ from, to: effect.to, message: effect.message });
          break;
        case "broadcast":
          for (let id = 0; id < this.n; id++)
            if (id !== replicaId)
              this.queue.push({ from, to: { kind: "replica", id }, message: effect.message });
          break;
        case "setTimer":
          this.timers.set(`${actor}:${effect.timer}`, this.nowMs + effect.afterMs);
          break;
        case "cancelTimer":
          this.timers.delete(`${actor}:${effect.timer}`);
          break;
        case "retire":
          // The host stops the source (section 3.2); a later holder of the id replaces it.
          this.retired.push(host);
          if (this.hosts.get(replicaId) === host) this.hosts.delete(replicaId);
          break;
        default:
          break;
      }
    }
  }

  feedCm(input: Parameters<typeof cmStep>[1]): void {
    this.applyCm(cmStep(this.cm, input, this.nowMs));
  }

  /** The CM's node operations succeed at once: sanitize, probe healthy, admit (re-creates the standby core). */
  private applyCm(effects: readonly CmEffect[]): void {
    this.cmEffects.push(...effects);
    for (const effect of effects) {
      switch (effect.kind) {
        case "sanitize":
          this.feedCm({ kind: "sanitizeResult", nodeId: effect.nodeId, ok: true });
          break;
        case "probe":
          this.feedCm({ kind: "probeResult", nodeId: effect.nodeId, probeId: effect.probeId, healthy: true });
          break;
        case "roleChanged":
          // A retired source stopped serving: it complies as soon as the CM starts watching it.
          if (
            effect.to === "retiring" &&
            this.sourcesComply &&
            this.retired.some((host) => host.nodeId === effect.nodeId)
          )
            this.feedCm({ kind: "complianceCheck", nodeId: effect.nodeId, complied: true });
          break;
        case "admit":
          if (!this.standbys.has(effect.nodeId) || effect.members.length === this.n)
            this.standbys.set(effect.nodeId, this.makeStandby(effect.nodeId, effect.members));
          this.stepStandby(effect.nodeId, { kind: "sanitized" });
          break;
        default:
          break;
      }
    }
  }

  /** Requests executed identically: every running replica has the same app chain as `reference`. */
  chains(): Map<number, string> {
    const out = new Map<number, string>();
    for (const [replicaId, host] of this.hosts)
      out.set(replicaId, Buffer.from(host.app.chain).toString("hex"));
    return out;
  }
}

export { DEFAULT_INTERVAL_PARAMS };
