/**
 * bench:core: the CPU the protocol itself costs per request, without sockets. Runs 4 replica cores
 * (f=1) and closed-loop clients in this one process over an in-memory network that seals and opens
 * every frame with the real Wire (MACs, authenticators, codec), 1 KiB echo. Frames are delivered in
 * rounds, like event-loop turns: what a round's steps emit is delivered in the next round, all of
 * one principal's frames together.
 *
 * bench:local measures everything on a busy shared machine, where throughput and even CPU per
 * request move with the neighbours' load; this one is single-threaded, so its CPU per request
 * holds steady and isolates the cost of crypto, codec and cores from the transport's syscalls.
 * Prints CSV: exec_ms, clients, requests, cpu_us_per_req, frames_per_req, unneeded_per_req (frames
 * dropped before their MAC check, Wire.open's `wanted`), batch_mean, exec_us_per_req (CPU inside
 * the echo app's busy-wait, all four replicas) and protocol_us_per_req (the rest).
 *
 * With --exec 1 the four busy-waits run here too, one after another: comparing protocol_us_per_req
 * with --exec 0 shows what spinning between batches costs the protocol's code when nothing else
 * shares the core (docs/protocol.md, Performance notes, sixth round).
 *
 *   npx tsx bench/core.ts [--clients 8,16] [--requests 20000] [--exec 0] [--inflight n]
 *     [--propose-each-request]
 */
import { Command } from "commander";
import { type Application, createApp } from "../bft/apps/index.js";
import { Client, type ClientEffect, defaultClientConfig } from "../bft/client/index.js";
import { clusterSecretFrom, createWire, dealHostKeys } from "../bft/host/index.js";
import type { Principal } from "../bft/messages.js";
import { defaultReplicaConfig, type Effect, Replica } from "../bft/replica/index.js";
import { sha256 } from "../bft/wire/index.js";
import {
  csvLine,
  parseClientCounts,
  parseList,
  parsePositiveInt,
  readOptionsOrExit,
  relaunchUnderHostFlags,
} from "./lib.js";

const F = 1;
const N = 3 * F + 1;
const PAYLOAD_BYTES = 1024;

const options = new Command()
  .name("bench:core")
  .option("--clients <list>", "closed-loop client counts", "8,16")
  .option("--requests <n>", "completed requests measured per point", "20000")
  .option("--exec <list>", "echo busy-wait per request in ms", "0")
  .option("--inflight <n>", "batches the primary keeps in flight (core.batchInflightMax)")
  .option("--propose-each-request", "the primary proposes at each request, not once per round")
  .parse()
  .opts<{
    clients: string;
    requests: string;
    exec: string;
    inflight?: string;
    proposeEachRequest?: boolean;
  }>();

interface Frame {
  readonly to: Principal;
  readonly bytes: Uint8Array;
}

/** CPU time in microseconds spent inside `app.execute`, counted while `counting` is set. */
const execCpu = { micros: 0, counting: false };

/**
 * The app with its execute() timed, for --exec above 0; at 0 the bare app runs, so the point
 * measures what it did before the option existed. Delegates each method: an app may be a class
 * instance, whose methods a spread would not copy.
 */
function timedApp(app: Application): Application {
  return {
    execute(operation, clientId) {
      if (!execCpu.counting) return app.execute(operation, clientId);
      const before = process.cpuUsage();
      const result = app.execute(operation, clientId);
      const spent = process.cpuUsage(before);
      execCpu.micros += spent.user + spent.system;
      return result;
    },
    checkpoint: () => app.checkpoint(),
    restore: (bytes) => app.restore(bytes),
    snapshotDigest: (bytes) => app.snapshotDigest(bytes),
  };
}

function run(clientCount: number, execMs: number, requestsMeasured: number, warmup: number) {
  const secret = clusterSecretFrom("bench-core");
  const replicas = Array.from({ length: N }, (_, id) => {
    const self: Principal = { kind: "replica", id };
    const wire = createWire({ keys: dealHostKeys(secret, self, F), f: F });
    const base = defaultReplicaConfig(F, id);
    // As the replica host runs it: requests leave at the end of each round (endTurn below).
    const config = {
      ...base,
      proposeAtTurnEnd: options.proposeEachRequest !== true,
      ...(options.inflight === undefined ? {} : { batchInflightMax: Number(options.inflight) }),
    };
    const core = new Replica(config, {
      app: execMs > 0 ? timedApp(createApp({ app: "echo", busyWaitMs: execMs })) : createApp({ app: "echo" }),
      digest: sha256,
      requestDigest: (request) => wire.requestDigest(request),
      requestAuthentic: (request) => wire.requestAuthentic(request),
      signViewChange: (viewChange) => wire.signViewChange(viewChange),
    });
    return { id, wire, core };
  });
  const clients = Array.from({ length: clientCount }, (_, index) => {
    const clientId = 1 + index;
    const wire = createWire({ keys: dealHostKeys(secret, { kind: "client", id: clientId }, F), f: F });
    const core = new Client(defaultClientConfig(clientId, F), {
      authenticateRequest: (request) => wire.authenticateRequest(request),
    });
    return { clientId, wire, core };
  });
  const clientById = new Map(clients.map((client) => [client.clientId, client]));
  let next: Frame[] = [];
  let frames = 0;
  let completed = 0;
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(7);

  const replicaEffects = (from: (typeof replicas)[number], effects: Effect[]) => {
    for (const effect of effects) {
      if (effect.kind === "send")
        next.push({ to: effect.to, bytes: from.wire.seal(effect.message, effect.to) });
      else if (effect.kind === "broadcast") {
        const bytes = from.wire.seal(effect.message, "replicas");
        for (let id = 0; id < N; id += 1)
          if (id !== from.id) next.push({ to: { kind: "replica", id }, bytes });
      }
    }
  };
  const clientEffects = (client: (typeof clients)[number], effects: ClientEffect[]) => {
    for (const effect of effects) {
      if (effect.kind === "send")
        next.push({ to: effect.to, bytes: client.wire.seal(effect.message, effect.to) });
      else if (effect.kind === "broadcast") {
        const bytes = client.wire.seal(effect.message, "replicas");
        for (let id = 0; id < N; id += 1) next.push({ to: { kind: "replica", id }, bytes });
      } else if (effect.kind === "completed") {
        completed += 1;
        // Closed loop: the next request leaves in the same turn, as the bench's clients' do.
        clientEffects(client, client.core.submit(payload, 0));
      }
    }
  };
  for (const replica of replicas) replicaEffects(replica, replica.core.start(0));
  for (const client of clients) clientEffects(client, client.core.submit(payload, 0));

  let startCpu: NodeJS.CpuUsage | undefined;
  let startFrames = 0;
  let startUnneeded = 0;
  const unneeded = () =>
    [...replicas, ...clients].reduce((sum, principal) => sum + principal.wire.dropped.unneeded, 0);
  let startBatches = 0;
  const target = warmup + requestsMeasured;
  while (completed < target) {
    if (startCpu === undefined && completed >= warmup) {
      startCpu = process.cpuUsage();
      startFrames = frames;
      startUnneeded = unneeded();
      startBatches = replicas[0]!.core.metrics.batchesExecuted;
      execCpu.micros = 0;
      execCpu.counting = true; // read only by timedApp, which runs for --exec above 0
    }
    const round = next;
    next = [];
    if (round.length === 0) throw new Error("the network went quiet before the run finished");
    for (const frame of round) {
      frames += 1;
      if (frame.to.kind === "replica") {
        const replica = replicas[frame.to.id]!;
        const opened = replica.wire.open(frame.bytes, (from, message) => replica.core.wants(from, message));
        if (!opened.ok && opened.reason === "unneeded") continue;
        if (!opened.ok) throw new Error(`replica ${replica.id} dropped a frame: ${opened.reason}`);
        replicaEffects(
          replica,
          replica.core.step({ kind: "message", from: opened.from, message: opened.message }, 0),
        );
      } else {
        const client = clientById.get(frame.to.id)!;
        const opened = client.wire.open(frame.bytes, (from, message) => client.core.wants(from, message));
        if (!opened.ok) continue;
        clientEffects(
          client,
          client.core.step({ kind: "message", from: opened.from, message: opened.message }, 0),
        );
      }
    }
    for (const replica of replicas) replicaEffects(replica, replica.core.endTurn(0));
  }
  const cpu = process.cpuUsage(startCpu);
  execCpu.counting = false;
  const measured = completed - warmup;
  const batches = replicas[0]!.core.metrics.batchesExecuted - startBatches;
  return {
    cpuUsPerRequest: (cpu.user + cpu.system) / measured,
    framesPerRequest: (frames - startFrames) / measured,
    unneededPerRequest: (unneeded() - startUnneeded) / measured,
    batchMean: measured / Math.max(1, batches),
    execUsPerRequest: execCpu.micros / measured,
    measured,
  };
}

const header = csvLine([
  "exec_ms",
  "clients",
  "requests",
  "cpu_us_per_req",
  "frames_per_req",
  "unneeded_per_req",
  "batch_mean",
  "exec_us_per_req",
  "protocol_us_per_req",
]);
const { requests, execValues, clientCounts } = readOptionsOrExit("bench:core", () => ({
  requests: parsePositiveInt(options.requests, "--requests"),
  execValues: parseList(options.exec, "exec"),
  clientCounts: parseClientCounts(options.clients),
}));
/** Every point, in the order given; in this process only once it runs under HOST_NODE_FLAGS. */
function runPoints(): void {
  console.log(header);
  for (const execMs of execValues)
    for (const clientCount of clientCounts) {
      // Warm-up is in requests; at 1 ms of execution 5000 of them would take 20 s.
      const warmup = Math.min(execMs > 0 ? 1000 : 5000, requests);
      const result = run(clientCount, execMs, requests, warmup);
      console.log(
        csvLine([
          execMs,
          clientCount,
          result.measured,
          result.cpuUsPerRequest,
          result.framesPerRequest,
          result.unneededPerRequest,
          result.batchMean,
          result.execUsPerRequest,
          result.cpuUsPerRequest - result.execUsPerRequest,
        ]),
      );
    }
}

if (!relaunchUnderHostFlags()) runPoints();
