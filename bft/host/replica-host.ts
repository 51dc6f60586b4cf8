/**
 * Runs one replica core in a real process: TCP transports, real timers, the Wire. Agreement traffic
 * (replica to replica) uses one listening address, clients another: on a testbed node these are
 * NIC2 and NIC1. The host carries out the core's effects in order and hands history records to an
 * optional sink so a run can be checked afterwards.
 */
import { type AppOptions, createApp } from "../apps/index.js";
import { AssertionError } from "../assert.js";
import type { Message, Principal } from "../messages.js";
import { type Effect, Replica, type ReplicaConfig, type TimerId } from "../replica/index.js";
import {
  createTcpTransport,
  type FrameOrigin,
  type PeerAddress,
  type TcpTransport,
} from "../transport/index.js";
import { type KeyMaterial, sha256, type Wire } from "../wire/index.js";
import { createWire } from "./keys.js";
import { TimerTable } from "./timers.js";

export interface ReplicaEndpoint {
  readonly id: number;
  /** Agreement address (NIC2 on a testbed node). */
  readonly peer: PeerAddress;
  /** Client address (NIC1 on a testbed node). */
  readonly client: PeerAddress;
}

export interface ReplicaHostOptions {
  readonly replica: ReplicaConfig;
  /** This replica's keys from the cluster's dealer (dealHostKeys). */
  readonly keys: KeyMaterial;
  readonly app: AppOptions;
  readonly replicas: readonly ReplicaEndpoint[];
  /** Called with every history record the core emits (executed, stableCheckpoint, ...). */
  readonly onRecord?: (record: Effect, nowMs: number) => void;
  /**
   * This process restarts a replica that ran before and lost its memory (a crash, a reboot): the
   * core joins as a backup and leads no view it may have led before (Replica.start). False only for
   * a cluster's first start.
   */
  readonly recovering?: boolean;
  readonly log?: HostLogger;
}

export interface HostLogger {
  debug(fields: Record<string, unknown>, event: string): void;
  info(fields: Record<string, unknown>, event: string): void;
  warn(fields: Record<string, unknown>, event: string): void;
  error(fields: Record<string, unknown>, event: string): void;
}

export interface ReplicaHost {
  readonly core: Replica;
  readonly wire: Wire;
  readonly peerTransport: TcpTransport;
  readonly clientTransport: TcpTransport;
  /** Forwarded messages the wire cannot carry yet, by type (see sealForwarded). */
  readonly unsealableDropped: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

export async function startReplicaHost(options: ReplicaHostOptions): Promise<ReplicaHost> {
  const { replica: config } = options;
  const self: Principal = { kind: "replica", id: config.replicaId };
  const me = options.replicas.find((endpoint) => endpoint.id === config.replicaId);
  if (me === undefined) throw new Error(`replica ${config.replicaId} has no endpoint in the replica list`);
  if (options.keys.self.kind !== self.kind || options.keys.self.id !== self.id)
    throw new Error(
      `replica ${self.id} was given the keys of ${options.keys.self.kind} ${options.keys.self.id}`,
    );
  const wire = createWire({ keys: options.keys, f: config.f });
  const app = createApp(options.app);
  // Requests a turn delivers leave in one batch at its end (ReplicaConfig.proposeAtTurnEnd) unless
  // the configuration turns it off.
  const core = new Replica(
    { ...config, proposeAtTurnEnd: config.proposeAtTurnEnd ?? true },
    {
      app,
      digest: sha256,
      requestDigest: (request) => wire.requestDigest(request),
      requestAuthentic: (request) => wire.requestAuthentic(request),
      signViewChange: (viewChange) => wire.signViewChange(viewChange),
    },
  );
  const peers = new Map(options.replicas.map((endpoint) => [`replica:${endpoint.id}`, endpoint.peer]));
  const peerTransport = await createTcpTransport({ self, listen: me.peer, peers });
  const clientTransport = await createTcpTransport({ self, listen: me.client, peers: new Map() });
  const n = 3 * config.f + 1;
  const nowMs = () => performance.now();

  const run = (effects: Effect[]): void => {
    for (const effect of effects) carryOut(effect);
  };
  const timers = new TimerTable<TimerId>((timer) => run(core.step({ kind: "timer", timer }, nowMs())));
  const route = (to: Principal, frame: Uint8Array): void => {
    if (to.kind === "client") clientTransport.send(to, frame);
    else peerTransport.send(to, frame);
  };
  const unsealableDropped = new Map<string, number>();
  /**
   * Known integration gap, handled like the simulator's host does (bft/sim/simulation.ts
   * sendForwarded): the core forwards messages it did not author (a client REQUEST relayed to the
   * primary, PBFT section 4.1; a NEW-VIEW resent to a lagging replica), but Wire.seal asserts that
   * the sender authored them. Until the wire carries forwarded messages, such a message is dropped
   * and counted instead of crashing the process; clients retransmit to every replica, so progress
   * does not depend on the relay. Once the wire accepts them, seal succeeds and they go out.
   */
  const seal = (message: Message, to: Principal | "replicas"): Uint8Array | null => {
    const forwarded =
      message.type === "Request" || ("replicaId" in message && message.replicaId !== config.replicaId);
    if (!forwarded) return wire.seal(message, to);
    try {
      return wire.seal(message, to);
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      unsealableDropped.set(message.type, (unsealableDropped.get(message.type) ?? 0) + 1);
      options.log?.debug({ type: message.type }, "forwarded message dropped: the wire cannot seal it");
      return null;
    }
  };
  const carryOut = (effect: Effect): void => {
    switch (effect.kind) {
      case "send": {
        const frame = seal(effect.message, effect.to);
        if (frame !== null) route(effect.to, frame);
        return;
      }
      case "broadcast": {
        const frame = seal(effect.message, "replicas");
        if (frame === null) return;
        for (let id = 0; id < n; id += 1)
          if (id !== config.replicaId) peerTransport.send({ kind: "replica", id }, frame);
        return;
      }
      case "setTimer":
        timers.set(effect.timer, effect.afterMs);
        return;
      case "cancelTimer":
        timers.cancel(effect.timer);
        return;
      default:
        options.onRecord?.(effect, nowMs());
    }
  };
  const wanted = (from: Principal, message: Message): boolean => core.wants(from, message);
  /** `origin` is set for frames on the client transport, over which replies to clients leave. */
  const deliver = (frame: Uint8Array, origin: FrameOrigin | undefined): void => {
    const opened = wire.open(frame, wanted);
    if (!opened.ok) {
      options.log?.debug({ reason: opened.reason }, "frame dropped");
      return;
    }
    // Answer a client on the connection its latest authenticated frame came on, whatever that
    // connection's hello named: a client gateway carries many clients on one connection.
    if (origin !== undefined && opened.from.kind === "client") clientTransport.bind(opened.from, origin);
    run(core.step({ kind: "message", from: opened.from, message: opened.message }, nowMs()));
    if (!turnEndScheduled) {
      turnEndScheduled = true;
      // setImmediate runs after this loop iteration's I/O callbacks: every frame read in this
      // turn, on any connection, has been delivered by then.
      setImmediate(endTurn);
    }
  };
  let turnEndScheduled = false;
  let closed = false;
  const endTurn = (): void => {
    turnEndScheduled = false;
    if (!closed) run(core.endTurn(nowMs()));
  };
  peerTransport.onFrame((frame) => deliver(frame, undefined));
  clientTransport.onFrame(deliver);
  run(core.start(nowMs(), { recovering: options.recovering === true }));
  options.log?.info(
    {
      replicaId: config.replicaId,
      f: config.f,
      peer: peerTransport.address,
      client: clientTransport.address,
    },
    "replica started",
  );

  return {
    core,
    wire,
    peerTransport,
    clientTransport,
    unsealableDropped,
    async close() {
      closed = true;
      timers.clear();
      await Promise.all([peerTransport.close(), clientTransport.close()]);
    },
  };
}
