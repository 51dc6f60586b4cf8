/**
 * Test harness for the replica core (not a test file itself): N Replica instances wired through
 * an in-memory FIFO queue, with simulated time and timers, a small deterministic application and
 * deps built on node:crypto SHA-256. Effects are delivered directly, without wire encoding: `from`
 * is the sending principal, as the wire layer would report it after authentication.
 */
import { createHash } from "node:crypto";
import type { Application, AppSnapshot } from "../../bft/apps/app.js";
import type { Message, Principal, Reply, Request, ViewChange } from "../../bft/messages.js";
import {
  type CoreDeps,
  defaultReplicaConfig,
  type Effect,
  Replica,
  type ReplicaConfig,
  type TimerId,
} from "../../bft/replica/index.js";
import { takeNextDueTimer } from "./timers.js";

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** A hash-chain counter: every operation changes the state, so divergence shows in the digest. */
export class ChainApp implements Application {
  count = 0;
  chain: Uint8Array = new Uint8Array(32);
  restores = 0;

  execute(operation: Uint8Array, _clientId: number): Uint8Array {
    this.count++;
    this.chain = sha256(Buffer.concat([this.chain, operation]));
    return Buffer.concat([Buffer.from(`${this.count}:`), operation]);
  }

  checkpoint(): AppSnapshot {
    const bytes = ChainApp.encode(this.count, this.chain);
    return { digest: sha256(bytes), sizeBytes: bytes.length, bytes: () => bytes };
  }

  restore(bytes: Uint8Array): boolean {
    if (bytes.length !== 40) return false;
    this.count = Number(Buffer.from(bytes).readBigUInt64BE(0));
    this.chain = bytes.slice(8);
    this.restores++;
    return true;
  }

  snapshotDigest(bytes: Uint8Array): Uint8Array | undefined {
    return bytes.length === 40 ? sha256(bytes) : undefined;
  }

  static encode(count: number, chain: Uint8Array): Uint8Array {
    const out = Buffer.alloc(40);
    out.writeBigUInt64BE(BigInt(count), 0);
    out.set(chain, 8);
    return new Uint8Array(out);
  }
}

function hexReplacer(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? Buffer.from(value).toString("hex") : value;
}

/** `requestAuthentic`: the wire's check of a client's authenticator entry (all valid by default). */
export function makeDeps(
  app: Application,
  requestAuthentic: (request: Request) => boolean = () => true,
): CoreDeps {
  return {
    app,
    digest: sha256,
    requestAuthentic,
    requestDigest: (request: Request) => {
      const header = Buffer.alloc(16);
      header.writeDoubleBE(request.clientId, 0);
      header.writeDoubleBE(request.timestamp, 8);
      return sha256(Buffer.concat([header, request.operation]));
    },
    signViewChange: (viewChange: Omit<ViewChange, "signature">) =>
      sha256(Buffer.from(JSON.stringify(viewChange, hexReplacer))),
  };
}

export function makeRequest(
  clientId: number,
  timestamp: number,
  text = `op-${clientId}-${timestamp}`,
): Request {
  return {
    type: "Request",
    clientId,
    timestamp,
    operation: new Uint8Array(Buffer.from(text)),
    auth: new Uint8Array(0),
  };
}

export interface Envelope {
  readonly from: Principal;
  readonly to: number;
  readonly message: Message;
}

export interface ExecutedRecord {
  readonly view: number;
  readonly seq: number;
  readonly digest: string;
  readonly requests: readonly string[];
}

export interface ClusterOptions {
  readonly f: number;
  readonly config?: Partial<ReplicaConfig>;
  /** Whether replica `replicaId` can authenticate a client's request (the wire's check); default yes. */
  readonly requestAuthentic?: (replicaId: number, request: Request) => boolean;
}

export class Cluster {
  readonly f: number;
  readonly n: number;
  readonly replicas: Replica[] = [];
  readonly apps: ChainApp[] = [];
  readonly queue: Envelope[] = [];
  readonly timers = new Map<string, number>();
  readonly crashed = new Set<number>();
  readonly replies = new Map<number, Reply[]>();
  readonly executed: ExecutedRecord[][] = [];
  readonly effectsLog: Effect[][] = [];
  /** Return false to drop an envelope (network faults, partitions, Byzantine silence). */
  filter: (envelope: Envelope) => boolean = () => true;
  /** Rewrites an envelope in flight (a Byzantine sender's lies). */
  mutate: (envelope: Envelope) => Envelope = (envelope) => envelope;
  nowMs = 0;
  delivered = 0;

  private readonly requestAuthentic: (replicaId: number, request: Request) => boolean;

  constructor(options: ClusterOptions) {
    this.f = options.f;
    this.n = 3 * options.f + 1;
    this.requestAuthentic = options.requestAuthentic ?? (() => true);
    for (let id = 0; id < this.n; id++) {
      const app = new ChainApp();
      const config = { ...defaultReplicaConfig(options.f, id), ...options.config };
      this.apps.push(app);
      this.replicas.push(new Replica(config, this.deps(id, app)));
      this.executed.push([]);
      this.effectsLog.push([]);
    }
  }

  start(): this {
    this.replicas.forEach((replica, id) => {
      this.apply(id, replica.start(this.nowMs));
    });
    return this;
  }

  /**
   * A crash that loses all memory, then a restart: a fresh core and application under the same id,
   * started as `recovering` (Replica.start) unless told otherwise. Its old timers are forgotten.
   */
  restart(id: number, options: { readonly recovering?: boolean } = { recovering: true }): Replica {
    const old = this.replica(id);
    const app = new ChainApp();
    const replica = new Replica(old.config, this.deps(id, app));
    this.replicas[id] = replica;
    this.apps[id] = app;
    this.crashed.delete(id);
    for (const key of [...this.timers.keys()]) if (key.startsWith(`${id}:`)) this.timers.delete(key);
    this.apply(id, replica.start(this.nowMs, options));
    return replica;
  }

  private deps(id: number, app: ChainApp): CoreDeps {
    return makeDeps(app, (request) => this.requestAuthentic(id, request));
  }

  replica(id: number): Replica {
    const replica = this.replicas[id];
    if (replica === undefined) throw new Error(`no replica ${id}`);
    return replica;
  }

  /** A client sends a request to one replica, or to all of them. */
  request(request: Request, to: number | "all"): void {
    const from: Principal = { kind: "client", id: request.clientId };
    const targets = to === "all" ? [...this.replicas.keys()] : [to];
    for (const target of targets) this.queue.push({ from, to: target, message: request });
  }

  /** Delivers one message as if the wire authenticated `from`; returns the effects it produced. */
  inject(from: Principal, to: number, message: Message): Effect[] {
    const effects = this.replica(to).step({ kind: "message", from, message }, this.nowMs);
    this.apply(to, effects);
    return effects;
  }

  /** Delivers queued messages until the network is quiet. */
  deliverAll(stepsMax = 2_000_000): void {
    let steps = 0;
    while (this.queue.length > 0) {
      if (++steps > stepsMax) throw new Error("deliverAll: step limit reached (livelock?)");
      const envelope = this.mutate(this.queue.shift()!);
      if (this.crashed.has(envelope.to)) continue;
      if (envelope.from.kind === "replica" && this.crashed.has(envelope.from.id)) continue;
      if (!this.filter(envelope)) continue;
      this.delivered++;
      const effects = this.replica(envelope.to).step(
        { kind: "message", from: envelope.from, message: envelope.message },
        this.nowMs,
      );
      this.apply(envelope.to, effects);
    }
  }

  /** Moves time forward by ms, firing due timers in time order and delivering after each. */
  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    this.deliverAll();
    for (;;) {
      const next = takeNextDueTimer(this.timers, endMs);
      if (next === null) break;
      this.nowMs = Math.max(this.nowMs, next.dueMs);
      const [idText, timer] = next.key.split(":") as [string, TimerId];
      const id = Number(idText);
      if (this.crashed.has(id)) continue;
      this.apply(id, this.replica(id).step({ kind: "timer", timer }, this.nowMs));
      this.deliverAll();
    }
    this.nowMs = endMs;
  }

  private apply(id: number, effects: readonly Effect[]): void {
    const from: Principal = { kind: "replica", id };
    this.effectsLog[id]!.push(...effects);
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          if (effect.to.kind === "client") this.recordReply(effect.message as Reply);
          else this.queue.push({ from, to: effect.to.id, message: effect.message });
          break;
        case "broadcast":
          for (let to = 0; to < this.n; to++)
            if (to !== id) this.queue.push({ from, to, message: effect.message });
          break;
        case "setTimer":
          this.timers.set(`${id}:${effect.timer}`, this.nowMs + effect.afterMs);
          break;
        case "cancelTimer":
          this.timers.delete(`${id}:${effect.timer}`);
          break;
        case "executed":
          this.executed[id]!.push({
            view: effect.view,
            seq: effect.seq,
            digest: Buffer.from(effect.digest).toString("hex"),
            requests: effect.results.map((r) => `${r.clientId}/${r.timestamp}`),
          });
          break;
        default:
          break;
      }
    }
  }

  private recordReply(reply: Reply): void {
    if (this.crashed.has(reply.replicaId)) return;
    const list = this.replies.get(reply.clientId) ?? [];
    list.push(reply);
    this.replies.set(reply.clientId, list);
  }

  /** Replies to (clientId, timestamp) from distinct replicas with the same result. */
  replyCount(clientId: number, timestamp: number): number {
    const matching = (this.replies.get(clientId) ?? []).filter((r) => r.timestamp === timestamp);
    return new Set(matching.map((r) => r.replicaId)).size;
  }

  /** Requests executed by a replica, in order, as "client/timestamp". */
  executedRequests(id: number): string[] {
    return this.executed[id]!.flatMap((record) => record.requests);
  }

  effectsOf(id: number, kind: Effect["kind"]): Effect[] {
    return this.effectsLog[id]!.filter((effect) => effect.kind === kind);
  }

  /** Safety: no two replicas executed different batches at the same seq. */
  assertAgreement(): void {
    const bySeq = new Map<number, string>();
    for (const records of this.executed) {
      for (const record of records) {
        const known = bySeq.get(record.seq);
        if (known !== undefined && known !== record.digest) {
          throw new Error(`divergence at seq ${record.seq}`);
        }
        bySeq.set(record.seq, record.digest);
      }
    }
  }
}
