/**
 * bench:local: 4 replica OS processes (f=1) on loopback with the TCP transport, and 1..16
 * closed-loop clients in this process, 1 KiB requests and replies (the paper's micro-benchmark).
 * Prints CSV: exec_ms, clients, throughput req/s, mean/p50/p99 latency ms, and CPU time of all
 * processes (replicas and this one) per request in microseconds. Writes the CSV to
 * bench/out/local.csv too. Each point also prints on stderr where its CPU went: per request for
 * the clients' process and for each replica, and how busy the cores were. The clients share one
 * connection per replica (a client gateway, startClientPool) unless --connection-per-client gives
 * each its own, as separate client processes would have.
 *
 *   npm run bench:local -- [--clients 1,2,4,8,16] [--exec 0,1] [--duration 10s] [--warmup 2s]
 *     [--settle 150s] [--inflight n] [--batch-max n] [--connection-per-client]
 *     [--propose-each-request]
 *
 * Before the first point of each exec value the cluster runs the largest client count in 5 s
 * windows until its CPU per request stops falling (two windows in a row within 1.5% of the best
 * before them, after at least 30 s; at most --settle), so every
 * point measures replicas whose hot paths V8 has finished optimizing (see settle()).
 *
 * Environment, for profiling: BENCH_REPLICA_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"), BENCH_REPLICA_ENTRY (a
 * prebuilt replica-main bundle to run instead of tsx), BENCH_REPLICA_LOG_LEVEL (info lets SIGUSR2
 * print a replica's metrics).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { bytesEqual } from "../bft/bytes.js";
import {
  type ClientSession,
  clusterSecretFrom,
  dealHostKeys,
  HOST_NODE_FLAGS,
  keyMaterialJson,
  type ReplicaEndpoint,
  type ReplicaProcessConfig,
  startClientHost,
  startClientPool,
} from "../bft/host/index.js";
import { REQUEST_BATCH_MAX } from "../bft/limits.js";
import {
  atExit,
  csvLine,
  freePorts,
  parseClientCounts,
  parseDurationMs,
  parseList,
  parsePositiveDurationMs,
  parsePositiveInt,
  processCpuMs,
  readOptionsOrExit,
  relaunchUnderHostFlags,
  summarize,
  watchReplicaExits,
} from "./lib.js";
import { parseCsv, renderPng } from "./plot.js";

const F = 1;
const N = 3 * F + 1;
const PAYLOAD_BYTES = 1024;
/** This launcher is the key dealer: the secret stays in this process. */
const CLUSTER_SECRET = clusterSecretFrom("bench-local");

const options = new Command()
  .name("bench:local")
  .option("--clients <list>", "closed-loop client counts", "1,2,4,8,16")
  .option("--exec <list>", "busy-wait per request in ms", "0,1")
  .option("--duration <time>", "measured time per point", "10s")
  .option("--warmup <time>", "unmeasured time per point", "2s")
  .option("--settle <time>", "longest run before a cluster's first point while the JIT settles", "150s")
  .option("--inflight <n>", "batches the primary keeps in flight (core.batchInflightMax)")
  .option("--batch-max <n>", "most requests in one batch (core.batchSizeMax)")
  .option("--connection-per-client", "each client opens its own connections (no gateway)")
  .option("--propose-each-request", "the primary proposes at each request, not once per turn")
  .option("--out <file>", "CSV output file", "bench/out/local.csv")
  .parse()
  .opts<{
    clients: string;
    exec: string;
    duration: string;
    warmup: string;
    settle: string;
    out: string;
    inflight?: string;
    batchMax?: string;
    connectionPerClient?: boolean;
    proposeEachRequest?: boolean;
  }>();

interface Cluster {
  endpoints: ReplicaEndpoint[];
  /** CPU time so far of each replica process, by replica id, in ms. */
  cpuMsEach(): number[];
  /** Rejects as soon as a replica process exits before stop() (a bad configuration, a crash). */
  readonly failed: Promise<never>;
  stop(): Promise<void>;
}

/** The replica core settings the options override, validated. */
function coreOverrides(): ReplicaProcessConfig["core"] {
  const inflight =
    options.inflight === undefined ? undefined : parsePositiveInt(options.inflight, "--inflight");
  const batchMax =
    options.batchMax === undefined ? undefined : parsePositiveInt(options.batchMax, "--batch-max");
  if (batchMax !== undefined && batchMax > REQUEST_BATCH_MAX)
    throw new Error(`--batch-max must be at most ${REQUEST_BATCH_MAX}, got ${batchMax}`);
  return {
    ...(inflight === undefined ? {} : { batchInflightMax: inflight }),
    ...(batchMax === undefined ? {} : { batchSizeMax: batchMax }),
    ...(options.proposeEachRequest === true ? { proposeAtTurnEnd: false } : {}),
  };
}

async function startReplicas(execMs: number, core: ReplicaProcessConfig["core"]): Promise<Cluster> {
  const ports = await freePorts(2 * N);
  const endpoints: ReplicaEndpoint[] = Array.from({ length: N }, (_, id) => ({
    id,
    peer: { host: "127.0.0.1", port: ports[2 * id]! },
    client: { host: "127.0.0.1", port: ports[2 * id + 1]! },
  }));
  const dir = mkdtempSync(join(tmpdir(), "bench-local-"));
  // The configurations hold the replicas' keys: removed on stop, or when this process ends first.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  const forgetDir = atExit(removeDir);
  const children: ChildProcess[] = endpoints.map((endpoint) => {
    const config: ReplicaProcessConfig = {
      f: F,
      replicaId: endpoint.id,
      // This launcher deals keys: each replica process gets its own, never the cluster secret.
      keys: keyMaterialJson(dealHostKeys(CLUSTER_SECRET, { kind: "replica", id: endpoint.id }, F)),
      app: { app: "echo", busyWaitMs: execMs },
      replicas: endpoints,
      core,
    };
    const path = join(dir, `replica-${endpoint.id}.json`);
    writeFileSync(path, JSON.stringify(config));
    const nodeArgs = (process.env.BENCH_REPLICA_NODE_ARGS ?? "").split(" ").filter((arg) => arg.length > 0);
    // BENCH_REPLICA_ENTRY runs a prebuilt bundle instead (e.g. from esbuild) to compare with tsx.
    const entry = process.env.BENCH_REPLICA_ENTRY;
    const script =
      entry === undefined || entry === "" ? ["--import", "tsx", "bft/host/replica-main.ts"] : [entry];
    const child = spawn(process.execPath, [...HOST_NODE_FLAGS, ...nodeArgs, ...script, "--config", path], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, LOG_LEVEL: process.env.BENCH_REPLICA_LOG_LEVEL ?? "warn" },
    });
    return child;
  });
  const { failed, expectExits } = watchReplicaExits(children);
  const stop = async () => {
    expectExits();
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
    removeDir();
    forgetDir();
  };
  return {
    endpoints,
    stop,
    failed,
    cpuMsEach: () => children.map((child) => processCpuMs(child.pid)),
  };
}

/** CPU time of this process (the clients) and of each replica process, by replica id, in ms. */
interface CpuSplit {
  readonly clients: number;
  readonly replicas: readonly number[];
}

function cpuSplitMs(cluster: Cluster): CpuSplit {
  const own = process.cpuUsage();
  return { clients: (own.user + own.system) / 1000, replicas: cluster.cpuMsEach() };
}

function totalMs(split: CpuSplit): number {
  return split.clients + split.replicas.reduce((sum, ms) => sum + ms, 0);
}

/** CPU time so far of the replica processes and of this one (the clients), in ms. */
function allCpuMs(cluster: Cluster): number {
  return totalMs(cpuSplitMs(cluster));
}

/** The CPU time used between two readings. */
function cpuUsedMs(before: CpuSplit, after: CpuSplit): CpuSplit {
  return {
    clients: after.clients - before.clients,
    replicas: after.replicas.map((ms, id) => ms - (before.replicas[id] ?? 0)),
  };
}

/**
 * Where a point's CPU went, on stderr: per request for the clients' process and each replica
 * (replica 0 leads view 0), and how busy the machine's cores were, which says how much of the
 * point's time the processes waited on one another (docs/protocol.md, Performance notes).
 */
function reportCpuSplit(label: string, used: CpuSplit, requests: number, wallMs: number): void {
  const perRequestUs = (ms: number) => Math.round((ms * 1000) / Math.max(1, requests));
  const busyPercent = (100 * totalMs(used)) / (wallMs * availableParallelism());
  console.error(
    `${label}: CPU per request: clients ${perRequestUs(used.clients)} us, replicas ` +
      `${used.replicas.map(perRequestUs).join(" / ")} us; cores ${busyPercent.toFixed(1)}% busy`,
  );
}

async function measure(
  label: string,
  cluster: Cluster,
  warmupMs: number,
  durationMs: number,
  clients: readonly ClientSession[],
) {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 7);
  const latencies: number[] = [];
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const measureUntil = measureFrom + durationMs;
  let wrong = 0;
  let cpuAtStart: CpuSplit | undefined;
  let cpuStartedAtMs = 0;
  const cpuTimer = setTimeout(() => {
    cpuAtStart = cpuSplitMs(cluster);
    cpuStartedAtMs = performance.now();
  }, warmupMs);
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < measureUntil) {
        const { result, latencyMs } = await client.invoke(payload);
        if (!bytesEqual(result, payload)) wrong += 1;
        const now = performance.now();
        if (now >= measureFrom && now < measureUntil) latencies.push(latencyMs);
      }
    }),
  );
  clearTimeout(cpuTimer);
  const cpuAtEnd = cpuSplitMs(cluster);
  if (cpuAtStart === undefined) throw new Error("the measured window never started");
  if (wrong > 0) throw new Error(`${wrong} replies did not echo the request`);
  const used = cpuUsedMs(cpuAtStart, cpuAtEnd);
  reportCpuSplit(label, used, latencies.length, performance.now() - cpuStartedAtMs);
  const cpuMs = totalMs(used);
  return { ...summarize(latencies), cpuUsPerRequest: (cpuMs * 1000) / Math.max(1, latencies.length) };
}

function clientKeys(clientId: number) {
  return dealHostKeys(CLUSTER_SECRET, { kind: "client", id: clientId }, F);
}

async function startClients(
  endpoints: ReplicaEndpoint[],
  clientCount: number,
  firstClientId: number,
): Promise<{ clients: readonly ClientSession[]; close(): Promise<void> }> {
  const clientIds = Array.from({ length: clientCount }, (_, index) => firstClientId + index);
  const common = { f: F, replicas: endpoints };
  if (options.connectionPerClient === true) {
    const hosts = await Promise.all(
      clientIds.map((clientId) => startClientHost({ ...common, clientId, keys: clientKeys(clientId) })),
    );
    return { clients: hosts, close: async () => void (await Promise.all(hosts.map((host) => host.close()))) };
  }
  const pool = await startClientPool({ ...common, clientIds, keysOf: clientKeys });
  return { clients: pool.clients, close: () => pool.close() };
}

async function waitReady(endpoints: ReplicaEndpoint[]): Promise<void> {
  // One request through the whole protocol proves all replicas are listening and agreeing.
  const probe = await startClientHost({
    clientId: 1_000_000,
    f: F,
    keys: clientKeys(1_000_000),
    replicas: endpoints,
    client: { retransmitTimeoutMs: 200 },
  });
  await probe.invoke(Buffer.from("ready"));
  await probe.close();
}

/** Settling windows: long enough to hold thousands of requests even at 1 ms of execution. */
const SETTLE_WINDOW_MS = 5000;
const SETTLE_WINDOWS_MIN = 6;
/**
 * Settled: the last SETTLE_FLAT_WINDOWS windows each came within this fraction of the best window
 * before them. One flat window was not enough at 1 ms of execution, where the hot paths run ten
 * times less often: CPU per request kept falling by 1-2% a window for a minute more.
 */
const SETTLE_TOLERANCE = 0.015;
const SETTLE_FLAT_WINDOWS = 2;

/**
 * Runs the largest client count in windows until CPU per request stops falling, at most settleMs.
 * A fresh replica runs its hot paths unoptimized at first and V8 keeps compiling them for tens of
 * seconds (longer at 1 ms of execution, where they run less often): in a profile 7-11 s after
 * start a third of every process's CPU was the optimizing compiler. The service this measures is
 * meant to run for months, so the points measure it once that has passed.
 */
async function settle(
  cluster: Cluster,
  clients: readonly ClientSession[],
  execMs: number,
  settleMs: number,
): Promise<void> {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 7);
  let completed = 0;
  let running = true;
  const loops = clients.map(async (client) => {
    while (running) {
      const { result } = await client.invoke(payload);
      if (!bytesEqual(result, payload)) throw new Error("a reply did not echo its request");
      completed += 1;
    }
  });
  const perRequest: number[] = [];
  const start = performance.now();
  let last = { cpuMs: allCpuMs(cluster), completed };
  try {
    for (;;) {
      await Promise.race([new Promise((resolve) => setTimeout(resolve, SETTLE_WINDOW_MS)), ...loops]);
      const now = { cpuMs: allCpuMs(cluster), completed };
      perRequest.push(((now.cpuMs - last.cpuMs) * 1000) / Math.max(1, now.completed - last.completed));
      last = now;
      const best = Math.min(...perRequest.slice(0, -SETTLE_FLAT_WINDOWS));
      const settled =
        perRequest.length >= SETTLE_WINDOWS_MIN &&
        perRequest.slice(-SETTLE_FLAT_WINDOWS).every((us) => best - us <= SETTLE_TOLERANCE * best);
      const outOfTime = performance.now() - start + SETTLE_WINDOW_MS > settleMs;
      const verdict = settled ? " (settled)" : outOfTime ? " (out of time, not settled)" : "";
      console.error(
        `settling exec ${execMs} ms, ${clients.length} clients: ${perRequest.map((us) => Math.round(us)).join(", ")} us of CPU per request${verdict}`,
      );
      if (settled || outOfTime) return;
    }
  } finally {
    running = false;
    await Promise.all(loops);
  }
}

/** Start attempts per cluster: see startReadyCluster. */
const CLUSTER_STARTS_MAX = 3;

/**
 * Replicas and clients, once every replica answers. The ports come from freePorts, which frees
 * them before the replicas bind them: another process on the machine may take one meanwhile, and
 * a replica that cannot listen exits. Such a start is retried on new ports; a replica that keeps
 * failing (a bad setting) fails the run after CLUSTER_STARTS_MAX attempts with its error.
 */
async function startReadyCluster(
  execMs: number,
  core: ReplicaProcessConfig["core"],
  clientCount: number,
  firstClientId: number,
): Promise<{ cluster: Cluster; clients: Awaited<ReturnType<typeof startClients>> }> {
  for (let attempt = 1; ; attempt++) {
    const cluster = await startReplicas(execMs, core);
    let clients: Awaited<ReturnType<typeof startClients>> | undefined;
    try {
      clients = await startClients(cluster.endpoints, clientCount, firstClientId);
      await Promise.race([waitReady(cluster.endpoints), cluster.failed]);
      return { cluster, clients };
    } catch (error) {
      await clients?.close();
      await cluster.stop();
      if (attempt >= CLUSTER_STARTS_MAX) throw error;
      console.error(`cluster start ${attempt} failed (${(error as Error).message}); retrying on new ports`);
    }
  }
}

function writeCsv(lines: readonly string[]): void {
  mkdirSync(join(options.out, ".."), { recursive: true });
  writeFileSync(options.out, `${lines.join("\n")}\n`);
}

async function main(): Promise<void> {
  const { clientCounts, execValues, durationMs, warmupMs, settleMs, core } = readOptionsOrExit(
    "bench:local",
    () => ({
      clientCounts: parseClientCounts(options.clients),
      execValues: parseList(options.exec, "exec"),
      durationMs: parsePositiveDurationMs(options.duration, "--duration"),
      warmupMs: parseDurationMs(options.warmup),
      settleMs: parseDurationMs(options.settle),
      core: coreOverrides(),
    }),
  );
  const lines = [
    csvLine([
      "exec_ms",
      "clients",
      "throughput_rps",
      "latency_ms_mean",
      "latency_ms_p50",
      "latency_ms_p99",
      "cpu_us_per_req",
    ]),
  ];
  console.log(lines[0]);
  let nextClientId = 1;
  for (const execMs of execValues) {
    // One set of clients and connections for the whole run, each point using the first
    // clientCount of them: a point that opened connections anew deoptimized the replicas' stream
    // code (wrong-map deopts in node's stream internals) and measured its recompilation.
    const clientCountMax = Math.max(...clientCounts);
    const { cluster, clients } = await startReadyCluster(execMs, core, clientCountMax, nextClientId);
    nextClientId += clientCountMax;
    try {
      await Promise.race([settle(cluster, clients.clients, execMs, settleMs), cluster.failed]);
      for (const clientCount of clientCounts) {
        const summary = await Promise.race([
          measure(
            `exec ${execMs} ms, ${clientCount} clients`,
            cluster,
            warmupMs,
            durationMs,
            clients.clients.slice(0, clientCount),
          ),
          cluster.failed,
        ]);
        const line = csvLine([
          execMs,
          clientCount,
          summary.count / (durationMs / 1000),
          summary.meanMs,
          summary.p50Ms,
          summary.p99Ms,
          summary.cpuUsPerRequest,
        ]);
        lines.push(line);
        console.log(line);
        writeCsv(lines); // each point as it comes: a run stopped later keeps what it measured
      }
    } finally {
      await clients.close();
      await cluster.stop();
    }
  }
  const rows = parseCsv(lines.join("\n"));
  for (const [y, title] of [
    ["throughput_rps", "bench:local throughput (f=1, 1 KiB echo)"],
    ["latency_ms_mean", "bench:local mean latency (f=1, 1 KiB echo)"],
  ] as const) {
    const png = options.out.replace(/\.csv$/, `-${y}.png`);
    writeFileSync(png, await renderPng({ rows, x: "clients", y, series: "exec_ms", title }));
  }
  console.error(`wrote ${options.out} and its plots`);
}

if (!relaunchUnderHostFlags()) {
  main().catch((error: unknown) => {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  });
}
