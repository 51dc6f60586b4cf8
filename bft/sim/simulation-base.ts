/**
 * What both deterministic simulators share (plain PBFT in simulation.ts, the whole system with
 * migration in migration-simulation.ts): the event loop and its stop rule, the run's outline (boot,
 * loop, judge the history), the fault plan's crash, partition and heal events, progress reports,
 * and the simulated clients. Each simulator extends SimulationBase with its own replicas or nodes,
 * its own events, and the hooks below (how a partition starts, how a client frame is opened and
 * routed). The order of queue pushes and PRNG draws is part of the behaviour: same seed, same
 * history, so this file keeps exactly the order both simulators had.
 */
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { type Application, createApp } from "../apps/index.js";
import { assert } from "../assert.js";
import {
  type CheckReport,
  checkHistory,
  type History,
  type HistoryApp,
  type MigrationHistoryInfo,
} from "../checker/index.js";
import { Client, type ClientDeps, type ClientEffect, defaultClientConfig } from "../client/index.js";
import type { Message, Principal, Request } from "../messages.js";
import { batchDigestOfRequests, type ReplicaInput } from "../replica/index.js";
import type { Transport } from "../transport/transport.js";
import { type Destination, type OpenResult, sha256, type Wire } from "../wire/index.js";
import { type ByzantineBehaviour, type ByzantineContext, sendHonest } from "./byzantine.js";
import { EventQueue } from "./event-queue.js";
import type { FaultPlan, FaultPlanOptions } from "./fault-plan.js";
import { type Delivery, DROP_REASONS, type SimNetwork } from "./network.js";
import type { SimulationOptions } from "./options.js";
import type { Prng } from "./prng.js";
import { HistoryRecorder, historyDigest } from "./recorder.js";
import type { SimulationFailure, SimulationResult } from "./result.js";
import { createOperationSource, type OperationSource } from "./workload.js";

/** Events both simulators schedule and handle the same way (or through a hook). */
export type CommonEvent =
  | { readonly kind: "deliver"; readonly delivery: Delivery }
  | { readonly kind: "clientTimer"; readonly clientId: number; readonly generation: number }
  | { readonly kind: "clientSubmit"; readonly clientId: number }
  | { readonly kind: "crash"; readonly replicaId: number }
  | { readonly kind: "restart"; readonly replicaId: number }
  | { readonly kind: "partitionStart"; readonly index: number }
  | { readonly kind: "partitionEnd"; readonly index: number }
  | { readonly kind: "heal" }
  | { readonly kind: "progress" };

const COMMON_EVENT_KINDS: ReadonlySet<string> = new Set<CommonEvent["kind"]>([
  "deliver",
  "clientTimer",
  "clientSubmit",
  "crash",
  "restart",
  "partitionStart",
  "partitionEnd",
  "heal",
  "progress",
]);

export interface ClientNode {
  readonly id: number;
  readonly principal: Principal;
  readonly transport: Transport;
  readonly wire: Wire;
  readonly core: Client;
  readonly operations: OperationSource;
  timerGeneration: number;
}

/** What the simulator was doing, for the failure report when a core throws. */
export type Activity = { readonly actor: string; readonly input: ReplicaInput | string } | string;

/** How a run ended, before each simulator adds its own figures. */
export interface RunOutcome {
  readonly failure: SimulationFailure | undefined;
  readonly report: CheckReport;
  readonly history: History;
  readonly endMs: number;
}

/** Pending events at most; far above any sane run, low enough to stop a runaway loop early. */
const EVENT_QUEUE_CAPACITY_MAX = 4_000_000;

export abstract class SimulationBase<OwnEvent extends { readonly kind: string }> {
  abstract readonly plan: FaultPlan;
  protected readonly queue = new EventQueue<CommonEvent | OwnEvent>(EVENT_QUEUE_CAPACITY_MAX);
  /** Set by the subclass constructor (it needs the plan and the PRNG streams first). */
  protected network!: SimNetwork;
  protected recorder!: HistoryRecorder;
  protected readonly clients: ClientNode[] = [];
  protected readonly wireRejected = new Map<string, number>();
  protected readonly partitionIslands = new Map<number, number>();
  protected readonly n: number;
  /** The seed's secret every principal's MAC keys and the replicas' signing keys derive from. */
  protected readonly clusterSecret: Uint8Array;
  /** When clients stop submitting; a migration run may end the load early. */
  protected loadEndMs: number;
  protected nowMs = 0;
  protected activity: Activity | undefined;
  protected healed = false;
  protected crashCount = 0;
  protected eventsProcessed = 0;
  protected wallStartMs = 0;

  constructor(protected readonly options: SimulationOptions) {
    this.n = 3 * options.f + 1;
    this.loadEndMs = options.durationMs;
    this.clusterSecret = createHash("sha256").update(`migrate-bft/sim/cluster/${options.seed}`).digest();
  }

  /** The recorder for the plan's Byzantine replicas; `migration` adds the header's migration section. */
  protected createRecorder(migration?: MigrationHistoryInfo): HistoryRecorder {
    const options = this.options;
    const app: HistoryApp =
      options.app === "kv" ? { app: "kv", stateBytes: options.kvStateBytes } : { app: "echo" };
    return new HistoryRecorder({
      f: options.f,
      app,
      byzantineReplicas: this.plan.byzantine.map((b) => b.replicaId),
      livenessBoundMs: options.livenessBoundMs,
      ...(migration === undefined ? {} : { migration }),
    });
  }

  /** The network's hooks into the event queue and the simulated clock. */
  protected networkClock(): {
    readonly schedule: (atMs: number, delivery: Delivery) => void;
    readonly nowMs: () => number;
  } {
    return {
      schedule: (atMs, delivery) => this.queue.push(atMs, { kind: "deliver", delivery }),
      nowMs: () => this.nowMs,
    };
  }

  protected resultOf(outcome: RunOutcome): SimulationResult {
    return simulationResultOf({
      ...outcome,
      loadEndMs: this.loadEndMs,
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

  /** Boots the system, runs the event loop to the end, and judges the recorded history. */
  protected runToEnd(boot: () => void): RunOutcome {
    this.wallStartMs = performance.now();
    const deadlineMs = Math.max(this.options.durationMs, this.plan.healAtMs) + this.options.livenessBoundMs;
    let failure: SimulationFailure | undefined;
    try {
      boot();
      this.loop(deadlineMs);
    } catch (error) {
      failure = exceptionFailure(error, this.nowMs, describeActivity(this.activity));
    }
    const endMs = failure === undefined ? Math.min(this.nowMs, deadlineMs) : this.nowMs;
    // After an exception the run stopped early: safety is still judged, liveness cannot be.
    const healedAtMs = failure === undefined && this.healed ? this.plan.healAtMs : null;
    const history = this.recorder.history(healedAtMs, endMs);
    const report = checkHistory(history, { createApp: () => this.createApplication() });
    if (failure === undefined && !report.ok) failure = violationFailure(report, endMs);
    return { failure, report, history, endMs };
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
      if (this.nowMs >= this.loadEndMs && this.healed && this.clientsIdle()) break;
    }
  }

  private dispatch(event: CommonEvent | OwnEvent): void {
    if (!COMMON_EVENT_KINDS.has(event.kind)) {
      this.dispatchOwn(event as OwnEvent);
      return;
    }
    const common = event as CommonEvent;
    switch (common.kind) {
      case "deliver":
        this.network.deliver(common.delivery);
        return;
      case "clientTimer":
        this.onClientTimer(common.clientId, common.generation);
        return;
      case "clientSubmit":
        this.submit(this.client(common.clientId));
        return;
      case "crash":
        this.onPlannedCrash(common.replicaId);
        return;
      case "restart":
        this.onPlannedRestart(common.replicaId);
        return;
      case "partitionStart":
        this.startPartition(common.index);
        return;
      case "partitionEnd":
        this.endPartition(common.index);
        return;
      case "heal":
        this.heal();
        return;
      case "progress":
        this.progress();
        return;
    }
  }

  protected abstract dispatchOwn(event: OwnEvent): void;
  protected abstract onPlannedCrash(replicaId: number): void;
  protected abstract onPlannedRestart(replicaId: number): void;
  protected abstract startPartition(index: number): void;
  /** Healing's first step: bring back every replica a planned crash took down. */
  protected abstract restartCrashed(): void;

  // ---- schedule -------------------------------------------------------------------------------

  /** Logs the plan and schedules its crashes, partitions and healing. */
  protected scheduleFaults(): void {
    const plan = this.plan;
    const byzantine = plan.byzantine.map((b) => `r${b.replicaId}=${b.kind}`).join(" ");
    this.log(`plan: byzantine ${byzantine.length > 0 ? byzantine : "none"}, heal at ${plan.healAtMs}ms`);
    for (const crash of plan.crashes) {
      this.queue.push(crash.crashAtMs, { kind: "crash", replicaId: crash.replicaId });
      this.queue.push(crash.restartAtMs, { kind: "restart", replicaId: crash.replicaId });
    }
    plan.partitions.forEach((partition, index) => {
      this.queue.push(partition.startMs, { kind: "partitionStart", index });
      this.queue.push(partition.endMs, { kind: "partitionEnd", index });
    });
    this.queue.push(plan.healAtMs, { kind: "heal" });
  }

  /** Schedules each client's first request (a draw from `prng` each) and the progress reports. */
  protected scheduleClients(prng: Prng): void {
    for (const client of this.clients)
      this.queue.push(prng.int(0, 10), { kind: "clientSubmit", clientId: client.id });
    if (this.options.onProgress !== undefined)
      this.queue.push(this.options.progressIntervalMs, { kind: "progress" });
  }

  protected endPartition(index: number): void {
    const island = this.partitionIslands.get(index);
    if (island === undefined) return;
    this.network.removeIsland(island);
    this.partitionIslands.delete(index);
    this.log(`partition ${index} ends`);
  }

  private heal(): void {
    this.restartCrashed();
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

  // ---- clients --------------------------------------------------------------------------------

  protected abstract clientWire(principal: Principal): Wire;
  protected abstract clientDeps(wire: Wire): ClientDeps;
  /** Opens a frame a client received (and notes the activity, if the simulator reports it). */
  protected abstract openClientFrame(client: ClientNode, frame: Uint8Array): OpenResult;
  protected abstract sendClientFrame(client: ClientNode, to: Principal, frame: Uint8Array): void;
  protected abstract countRejected(reason: string): void;

  protected onClientMembershipChanged(
    _client: ClientNode,
    _effect: Extract<ClientEffect, { kind: "membershipChanged" }>,
  ): void {}

  protected createClient(id: number, prng: Prng): ClientNode {
    const principal: Principal = { kind: "client", id };
    const transport = this.network.attach(principal);
    const wire = this.clientWire(principal);
    const core = new Client(defaultClientConfig(id, this.options.f), this.clientDeps(wire));
    const client: ClientNode = {
      id,
      principal,
      transport,
      wire,
      core,
      operations: createOperationSource(this.options.app, prng),
      timerGeneration: 0,
    };
    transport.onFrame((frame) => this.onClientFrame(client, frame));
    return client;
  }

  private submit(client: ClientNode): void {
    if (this.nowMs >= this.loadEndMs || client.core.busy) return;
    const operation = client.operations.next();
    const effects = client.core.submit(operation, this.nowMs);
    const request = effects.find((e) => e.kind === "send" || e.kind === "broadcast")?.message;
    assert(request !== undefined, "submitting sends the request");
    this.recorder.submitted(this.nowMs, client.id, request.timestamp, operation);
    this.applyClientEffects(client, effects);
  }

  private onClientFrame(client: ClientNode, frame: Uint8Array): void {
    const opened = this.openClientFrame(client, frame);
    if (!opened.ok) {
      this.countRejected(opened.reason);
      return;
    }
    this.applyClientEffects(
      client,
      client.core.step({ kind: "message", from: opened.from, message: opened.message }, this.nowMs),
    );
  }

  private onClientTimer(clientId: number, generation: number): void {
    const client = this.client(clientId);
    if (client.timerGeneration !== generation) return;
    this.applyClientEffects(client, client.core.step({ kind: "timer", timer: "retransmit" }, this.nowMs));
  }

  private applyClientEffects(client: ClientNode, effects: readonly ClientEffect[]): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          this.sendClientFrame(client, effect.to, client.wire.seal(effect.message, effect.to));
          break;
        case "broadcast": {
          const frame = client.wire.seal(effect.message, "replicas");
          for (let id = 0; id < this.n; id += 1) this.sendClientFrame(client, { kind: "replica", id }, frame);
          break;
        }
        case "setTimer":
          client.timerGeneration += 1;
          this.queue.push(this.nowMs + effect.afterMs, {
            kind: "clientTimer",
            clientId: client.id,
            generation: client.timerGeneration,
          });
          break;
        case "cancelTimer":
          client.timerGeneration += 1;
          break;
        case "completed":
          this.recorder.completed(this.nowMs, effect);
          this.scheduleNextSubmit(client);
          break;
        case "abandoned":
          this.recorder.abandoned(this.nowMs, effect.clientId, effect.timestamp);
          this.log(`c${client.id} abandoned request ${effect.timestamp}`);
          this.scheduleNextSubmit(client);
          break;
        case "membershipChanged":
          this.onClientMembershipChanged(client, effect);
          break;
      }
    }
  }

  private scheduleNextSubmit(client: ClientNode): void {
    if (this.nowMs >= this.loadEndMs) return;
    this.queue.push(this.nowMs + client.operations.thinkMs(this.options.thinkMsMax), {
      kind: "clientSubmit",
      clientId: client.id,
    });
  }

  private clientsIdle(): boolean {
    return this.clients.every((client) => !client.core.busy);
  }

  protected client(id: number): ClientNode {
    const client = this.clients[id];
    assert(client !== undefined, `client ${id} exists`);
    return client;
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** What a replica's Byzantine behaviour (or honest sending) works with, sending through `sendFrame`. */
  protected byzantineContextOf(parts: {
    readonly replicaId: number;
    readonly prng: Prng;
    readonly wire: Wire;
    readonly sendFrame: (to: Principal, frame: Uint8Array) => void;
  }): ByzantineContext {
    const wire = parts.wire;
    return {
      replicaId: parts.replicaId,
      n: this.n,
      clientCount: this.options.clients,
      prng: parts.prng,
      wire,
      sendFrame: parts.sendFrame,
      batchDigest: (requests: readonly Request[]) =>
        batchDigestOfRequests(requests, { digest: sha256, requestDigest: (r) => wire.requestDigest(r) }),
    };
  }

  protected createApplication(): Application {
    return createApp({ app: this.options.app, busyWaitMs: 0, stateBytes: this.options.kvStateBytes });
  }

  protected log(line: string): void {
    const onLog = this.options.onLog;
    if (onLog !== undefined) onLog(`[${(this.nowMs / 1000).toFixed(3).padStart(9)}s] ${line}`);
  }
}

/** Sends as a replica: through its Byzantine behaviour if it has one, honestly otherwise. */
export function sendAsReplica(
  byzantine: ByzantineBehaviour | undefined,
  message: Message,
  to: Destination,
  context: ByzantineContext,
): void {
  if (byzantine !== undefined) byzantine.send(message, to, context);
  else sendHonest(message, to, context);
}

/** Runs one tick of a ticking Byzantine behaviour; returns the delay to its next tick. */
export function tickByzantine(byzantine: ByzantineBehaviour, context: ByzantineContext): number {
  byzantine.tick(context);
  const tickIntervalMs = byzantine.tickIntervalMs;
  assert(tickIntervalMs !== undefined && tickIntervalMs > 0, "ticking behaviours have an interval");
  return tickIntervalMs;
}

/** The fault plan's options, from the run's options. */
export function faultPlanOptions(options: SimulationOptions): FaultPlanOptions {
  return {
    f: options.f,
    clientCount: options.clients,
    durationMs: options.durationMs,
    faults: options.faults,
    byzantineKinds: options.byzantineKinds,
    byzantineCount: options.byzantineCount,
  };
}

/** What a finished run is summarized from; SimulationBase.resultOf builds it. */
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

export function principalName(principal: Principal): string {
  const prefix = { replica: "r", client: "c", node: "n", cm: "cm" }[principal.kind];
  return `${prefix}${principal.id}`;
}

/** Where a core threw: the actor and the input it was stepping, or what the simulator was doing. */
export function describeActivity(activity: Activity | undefined): string {
  if (activity === undefined) return "in the simulator";
  if (typeof activity === "string") return activity;
  return describeInput(activity.actor, activity.input);
}

export function describeInput(actor: string, input: ReplicaInput | string): string {
  if (typeof input === "string") return `in ${actor} ${input}`;
  if (input.kind === "timer") return `in ${actor} on timer ${input.timer}`;
  return `in ${actor} on ${input.message.type} from ${principalName(input.from)}`;
}

function violationFailure(report: CheckReport, endMs: number): SimulationFailure {
  const counts = Object.entries(report.violationCounts).filter(([, count]) => count > 0);
  const total = counts.reduce((sum, [, count]) => sum + count, 0);
  const which = counts.map(([check, count]) => `${check}=${count}`).join(" ");
  return { kind: "violation", message: `${total} checker violation(s): ${which}`, atMs: endMs };
}

function exceptionFailure(error: unknown, atMs: number, where: string): SimulationFailure {
  if (error instanceof Error) {
    const message = `${error.name}: ${error.message} (${where})`;
    return { kind: "exception", message, ...(error.stack ? { stack: error.stack } : {}), atMs };
  }
  return { kind: "exception", message: `${String(error)} (${where})`, atMs };
}
