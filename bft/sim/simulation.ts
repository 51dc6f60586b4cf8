/**
 * The deterministic simulator (DESIGN.md section 4, STYLE.md section 2: TigerBeetle's VOPR).
 *
 * One seed drives everything: a PRNG forks one stream per purpose (fault plan, network, Byzantine
 * choices, client operations), and a discrete-event queue keyed by (simulated time, insertion order)
 * is the clock. Real replica cores, the real client core and the real Wire (MACs, signatures) run
 * unchanged; the simulator only carries out their effects: frames go through the simulated network,
 * timers become events, history effects are recorded. Same seed, same history, byte for byte.
 *
 * Phases: faults (drops, duplicates, reordering, partitions, crashes with memory loss, Byzantine
 * replicas) until the plan's heal time; then a clean network with Byzantine replicas still <= f.
 * Clients submit until durationMs, then the run drains until every request completed or the
 * liveness deadline passed. The checker (bft/checker) then judges the recorded history.
 */
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { type Application, createApp } from "../apps/index.js";
import { assert } from "../assert.js";
import { type CheckReport, checkHistory, type History, type HistoryApp } from "../checker/index.js";
import { Client, type ClientEffect, defaultClientConfig } from "../client/index.js";
import type { Message, Principal, Request } from "../messages.js";
import {
  batchDigestOfRequests,
  type CoreDeps,
  defaultReplicaConfig,
  type Effect,
  Replica,
  type ReplicaConfig,
  type ReplicaInput,
  type TimerId,
  validateReplicaConfig,
} from "../replica/index.js";
import type { Transport } from "../transport/transport.js";
import {
  createDerivedKeyRing,
  type Destination,
  deriveSigningKeyPair,
  type SigningKeyPair,
  sha256,
  Wire,
} from "../wire/index.js";
import {
  type ByzantineBehaviour,
  type ByzantineContext,
  createByzantineBehaviour,
  sendHonest,
} from "./byzantine.js";
import { EventQueue } from "./event-queue.js";
import { createFaultPlan, type FaultPlan } from "./fault-plan.js";
import { type Delivery, DROP_REASONS, SimNetwork } from "./network.js";
import { resolveOptions, type SimulationOptions } from "./options.js";
import { Prng } from "./prng.js";
import { HistoryRecorder, historyDigest } from "./recorder.js";
import { createOperationSource, type OperationSource } from "./workload.js";

export interface SimulationFailure {
  /** violation: the checker rejected the history. exception: a core or the simulator threw. */
  readonly kind: "violation" | "exception";
  readonly message: string;
  readonly stack?: string;
  /** Simulated time of the failure (exceptions) or of the end of the run (violations). */
  readonly atMs: number;
}

export interface SimulationResult {
  readonly ok: boolean;
  readonly seed: number;
  readonly options: SimulationOptions;
  readonly plan: FaultPlan;
  readonly failure: SimulationFailure | undefined;
  readonly report: CheckReport;
  readonly simulatedMs: number;
  readonly wallMs: number;
  readonly requestsCompleted: number;
  readonly requestsAbandoned: number;
  /** Completed requests per simulated second of client load (durationMs). */
  readonly throughputPerSecond: number;
  /** Highest view a correct replica entered: the number of view changes the cluster went through. */
  readonly viewMax: number;
  /** Checkpoints installed by state transfer on correct replicas. */
  readonly stateTransfers: number;
  readonly crashes: number;
  readonly framesSent: number;
  readonly framesDelivered: number;
  /** Frames lost, by reason: network reasons, and `wire:<reason>` for frames Wire.open rejected. */
  readonly dropped: Readonly<Record<string, number>>;
  readonly eventsProcessed: number;
  /** SHA-256 of the history's JSON: equal for equal seeds and options. */
  readonly historyDigest: string;
  readonly history: History;
}

type SimEvent =
  | { readonly kind: "deliver"; readonly delivery: Delivery }
  | {
      readonly kind: "replicaTimer";
      readonly replicaId: number;
      readonly incarnation: number;
      readonly timer: TimerId;
      readonly generation: number;
    }
  | { readonly kind: "byzantineTick"; readonly replicaId: number; readonly incarnation: number }
  | { readonly kind: "clientTimer"; readonly clientId: number; readonly generation: number }
  | { readonly kind: "clientSubmit"; readonly clientId: number }
  | { readonly kind: "crash"; readonly replicaId: number }
  | { readonly kind: "restart"; readonly replicaId: number }
  | { readonly kind: "partitionStart"; readonly index: number }
  | { readonly kind: "partitionEnd"; readonly index: number }
  | { readonly kind: "heal" }
  | { readonly kind: "progress" };

interface ReplicaNode {
  readonly id: number;
  readonly principal: Principal;
  readonly transport: Transport;
  readonly byzantine: ByzantineBehaviour | undefined;
  incarnation: number;
  up: boolean;
  core: Replica | undefined;
  wire: Wire;
  context: ByzantineContext;
  /** Bumped by every setTimer/cancelTimer: a timer event fires only if its generation is current. */
  readonly timerGenerations: Map<TimerId, number>;
}

interface ClientNode {
  readonly id: number;
  readonly principal: Principal;
  readonly transport: Transport;
  readonly wire: Wire;
  readonly core: Client;
  readonly operations: OperationSource;
  timerGeneration: number;
}

/** Pending events at most; far above any sane run, low enough to stop a runaway loop early. */
const EVENT_QUEUE_CAPACITY_MAX = 4_000_000;

export function runSimulation(partial: Partial<SimulationOptions> & { seed: number }): SimulationResult {
  return new Simulation(resolveOptions(partial)).run();
}

export class Simulation {
  readonly plan: FaultPlan;
  private readonly queue = new EventQueue<SimEvent>(EVENT_QUEUE_CAPACITY_MAX);
  private readonly network: SimNetwork;
  private readonly recorder: HistoryRecorder;
  private readonly replicas: ReplicaNode[] = [];
  private readonly clients: ClientNode[] = [];
  private readonly signingKeys: SigningKeyPair[] = [];
  private readonly clusterSecret: Uint8Array;
  private readonly byzantinePrng: Prng;
  private readonly historyApp: HistoryApp;
  private readonly wireRejected = new Map<string, number>();
  private readonly partitionIslands = new Map<number, number>();
  private readonly n: number;
  private nowMs = 0;
  /** What the simulator was doing, for the failure report when a core throws. */
  private activity: { readonly actor: string; readonly input: ReplicaInput | string } | undefined;
  private healed = false;
  private crashCount = 0;
  private eventsProcessed = 0;
  private wallStartMs = 0;

  constructor(private readonly options: SimulationOptions) {
    this.n = 3 * options.f + 1;
    const root = new Prng(options.seed);
    const planPrng = root.fork();
    const networkPrng = root.fork();
    this.byzantinePrng = root.fork();
    const clientPrng = root.fork();
    this.plan = createFaultPlan(
      {
        f: options.f,
        clientCount: options.clients,
        durationMs: options.durationMs,
        faults: options.faults,
        byzantineKinds: options.byzantineKinds,
        byzantineCount: options.byzantineCount,
      },
      planPrng,
    );
    this.historyApp =
      options.app === "kv" ? { app: "kv", stateBytes: options.kvStateBytes } : { app: "echo" };
    this.recorder = new HistoryRecorder({
      f: options.f,
      app: this.historyApp,
      byzantineReplicas: this.plan.byzantine.map((b) => b.replicaId),
      livenessBoundMs: options.livenessBoundMs,
    });
    this.network = new SimNetwork({
      prng: networkPrng,
      faults: this.plan.linkFaults,
      schedule: (atMs, delivery) => this.queue.push(atMs, { kind: "deliver", delivery }),
      nowMs: () => this.nowMs,
    });
    this.clusterSecret = createHash("sha256").update(`migrate-bft/sim/cluster/${options.seed}`).digest();
    for (let id = 0; id < this.n; id += 1)
      this.signingKeys.push(deriveSigningKeyPair(this.clusterSecret, id));
    for (let id = 0; id < this.n; id += 1) this.replicas.push(this.createReplicaNode(id));
    for (let id = 0; id < options.clients; id += 1)
      this.clients.push(this.createClientNode(id, clientPrng.fork()));
  }

  run(): SimulationResult {
    this.wallStartMs = performance.now();
    const deadlineMs = Math.max(this.options.durationMs, this.plan.healAtMs) + this.options.livenessBoundMs;
    let failure: SimulationFailure | undefined;
    try {
      this.schedulePlan();
      for (const node of this.replicas) this.bootReplica(node);
      this.loop(deadlineMs);
    } catch (error) {
      failure = exceptionFailure(error, this.nowMs, describeActivity(this.activity));
    }
    const endMs = failure === undefined ? Math.min(this.nowMs, deadlineMs) : this.nowMs;
    // After an exception the run stopped early: safety is still judged, liveness cannot be.
    const healedAtMs = failure === undefined && this.healed ? this.plan.healAtMs : null;
    const history = this.recorder.history(healedAtMs, endMs);
    const report = checkHistory(history, { createApp: () => this.createApplication() });
    if (failure === undefined && !report.ok) {
      const counts = Object.entries(report.violationCounts).filter(([, count]) => count > 0);
      const total = counts.reduce((sum, [, count]) => sum + count, 0);
      const which = counts.map(([check, count]) => `${check}=${count}`).join(" ");
      failure = { kind: "violation", message: `${total} checker violation(s): ${which}`, atMs: endMs };
    }
    return this.result(failure, report, history, endMs);
  }

  private loop(deadlineMs: number): void {
    for (;;) {
      const nextMs = this.queue.peekTimeMs();
      if (nextMs === undefined) break;
      if (nextMs > deadlineMs) {
        this.nowMs = deadlineMs;
        break;
      }
      const next = this.queue.pop();
      assert(next !== undefined, "a peeked event pops");
      assert(next.timeMs >= this.nowMs, "simulated time never goes backwards");
      this.nowMs = next.timeMs;
      this.eventsProcessed += 1;
      this.activity = undefined;
      this.dispatch(next.event);
      if (this.nowMs >= this.options.durationMs && this.healed && this.clientsIdle()) break;
    }
  }

  private dispatch(event: SimEvent): void {
    switch (event.kind) {
      case "deliver":
        this.network.deliver(event.delivery);
        return;
      case "replicaTimer":
        this.onReplicaTimer(event);
        return;
      case "byzantineTick":
        this.onByzantineTick(event.replicaId, event.incarnation);
        return;
      case "clientTimer":
        this.onClientTimer(event.clientId, event.generation);
        return;
      case "clientSubmit":
        this.submit(this.clientNode(event.clientId));
        return;
      case "crash":
        this.crash(this.replicaNode(event.replicaId));
        return;
      case "restart":
        this.restart(this.replicaNode(event.replicaId));
        return;
      case "partitionStart":
        this.startPartition(event.index);
        return;
      case "partitionEnd":
        this.endPartition(event.index);
        return;
      case "heal":
        this.heal();
        return;
      case "progress":
        this.progress();
        return;
    }
  }

  // ---- schedule -------------------------------------------------------------------------------

  private schedulePlan(): void {
    const plan = this.plan;
    for (const line of describePlanForLog(plan)) this.log(line);
    for (const crash of plan.crashes) {
      this.queue.push(crash.crashAtMs, { kind: "crash", replicaId: crash.replicaId });
      this.queue.push(crash.restartAtMs, { kind: "restart", replicaId: crash.replicaId });
    }
    plan.partitions.forEach((partition, index) => {
      this.queue.push(partition.startMs, { kind: "partitionStart", index });
      this.queue.push(partition.endMs, { kind: "partitionEnd", index });
    });
    this.queue.push(plan.healAtMs, { kind: "heal" });
    for (const client of this.clients) {
      this.queue.push(this.byzantinePrng.int(0, 10), { kind: "clientSubmit", clientId: client.id });
    }
    if (this.options.onProgress !== undefined)
      this.queue.push(this.options.progressIntervalMs, { kind: "progress" });
  }

  private startPartition(index: number): void {
    const partition = this.plan.partitions[index];
    assert(partition !== undefined, "partition index from the plan");
    if (this.healed) return;
    this.partitionIslands.set(index, this.network.addIsland(partition.members));
    this.log(`partition ${index} starts: ${partition.members.map(principalName).join(",")} cut off`);
  }

  private endPartition(index: number): void {
    const island = this.partitionIslands.get(index);
    if (island === undefined) return;
    this.network.removeIsland(island);
    this.partitionIslands.delete(index);
    this.log(`partition ${index} ends`);
  }

  private heal(): void {
    for (const node of this.replicas) if (!node.up) this.restart(node);
    for (const index of [...this.partitionIslands.keys()]) this.endPartition(index);
    assert(this.network.islandCount === 0, "no partition survives healing");
    this.network.setFaults(this.plan.healedLinkFaults);
    this.healed = true;
    this.log("network healed: no more drops, duplicates, reordering or partitions; all replicas up");
  }

  private progress(): void {
    const onProgress = this.options.onProgress;
    assert(onProgress !== undefined, "progress events only with a progress callback");
    onProgress({
      nowMs: this.nowMs,
      wallMs: performance.now() - this.wallStartMs,
      requestsCompleted: this.recorder.requestsCompleted,
      viewMax: this.recorder.viewMax,
      stateTransfers: this.recorder.stateTransfers,
      healed: this.healed,
    });
    this.queue.push(this.nowMs + this.options.progressIntervalMs, { kind: "progress" });
  }

  // ---- replicas -------------------------------------------------------------------------------

  private createReplicaNode(id: number): ReplicaNode {
    const principal: Principal = { kind: "replica", id };
    const assignment = this.plan.byzantine.find((b) => b.replicaId === id);
    const transport = this.network.attach(principal);
    const wire = this.createWire(principal);
    const node: ReplicaNode = {
      id,
      principal,
      transport,
      byzantine: assignment === undefined ? undefined : createByzantineBehaviour(assignment.kind),
      incarnation: 0,
      up: false,
      core: undefined,
      wire,
      context: this.byzantineContext(id, wire, transport),
      timerGenerations: new Map(),
    };
    this.network.setDown(principal, true);
    transport.onFrame((frame) => this.onReplicaFrame(node, frame));
    return node;
  }

  private replicaConfig(id: number): ReplicaConfig {
    const tuning = this.plan.replicaTuning;
    const base = defaultReplicaConfig(this.options.f, id);
    return tuning === undefined ? base : validateReplicaConfig({ ...base, ...tuning });
  }

  private bootReplica(node: ReplicaNode): void {
    assert(!node.up && node.core === undefined, "a replica boots only while down");
    const wire = node.incarnation === 0 ? node.wire : this.createWire(node.principal);
    node.wire = wire;
    node.context = this.byzantineContext(node.id, wire, node.transport);
    const deps: CoreDeps = {
      app: this.createApplication(),
      digest: sha256,
      requestDigest: (request) => wire.requestDigest(request),
      requestAuthentic: (request) => wire.requestAuthentic(request),
      signViewChange: (viewChange) => wire.signViewChange(viewChange),
    };
    this.activity = { actor: `r${node.id}`, input: `boot (incarnation ${node.incarnation})` };
    node.core = new Replica(this.replicaConfig(node.id), deps);
    node.up = true;
    this.network.setDown(node.principal, false);
    this.recorder.replicaStarted(this.nowMs, node.id, node.incarnation);
    // A restarted replica has lost its memory: it must not lead a view it may have led before.
    this.applyReplicaEffects(node, node.core.start(this.nowMs, { recovering: node.incarnation > 0 }));
    const tickIntervalMs = node.byzantine?.tickIntervalMs;
    if (tickIntervalMs !== undefined) {
      this.queue.push(this.nowMs + tickIntervalMs, {
        kind: "byzantineTick",
        replicaId: node.id,
        incarnation: node.incarnation,
      });
    }
  }

  private crash(node: ReplicaNode): void {
    if (!node.up || this.healed) return;
    node.up = false;
    node.core = undefined;
    node.timerGenerations.clear();
    this.network.setDown(node.principal, true);
    this.crashCount += 1;
    this.recorder.replicaCrashed(this.nowMs, node.id, node.incarnation);
    const faulty = this.replicas.filter((r) => !r.up || r.byzantine !== undefined).length;
    assert(faulty <= this.options.f, `at most f=${this.options.f} faulty replicas at once, got ${faulty}`);
    this.log(`r${node.id} crashed (memory lost)`);
  }

  private restart(node: ReplicaNode): void {
    if (node.up) return;
    node.incarnation += 1;
    this.bootReplica(node);
    this.log(`r${node.id} restarted as incarnation ${node.incarnation}`);
  }

  private onReplicaFrame(node: ReplicaNode, frame: Uint8Array): void {
    assert(node.up && node.core !== undefined, "frames reach only running replicas");
    // As the replica host does: votes for decided slots skip their MAC check (Replica.wants).
    const core = node.core;
    const opened = node.wire.open(frame, (from, message) => core.wants(from, message));
    if (!opened.ok) {
      this.countRejected(opened.reason);
      return;
    }
    this.stepReplica(node, { kind: "message", from: opened.from, message: opened.message });
  }

  private onReplicaTimer(event: Extract<SimEvent, { kind: "replicaTimer" }>): void {
    const node = this.replicaNode(event.replicaId);
    if (!node.up || node.incarnation !== event.incarnation) return;
    if (node.timerGenerations.get(event.timer) !== event.generation) return;
    node.timerGenerations.delete(event.timer);
    this.stepReplica(node, { kind: "timer", timer: event.timer });
  }

  private onByzantineTick(replicaId: number, incarnation: number): void {
    const node = this.replicaNode(replicaId);
    if (!node.up || node.incarnation !== incarnation || node.byzantine === undefined) return;
    node.byzantine.tick(node.context);
    const tickIntervalMs = node.byzantine.tickIntervalMs;
    assert(tickIntervalMs !== undefined && tickIntervalMs > 0, "ticking behaviours have an interval");
    this.queue.push(this.nowMs + tickIntervalMs, { kind: "byzantineTick", replicaId, incarnation });
  }

  private stepReplica(node: ReplicaNode, input: ReplicaInput): void {
    const core = node.core;
    assert(core !== undefined, "a running replica has a core");
    this.activity = { actor: `r${node.id}`, input };
    this.applyReplicaEffects(node, core.step(input, this.nowMs));
  }

  /** Carries out effects in array order (the core's ordering contract). */
  private applyReplicaEffects(node: ReplicaNode, effects: readonly Effect[]): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          this.replicaSend(node, effect.message, effect.to);
          break;
        case "broadcast":
          this.replicaSend(node, effect.message, "replicas");
          break;
        case "setTimer": {
          assert(effect.afterMs >= 0, "timers fire in the future");
          const generation = (node.timerGenerations.get(effect.timer) ?? 0) + 1;
          node.timerGenerations.set(effect.timer, generation);
          this.queue.push(this.nowMs + effect.afterMs, {
            kind: "replicaTimer",
            replicaId: node.id,
            incarnation: node.incarnation,
            timer: effect.timer,
            generation,
          });
          break;
        }
        case "cancelTimer":
          node.timerGenerations.set(effect.timer, (node.timerGenerations.get(effect.timer) ?? 0) + 1);
          break;
        default:
          this.recordReplicaEffect(node, effect);
      }
    }
  }

  private recordReplicaEffect(node: ReplicaNode, effect: Effect): void {
    const recorded = this.recorder.replicaEffect(this.nowMs, node.id, node.incarnation, effect);
    assert(recorded, `effect ${effect.kind} is a history record`);
    if (effect.kind === "viewEntered")
      this.log(`r${node.id} entered view ${effect.view} (primary r${effect.primary})`);
    if (effect.kind === "stateInstalled")
      this.log(`r${node.id} installed checkpoint ${effect.seq} by state transfer`);
  }

  private replicaSend(node: ReplicaNode, message: Message, to: Destination): void {
    if (node.byzantine !== undefined) node.byzantine.send(message, to, node.context);
    else sendHonest(message, to, node.context);
  }

  private byzantineContext(replicaId: number, wire: Wire, transport: Transport): ByzantineContext {
    return {
      replicaId,
      n: this.n,
      clientCount: this.options.clients,
      prng: this.byzantinePrng,
      wire,
      sendFrame: (to, frame) => transport.send(to, frame),
      batchDigest: (requests: readonly Request[]) =>
        batchDigestOfRequests(requests, { digest: sha256, requestDigest: (r) => wire.requestDigest(r) }),
    };
  }

  // ---- clients --------------------------------------------------------------------------------

  private createClientNode(id: number, prng: Prng): ClientNode {
    const principal: Principal = { kind: "client", id };
    const transport = this.network.attach(principal);
    const wire = this.createWire(principal);
    const core = new Client(defaultClientConfig(id, this.options.f), {
      authenticateRequest: (request) => wire.authenticateRequest(request),
    });
    const node: ClientNode = {
      id,
      principal,
      transport,
      wire,
      core,
      operations: createOperationSource(this.options.app, prng),
      timerGeneration: 0,
    };
    transport.onFrame((frame) => this.onClientFrame(node, frame));
    return node;
  }

  private submit(node: ClientNode): void {
    if (this.nowMs >= this.options.durationMs || node.core.busy) return;
    const operation = node.operations.next();
    const effects = node.core.submit(operation, this.nowMs);
    const request = effects.find((e) => e.kind === "send" || e.kind === "broadcast")?.message;
    assert(request !== undefined, "submitting sends the request");
    this.recorder.submitted(this.nowMs, node.id, request.timestamp, operation);
    this.applyClientEffects(node, effects);
  }

  private onClientFrame(node: ClientNode, frame: Uint8Array): void {
    const opened = node.wire.open(frame, (from, message) => node.core.wants(from, message));
    if (!opened.ok) {
      this.countRejected(opened.reason);
      return;
    }
    this.applyClientEffects(
      node,
      node.core.step({ kind: "message", from: opened.from, message: opened.message }, this.nowMs),
    );
  }

  private onClientTimer(clientId: number, generation: number): void {
    const node = this.clientNode(clientId);
    if (node.timerGeneration !== generation) return;
    this.applyClientEffects(node, node.core.step({ kind: "timer", timer: "retransmit" }, this.nowMs));
  }

  private applyClientEffects(node: ClientNode, effects: readonly ClientEffect[]): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          node.transport.send(effect.to, node.wire.seal(effect.message, effect.to));
          break;
        case "broadcast": {
          const frame = node.wire.seal(effect.message, "replicas");
          for (const replica of this.replicas) node.transport.send(replica.principal, frame);
          break;
        }
        case "setTimer":
          node.timerGeneration += 1;
          this.queue.push(this.nowMs + effect.afterMs, {
            kind: "clientTimer",
            clientId: node.id,
            generation: node.timerGeneration,
          });
          break;
        case "cancelTimer":
          node.timerGeneration += 1;
          break;
        case "completed":
          this.recorder.completed(this.nowMs, effect);
          this.scheduleNextSubmit(node);
          break;
        case "abandoned":
          this.recorder.abandoned(this.nowMs, effect.clientId, effect.timestamp);
          this.log(`c${node.id} abandoned request ${effect.timestamp}`);
          this.scheduleNextSubmit(node);
          break;
      }
    }
  }

  private scheduleNextSubmit(node: ClientNode): void {
    if (this.nowMs >= this.options.durationMs) return;
    this.queue.push(this.nowMs + node.operations.thinkMs(this.options.thinkMsMax), {
      kind: "clientSubmit",
      clientId: node.id,
    });
  }

  private clientsIdle(): boolean {
    return this.clients.every((client) => !client.core.busy);
  }

  // ---- helpers --------------------------------------------------------------------------------

  private createWire(self: Principal): Wire {
    return new Wire({
      self,
      n: this.n,
      keys: createDerivedKeyRing({ clusterSecret: this.clusterSecret, self }),
      ...(self.kind === "replica" ? { signing: { privateKey: this.keyPair(self.id).privateKey } } : {}),
      replicaPublicKeys: this.signingKeys.map((pair) => pair.publicKeyRaw),
    });
  }

  private keyPair(replicaId: number): SigningKeyPair {
    const pair = this.signingKeys[replicaId];
    assert(pair !== undefined, `replica ${replicaId} has a key pair`);
    return pair;
  }

  private createApplication(): Application {
    return createApp({ app: this.options.app, busyWaitMs: 0, stateBytes: this.options.kvStateBytes });
  }

  private countRejected(reason: string): void {
    // A frame the core declined before its MAC check was not rejected: nothing was wrong with it.
    const key = reason === "unneeded" ? "skipped:unneeded" : `wire:${reason}`;
    this.wireRejected.set(key, (this.wireRejected.get(key) ?? 0) + 1);
  }

  private replicaNode(id: number): ReplicaNode {
    const node = this.replicas[id];
    assert(node !== undefined, `replica ${id} exists`);
    return node;
  }

  private clientNode(id: number): ClientNode {
    const node = this.clients[id];
    assert(node !== undefined, `client ${id} exists`);
    return node;
  }

  private log(line: string): void {
    const onLog = this.options.onLog;
    if (onLog !== undefined) onLog(`[${(this.nowMs / 1000).toFixed(3).padStart(9)}s] ${line}`);
  }

  private result(
    failure: SimulationFailure | undefined,
    report: CheckReport,
    history: History,
    endMs: number,
  ): SimulationResult {
    return simulationResultOf({
      failure,
      report,
      history,
      endMs,
      loadEndMs: this.options.durationMs,
      options: this.options,
      plan: this.plan,
      wallStartMs: this.wallStartMs,
      recorder: this.recorder,
      network: this.network,
      wireRejected: this.wireRejected,
      crashes: this.crashCount,
      eventsProcessed: this.eventsProcessed,
    });
  }
}

/** What a finished run is summarized from; both simulators (plain PBFT and migration) use it. */
export interface SimulationResultParts {
  readonly failure: SimulationFailure | undefined;
  readonly report: CheckReport;
  readonly history: History;
  readonly endMs: number;
  /** When clients stopped submitting (throughput is measured up to there). */
  readonly loadEndMs: number;
  readonly options: SimulationOptions;
  readonly plan: FaultPlan;
  readonly wallStartMs: number;
  readonly recorder: HistoryRecorder;
  readonly network: SimNetwork;
  readonly wireRejected: ReadonlyMap<string, number>;
  readonly crashes: number;
  readonly eventsProcessed: number;
}

export function simulationResultOf(parts: SimulationResultParts): SimulationResult {
  const stats = parts.network.stats;
  const dropped: Record<string, number> = {};
  for (const reason of DROP_REASONS) if (stats.dropped[reason] > 0) dropped[reason] = stats.dropped[reason];
  for (const [reason, count] of [...parts.wireRejected.entries()].sort()) dropped[reason] = count;
  const loadMs = Math.min(parts.loadEndMs, parts.endMs);
  const recorder = parts.recorder;
  return {
    ok: parts.failure === undefined,
    seed: parts.options.seed,
    options: parts.options,
    plan: parts.plan,
    failure: parts.failure,
    report: parts.report,
    simulatedMs: parts.endMs,
    wallMs: performance.now() - parts.wallStartMs,
    requestsCompleted: recorder.requestsCompleted,
    requestsAbandoned: recorder.requestsAbandoned,
    throughputPerSecond: loadMs > 0 ? (recorder.requestsCompleted * 1000) / loadMs : 0,
    viewMax: recorder.viewMax,
    stateTransfers: recorder.stateTransfers,
    crashes: parts.crashes,
    framesSent: stats.sent,
    framesDelivered: stats.delivered,
    dropped,
    eventsProcessed: parts.eventsProcessed,
    historyDigest: historyDigest(parts.history),
    history: parts.history,
  };
}

function describePlanForLog(plan: FaultPlan): string[] {
  const byzantine = plan.byzantine.map((b) => `r${b.replicaId}=${b.kind}`).join(" ");
  return [`plan: byzantine ${byzantine.length > 0 ? byzantine : "none"}, heal at ${plan.healAtMs}ms`];
}

function principalName(principal: Principal): string {
  return principal.kind === "replica" ? `r${principal.id}` : `c${principal.id}`;
}

function describeActivity(
  activity: { readonly actor: string; readonly input: ReplicaInput | string } | undefined,
): string {
  if (activity === undefined) return "in the simulator";
  const input = activity.input;
  if (typeof input === "string") return `in ${activity.actor} ${input}`;
  if (input.kind === "timer") return `in ${activity.actor} on timer ${input.timer}`;
  return `in ${activity.actor} on ${input.message.type} from ${principalName(input.from)}`;
}

function exceptionFailure(error: unknown, atMs: number, where: string): SimulationFailure {
  if (error instanceof Error) {
    const message = `${error.name}: ${error.message} (${where})`;
    return { kind: "exception", message, ...(error.stack ? { stack: error.stack } : {}), atMs };
  }
  return { kind: "exception", message: `${String(error)} (${where})`, atMs };
}
