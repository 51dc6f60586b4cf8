/**
 * bench:floor: what PBFT's message pattern alone costs on this machine, without any crypto, codec,
 * validation or protocol core. It runs bench:local's shape (4 replica processes, f=1, the product's
 * TCP transport on loopback, closed-loop clients behind one gateway connection per replica in this
 * process, 1 KiB requests and replies) but each process only moves frames of the sizes the real
 * protocol sends, in the real order:
 *
 *   request (client -> primary) -> PRE-PREPARE of the turn's requests (primary -> 3 backups)
 *   -> PREPARE (each backup -> 3 others) -> COMMIT (every replica -> 3 others) -> replies
 *   (every replica -> the gateway, one 1 KiB reply per request) -> the client completes on f+1.
 *
 * The primary proposes once per event-loop turn with at most 2 batches in flight, as the replica
 * host does. No checkpoints, STATUS or view changes: they add frames, so this is a lower bound.
 * The CPU per request it prints (all five processes) is the floor under bench:local's figure; the
 * protocol's own CPU on top of it is what bench:core measures. Together they bound what bench:local
 * can reach here: throughput <= cores * 1e6 / (floor + core) requests per second.
 *
 * With --exec, each replica runs the echo app's busy-wait for every request before its reply, as
 * the real replicas do: the floor then includes what five processes taking turns on two cores cost
 * the message pattern, which is the bound that matters for the 1 ms goal.
 *
 * Prints CSV: exec_ms, clients, throughput_rps, latency_ms_mean, cpu_us_per_req, protocol_us_per_req
 * (cpu_us_per_req less the replicas' configured busy-wait, n * exec).
 *
 *   npm run bench:floor -- [--clients 8,16] [--exec 0] [--duration 10s] [--warmup 2s]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { busyWait } from "../bft/apps/echo.js";
import { HOST_NODE_FLAGS } from "../bft/host/index.js";
import type { Principal } from "../bft/messages.js";
import { createTcpTransport, type FrameOrigin, type PeerAddress } from "../bft/transport/index.js";
import {
  csvLine,
  freePorts,
  parseClientCounts,
  parseDurationMs,
  parseList,
  parsePositiveDurationMs,
  processCpuMs,
  readOptionsOrExit,
  relaunchUnderHostFlags,
  summarize,
  watchReplicaExits,
} from "./lib.js";

const F = 1;
const N = 3 * F + 1;
const PRIMARY = 0;
const INFLIGHT_MAX = 2;
/** Frame sizes of the real wire (bench/wire.ts prints them): 1 KiB operations with f=1 MACs. */
const REQUEST_BYTES = 1210;
const PRE_PREPARE_HEADER_BYTES = 120;
const VOTE_BYTES = 110;
const REPLY_BYTES = 1110;

enum Kind {
  Request = 1,
  PrePrepare = 2,
  Prepare = 3,
  Commit = 4,
  Reply = 5,
  /** A gateway client introduces itself to a replica so the replica can route its replies. */
  Hello = 6,
}

/** Header: kind u8, sender u8, seq or client id u32, timestamp u32; then entries or padding. */
const HEADER_BYTES = 10;
const ENTRY_BYTES = 8;

function frame(kind: Kind, sender: number, a: number, b: number, size: number): Buffer {
  const bytes = Buffer.alloc(Math.max(size, HEADER_BYTES));
  bytes.writeUInt8(kind, 0);
  bytes.writeUInt8(sender, 1);
  bytes.writeUInt32BE(a, 2);
  bytes.writeUInt32BE(b, 6);
  return bytes;
}

function header(bytes: Uint8Array): { kind: number; sender: number; a: number; b: number } {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    kind: view.readUInt8(0),
    sender: view.readUInt8(1),
    a: view.readUInt32BE(2),
    b: view.readUInt32BE(6),
  };
}

interface Endpoints {
  readonly peer: PeerAddress[];
  readonly client: PeerAddress[];
}

interface Slot {
  entries: { clientId: number; timestamp: number }[] | undefined;
  readonly prepares: Set<number>;
  readonly commits: Set<number>;
  sentCommit: boolean;
}

async function runReplica(id: number, endpoints: Endpoints, execMs: number): Promise<void> {
  const self: Principal = { kind: "replica", id };
  const peers = new Map(endpoints.peer.map((address, index) => [`replica:${index}`, address]));
  const peer = await createTcpTransport({ self, listen: endpoints.peer[id]!, peers });
  const client = await createTcpTransport({ self, listen: endpoints.client[id]!, peers: new Map() });
  const slots = new Map<number, Slot>();
  const pending: { clientId: number; timestamp: number }[] = [];
  let nextSeq = 1;
  let lastExecuted = 0;
  let turnEndScheduled = false;

  const slot = (seq: number): Slot => {
    let found = slots.get(seq);
    if (found === undefined) {
      found = { entries: undefined, prepares: new Set(), commits: new Set(), sentCommit: false };
      slots.set(seq, found);
    }
    return found;
  };
  const broadcast = (bytes: Uint8Array): void => {
    for (let other = 0; other < N; other += 1)
      if (other !== id) peer.send({ kind: "replica", id: other }, bytes);
  };
  const advance = (seq: number): void => {
    const current = slot(seq);
    // Prepared: the PRE-PREPARE and 2f PREPAREs of backups (a backup counts its own).
    if (!current.sentCommit && current.entries !== undefined && current.prepares.size >= 2 * F) {
      current.sentCommit = true;
      current.commits.add(id);
      broadcast(frame(Kind.Commit, id, seq, 0, VOTE_BYTES));
    }
    for (;;) {
      const next = slots.get(lastExecuted + 1);
      if (next === undefined || !next.sentCommit || next.commits.size < 2 * F + 1) break;
      for (const entry of next.entries ?? []) {
        if (execMs > 0) busyWait(execMs);
        client.send(
          { kind: "client", id: entry.clientId },
          frame(Kind.Reply, id, entry.clientId, entry.timestamp, REPLY_BYTES),
        );
      }
      slots.delete(lastExecuted + 1);
      lastExecuted += 1;
    }
  };
  const endTurn = (): void => {
    turnEndScheduled = false;
    if (id !== PRIMARY || pending.length === 0 || nextSeq - 1 - lastExecuted >= INFLIGHT_MAX) return;
    const entries = pending.splice(0, pending.length);
    const seq = nextSeq;
    nextSeq += 1;
    const bytes = frame(
      Kind.PrePrepare,
      id,
      seq,
      entries.length,
      PRE_PREPARE_HEADER_BYTES + entries.length * REQUEST_BYTES,
    );
    entries.forEach((entry, index) => {
      bytes.writeUInt32BE(entry.clientId, HEADER_BYTES + index * ENTRY_BYTES);
      bytes.writeUInt32BE(entry.timestamp, HEADER_BYTES + index * ENTRY_BYTES + 4);
    });
    slot(seq).entries = entries;
    broadcast(bytes);
    advance(seq);
  };
  const scheduleTurnEnd = (): void => {
    if (turnEndScheduled) return;
    turnEndScheduled = true;
    setImmediate(endTurn);
  };

  const deliver = (bytes: Uint8Array, origin: FrameOrigin | undefined): void => {
    const { kind, sender, a, b } = header(bytes);
    switch (kind) {
      case Kind.Hello:
      case Kind.Request:
        if (origin !== undefined) client.bind({ kind: "client", id: a }, origin);
        if (kind === Kind.Request) pending.push({ clientId: a, timestamp: b });
        break;
      case Kind.PrePrepare: {
        const entries = Array.from({ length: b }, (_, index) => {
          const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
          return {
            clientId: view.readUInt32BE(HEADER_BYTES + index * ENTRY_BYTES),
            timestamp: view.readUInt32BE(HEADER_BYTES + index * ENTRY_BYTES + 4),
          };
        });
        slot(a).entries = entries;
        slot(a).prepares.add(id);
        broadcast(frame(Kind.Prepare, id, a, 0, VOTE_BYTES));
        advance(a);
        break;
      }
      case Kind.Prepare:
        slot(a).prepares.add(sender);
        advance(a);
        break;
      case Kind.Commit:
        slot(a).commits.add(sender);
        advance(a);
        break;
    }
    scheduleTurnEnd();
  };
  peer.onFrame((bytes) => deliver(bytes, undefined));
  client.onFrame(deliver);
  process.on("SIGTERM", () => void Promise.all([peer.close(), client.close()]).then(() => process.exit(0)));
}

interface Gateway {
  /** Resolves with the latency of each completed request until `until`. */
  run(clientCount: number, firstClientId: number, until: number): Promise<number[]>;
  close(): Promise<void>;
}

async function startGateway(endpoints: Endpoints, firstClientId: number): Promise<Gateway> {
  const peers = new Map(endpoints.client.map((address, index) => [`replica:${index}`, address]));
  const transport = await createTcpTransport({ self: { kind: "client", id: firstClientId }, peers });
  const outstanding = new Map<
    number,
    { timestamp: number; sentAt: number; replies: Set<number>; done: () => void }
  >();
  transport.onFrame((bytes) => {
    const { kind, sender, a, b } = header(bytes);
    const request = outstanding.get(a);
    if (kind !== Kind.Reply || request === undefined || request.timestamp !== b) return;
    request.replies.add(sender);
    if (request.replies.size === F + 1) request.done();
  });
  return {
    async run(clientCount, first, until) {
      const latencies: number[] = [];
      for (let clientId = first; clientId < first + clientCount; clientId += 1)
        for (let replica = 0; replica < N; replica += 1)
          transport.send({ kind: "replica", id: replica }, frame(Kind.Hello, 0, clientId, 0, HEADER_BYTES));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const loop = async (clientId: number): Promise<void> => {
        for (let timestamp = 1; performance.now() < until; timestamp += 1) {
          const sentAt = performance.now();
          await new Promise<void>((done) => {
            outstanding.set(clientId, { timestamp, sentAt, replies: new Set(), done });
            transport.send(
              { kind: "replica", id: PRIMARY },
              frame(Kind.Request, 0, clientId, timestamp, REQUEST_BYTES),
            );
          });
          latencies.push(performance.now() - sentAt);
        }
        outstanding.delete(clientId);
      };
      await Promise.all(Array.from({ length: clientCount }, (_, index) => loop(first + index)));
      return latencies;
    },
    close: () => transport.close(),
  };
}

async function main(): Promise<void> {
  const options = new Command()
    .name("bench:floor")
    .option("--clients <list>", "closed-loop client counts", "8,16")
    .option("--exec <list>", "echo busy-wait per request in each replica, in ms", "0")
    .option("--duration <time>", "measured time per point", "10s")
    .option("--warmup <time>", "unmeasured time before each point", "2s")
    .option("--replica <json>", "internal: run as replica process")
    .parse()
    .opts<{ clients: string; exec: string; duration: string; warmup: string; replica?: string }>();
  if (options.replica !== undefined) {
    const { id, endpoints, execMs } = JSON.parse(options.replica) as {
      id: number;
      endpoints: Endpoints;
      execMs: number;
    };
    return runReplica(id, endpoints, execMs);
  }
  const { clientCounts, execValues, durationMs, warmupMs } = readOptionsOrExit("bench:floor", () => ({
    clientCounts: parseClientCounts(options.clients),
    execValues: parseList(options.exec, "exec"),
    durationMs: parsePositiveDurationMs(options.duration, "--duration"),
    warmupMs: parseDurationMs(options.warmup),
  }));
  console.log(
    csvLine([
      "exec_ms",
      "clients",
      "throughput_rps",
      "latency_ms_mean",
      "cpu_us_per_req",
      "protocol_us_per_req",
    ]),
  );
  for (const execMs of execValues) await runCluster(execMs, clientCounts, durationMs, warmupMs);
}

/** One cluster of replica processes spinning `execMs` per request, measured at each client count. */
async function runCluster(
  execMs: number,
  clientCounts: readonly number[],
  durationMs: number,
  warmupMs: number,
): Promise<void> {
  const ports = await freePorts(2 * N);
  const endpoints: Endpoints = {
    peer: Array.from({ length: N }, (_, id) => ({ host: "127.0.0.1", port: ports[2 * id]! })),
    client: Array.from({ length: N }, (_, id) => ({ host: "127.0.0.1", port: ports[2 * id + 1]! })),
  };
  const script = fileURLToPath(import.meta.url);
  const children: ChildProcess[] = Array.from({ length: N }, (_, id) =>
    spawn(
      process.execPath,
      [...HOST_NODE_FLAGS, "--import", "tsx", script, "--replica", JSON.stringify({ id, endpoints, execMs })],
      {
        stdio: ["ignore", "inherit", "inherit"],
      },
    ),
  );
  const replicasCpuMs = () => children.reduce((sum, child) => sum + processCpuMs(child.pid), 0);
  const { failed, expectExits } = watchReplicaExits(children);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    let firstClientId = 1;
    for (const clientCount of clientCounts) {
      const gateway = await startGateway(endpoints, firstClientId);
      await Promise.race([gateway.run(clientCount, firstClientId, performance.now() + warmupMs), failed]);
      const cpuStart = { replicas: replicasCpuMs(), self: process.cpuUsage() };
      const latencies = await Promise.race([
        gateway.run(clientCount, firstClientId, performance.now() + durationMs),
        failed,
      ]);
      const self = process.cpuUsage(cpuStart.self);
      const cpuMs = replicasCpuMs() - cpuStart.replicas + (self.user + self.system) / 1000;
      await gateway.close();
      firstClientId += clientCount;
      const summary = summarize(latencies);
      const cpuUsPerRequest = (cpuMs * 1000) / Math.max(1, summary.count);
      console.log(
        csvLine([
          execMs,
          clientCount,
          summary.count / (durationMs / 1000),
          summary.meanMs,
          cpuUsPerRequest,
          cpuUsPerRequest - N * execMs * 1000,
        ]),
      );
    }
  } finally {
    expectExits();
    for (const child of children) child.kill("SIGTERM");
  }
}

if (!relaunchUnderHostFlags()) {
  main().catch((error: unknown) => {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  });
}
