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
import { assert } from "../assert.js";
import type { ClientDeps } from "../client/index.js";
import type { Message, Principal } from "../messages.js";
import {
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
  type OpenResult,
  type SigningKeyPair,
  sha256,
  Wire,
} from "../wire/index.js";
import { type ByzantineBehaviour, type ByzantineContext, createByzantineBehaviour } from "./byzantine.js";
import { createFaultPlan, type FaultPlan } from "./fault-plan.js";
import { SimNetwork } from "./network.js";
import { resolveOptions, type SimulationOptions } from "./options.js";
import { Prng } from "./prng.js";
import type { SimulationFailure, SimulationResult } from "./result.js";
import {
  type ClientNode,
  faultPlanOptions,
  principalName,
  SimulationBase,
  sendAsReplica,
  tickByzantine,
} from "./simulation-base.js";
import { TimerGenerations } from "./timer-generations.js";

export type { SimulationFailure, SimulationResult };

type OwnEvent =
  | {
      readonly kind: "replicaTimer";
      readonly replicaId: number;
      readonly incarnation: number;
      readonly timer: TimerId;
      readonly generation: number;
    }
  | { readonly kind: "byzantineTick"; readonly replicaId: number; readonly incarnation: number };

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
  readonly timerGenerations: TimerGenerations<TimerId>;
}

export function runSimulation(partial: Partial<SimulationOptions> & { seed: number }): SimulationResult {
  return new Simulation(resolveOptions(partial)).run();
}

export class Simulation extends SimulationBase<OwnEvent> {
  readonly plan: FaultPlan;
  private readonly replicas: ReplicaNode[] = [];
  private readonly signingKeys: SigningKeyPair[] = [];
  private readonly byzantinePrng: Prng;

  constructor(options: SimulationOptions) {
    super(options);
    const root = new Prng(options.seed);
    const planPrng = root.fork();
    const networkPrng = root.fork();
    this.byzantinePrng = root.fork();
    const clientPrng = root.fork();
    this.plan = createFaultPlan(faultPlanOptions(options), planPrng);
    this.recorder = this.createRecorder();
    this.network = new SimNetwork({
      prng: networkPrng,
      faults: this.plan.linkFaults,
      ...this.networkClock(),
    });
    for (let id = 0; id < this.n; id += 1)
      this.signingKeys.push(deriveSigningKeyPair(this.clusterSecret, id));
    for (let id = 0; id < this.n; id += 1) this.replicas.push(this.createReplicaNode(id));
    for (let id = 0; id < options.clients; id += 1)
      this.clients.push(this.createClient(id, clientPrng.fork()));
  }

  run(): SimulationResult {
    const outcome = this.runToEnd(() => {
      this.scheduleFaults();
      this.scheduleClients(this.byzantinePrng);
      for (const node of this.replicas) this.bootReplica(node);
    });
    return this.resultOf(outcome);
  }

  protected dispatchOwn(event: OwnEvent): void {
    switch (event.kind) {
      case "replicaTimer":
        this.onReplicaTimer(event);
        return;
      case "byzantineTick":
        this.onByzantineTick(event.replicaId, event.incarnation);
        return;
    }
  }

  // ---- faults ---------------------------------------------------------------------------------

  protected onPlannedCrash(replicaId: number): void {
    this.crash(this.replicaNode(replicaId));
  }

  protected onPlannedRestart(replicaId: number): void {
    this.restart(this.replicaNode(replicaId));
  }

  protected startPartition(index: number): void {
    const partition = this.plan.partitions[index];
    assert(partition !== undefined, "partition index from the plan");
    if (this.healed) return;
    this.partitionIslands.set(index, this.network.addIsland(partition.members));
    this.log(`partition ${index} starts: ${partition.members.map(principalName).join(",")} cut off`);
  }

  protected restartCrashed(): void {
    for (const node of this.replicas) if (!node.up) this.restart(node);
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
      timerGenerations: new TimerGenerations(),
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

  private onReplicaTimer(event: Extract<OwnEvent, { kind: "replicaTimer" }>): void {
    const node = this.replicaNode(event.replicaId);
    if (!node.up || node.incarnation !== event.incarnation) return;
    if (!node.timerGenerations.fire(event.timer, event.generation)) return;
    this.stepReplica(node, { kind: "timer", timer: event.timer });
  }

  private onByzantineTick(replicaId: number, incarnation: number): void {
    const node = this.replicaNode(replicaId);
    if (!node.up || node.incarnation !== incarnation || node.byzantine === undefined) return;
    const tickIntervalMs = tickByzantine(node.byzantine, node.context);
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
          const generation = node.timerGenerations.set(effect.timer);
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
          node.timerGenerations.cancel(effect.timer);
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
    sendAsReplica(node.byzantine, message, to, node.context);
  }

  private byzantineContext(replicaId: number, wire: Wire, transport: Transport): ByzantineContext {
    const sendFrame = (to: Principal, frame: Uint8Array) => transport.send(to, frame);
    return this.byzantineContextOf({ replicaId, prng: this.byzantinePrng, wire, sendFrame });
  }

  // ---- clients --------------------------------------------------------------------------------

  protected clientWire(principal: Principal): Wire {
    return this.createWire(principal);
  }

  protected clientDeps(wire: Wire): ClientDeps {
    return { authenticateRequest: (request) => wire.authenticateRequest(request) };
  }

  protected openClientFrame(client: ClientNode, frame: Uint8Array): OpenResult {
    return client.wire.open(frame, (from, message) => client.core.wants(from, message));
  }

  protected sendClientFrame(client: ClientNode, to: Principal, frame: Uint8Array): void {
    client.transport.send(to, frame);
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

  protected countRejected(reason: string): void {
    // A frame the core declined before its MAC check was not rejected: nothing was wrong with it.
    const key = reason === "unneeded" ? "skipped:unneeded" : `wire:${reason}`;
    this.wireRejected.set(key, (this.wireRejected.get(key) ?? 0) + 1);
  }

  private replicaNode(id: number): ReplicaNode {
    const node = this.replicas[id];
    assert(node !== undefined, `replica ${id} exists`);
    return node;
  }
}
