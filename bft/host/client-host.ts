/**
 * Runs client cores in a real process over TCP: requests go to the replicas' client addresses
 * (NIC1 on a testbed node) and replies come back on the same connections. invoke() is the
 * closed-loop call the benchmarks and the testbed's end-to-end tests use.
 *
 * startClientHost runs one client over its own connections. startClientPool is a client gateway:
 * many client cores, each with its own Wire (its own keys), over ONE connection per replica. A
 * replica binds each client to the connection its latest authenticated request arrived on
 * (RoutingTransport.bind), so its replies to all the pool's clients leave in one write per
 * event-loop turn instead of one per client; the pool hands each reply to its client's core by
 * the receiver named in the frame header (peekReceiver), and that client's Wire authenticates it.
 */
import { assert } from "../assert.js";
import { Client, type ClientConfig, type ClientEffect, defaultClientConfig } from "../client/index.js";
import type { Principal } from "../messages.js";
import { createTcpTransport, type TcpTransport } from "../transport/index.js";
import { type KeyMaterial, peekReceiver, type Wire } from "../wire/index.js";
import { createWire } from "./keys.js";
import type { ReplicaEndpoint } from "./replica-host.js";
import { TimerTable } from "./timers.js";

export interface ClientHostOptions {
  readonly clientId: number;
  readonly f: number;
  /** This client's keys from the cluster's dealer (dealHostKeys); they name the client as self. */
  readonly keys: KeyMaterial;
  readonly replicas: readonly ReplicaEndpoint[];
  readonly client?: Partial<Omit<ClientConfig, "clientId" | "f">>;
}

export interface ClientPoolOptions extends Omit<ClientHostOptions, "clientId" | "keys"> {
  /** Distinct client ids, one core each; at most CLIENT_POOL_SIZE_MAX. */
  readonly clientIds: readonly number[];
  /** Each client's keys from the cluster's dealer. */
  readonly keysOf: (clientId: number) => KeyMaterial;
}

type SessionOptions = Omit<ClientHostOptions, "clientId" | "keys" | "replicas">;

export interface Invocation {
  readonly result: Uint8Array;
  readonly latencyMs: number;
  readonly timestamp: number;
}

/** One client core: closed loop, one outstanding request. */
export interface ClientSession {
  readonly core: Client;
  invoke(operation: Uint8Array): Promise<Invocation>;
}

export interface ClientHost extends ClientSession {
  readonly transport: TcpTransport;
  close(): Promise<void>;
}

export interface ClientPool {
  /** In the order of options.clientIds. */
  readonly clients: readonly ClientSession[];
  readonly transport: TcpTransport;
  /** Frames whose header names no client of this pool (dropped). */
  readonly framesDroppedNoClient: number;
  close(): Promise<void>;
}

/** Client cores one pool runs: each keeps a Wire and timers, and a replica a route per client. */
export const CLIENT_POOL_SIZE_MAX = 4096;

export class ClientAbandonedError extends Error {
  readonly code = "CLIENT_ABANDONED";
}

export async function startClientHost(options: ClientHostOptions): Promise<ClientHost> {
  const self: Principal = { kind: "client", id: options.clientId };
  const transport = await createTcpTransport({ self, peers: replicaClientAddresses(options.replicas) });
  const session = new Session(options.clientId, options.keys, options, transport);
  transport.onFrame((frame) => session.deliver(frame));
  return {
    core: session.core,
    transport,
    invoke: (operation) => session.invoke(operation),
    async close() {
      session.close();
      await transport.close();
    },
  };
}

export async function startClientPool(options: ClientPoolOptions): Promise<ClientPool> {
  const { clientIds } = options;
  if (clientIds.length === 0 || clientIds.length > CLIENT_POOL_SIZE_MAX) {
    throw new Error(`a client pool runs 1..${CLIENT_POOL_SIZE_MAX} clients, got ${clientIds.length}`);
  }
  if (new Set(clientIds).size !== clientIds.length) throw new Error("client pool ids must be distinct");
  // The connections' hello names the first client; the others are bound by their first request.
  const self: Principal = { kind: "client", id: clientIds[0] as number };
  const transport = await createTcpTransport({ self, peers: replicaClientAddresses(options.replicas) });
  const sessions = new Map(
    clientIds.map((clientId) => [
      clientId,
      new Session(clientId, options.keysOf(clientId), options, transport),
    ]),
  );
  let framesDroppedNoClient = 0;
  transport.onFrame((frame) => {
    const receiver = peekReceiver(frame);
    const session = receiver?.kind === "client" ? sessions.get(receiver.id) : undefined;
    if (session === undefined) framesDroppedNoClient += 1;
    else session.deliver(frame);
  });
  const clients = clientIds.map((clientId) => sessions.get(clientId) as Session);
  return {
    clients,
    transport,
    get framesDroppedNoClient() {
      return framesDroppedNoClient;
    },
    async close() {
      for (const session of clients) session.close();
      await transport.close();
    },
  };
}

function replicaClientAddresses(replicas: readonly ReplicaEndpoint[]) {
  return new Map(replicas.map((endpoint) => [`replica:${endpoint.id}`, endpoint.client]));
}

interface Pending {
  resolve(value: Invocation): void;
  reject(error: Error): void;
}

/** A client core, its Wire and timers, carrying out its effects over a (possibly shared) transport. */
class Session implements ClientSession {
  readonly core: Client;
  private readonly wire: Wire;
  private readonly n: number;
  private readonly timers: TimerTable<"retransmit">;
  private pending: Pending | undefined;

  constructor(
    clientId: number,
    keys: KeyMaterial,
    options: SessionOptions,
    private readonly transport: TcpTransport,
  ) {
    assert(Number.isSafeInteger(clientId) && clientId >= 0, "client id is a non-negative integer");
    if (keys.self.kind !== "client" || keys.self.id !== clientId)
      throw new Error(`client ${clientId} was given the keys of ${keys.self.kind} ${keys.self.id}`);
    this.n = 3 * options.f + 1;
    const wire = createWire({ keys, f: options.f });
    this.wire = wire;
    this.core = new Client(
      { ...defaultClientConfig(clientId, options.f), ...options.client },
      { authenticateRequest: (request) => wire.authenticateRequest(request) },
    );
    this.timers = new TimerTable<"retransmit">((timer) =>
      this.run(this.core.step({ kind: "timer", timer }, performance.now())),
    );
  }

  invoke(operation: Uint8Array): Promise<Invocation> {
    if (this.pending !== undefined)
      return Promise.reject(new Error("invoke() called while a request is outstanding"));
    return new Promise<Invocation>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.run(this.core.submit(operation, performance.now()));
    });
  }

  deliver(frame: Uint8Array): void {
    const opened = this.wire.open(frame, (from, message) => this.core.wants(from, message));
    if (!opened.ok) return;
    this.run(
      this.core.step({ kind: "message", from: opened.from, message: opened.message }, performance.now()),
    );
  }

  close(): void {
    this.timers.clear();
    this.pending?.reject(new Error("client closed"));
    this.pending = undefined;
  }

  private run(effects: ClientEffect[]): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          this.transport.send(effect.to, this.wire.seal(effect.message, effect.to));
          break;
        case "broadcast": {
          const frame = this.wire.seal(effect.message, "replicas");
          for (let id = 0; id < this.n; id += 1) this.transport.send({ kind: "replica", id }, frame);
          break;
        }
        case "setTimer":
          this.timers.set(effect.timer, effect.afterMs);
          break;
        case "cancelTimer":
          this.timers.cancel(effect.timer);
          break;
        case "completed":
          this.pending?.resolve({
            result: effect.result,
            latencyMs: effect.latencyMs,
            timestamp: effect.timestamp,
          });
          this.pending = undefined;
          break;
        case "abandoned":
          this.pending?.reject(
            new ClientAbandonedError(
              `request ${effect.timestamp} got no result after the maximum retransmissions`,
            ),
          );
          this.pending = undefined;
          break;
      }
    }
  }
}
