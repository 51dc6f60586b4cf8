/**
 * Proves a PBFT cluster runs on the emulated hardware as DESIGN.md section 2 lays it out: an f=1
 * testbed (4 active nodes, no standbys), replica i on node n<i> with agreement on its NIC2 address
 * and clients on its NIC1 address, started through the node agents (`start-replica` over SSH on
 * NIC3). Clients run in this test process on the host, which reaches the internal bridges through
 * their gateway addresses.
 *
 * How: concurrent closed-loop echo clients drive requests and check every reply echoes its request,
 * first with all ports up, then with one backup's NIC2 port shut (3 of 4 replicas order), then with
 * the primary's NIC1 and NIC2 shut (a view change to replica 1, with a 1 s view-change timeout),
 * then after healing. Each replica records its history on its node's disk; the histories come back
 * through the agents and, with the clients' own records, go through bft/checker (agreement, order,
 * validity, checkpoints, liveness after healing).
 *
 * The switch drops a shut port's frames between nodes (its chain hangs off DOCKER-USER, i.e.
 * FORWARD) and, through a second chain hung off INPUT, the port's frames to the host itself, so a
 * shut NIC1 also cuts this process's clients off that node (checked below).
 */
import { Socket } from "node:net";
import { networkInterfaces } from "node:os";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkHistory,
  formatCheckReport,
  HISTORY_FORMAT,
  type History,
  type HistoryEvent,
  hexOf,
} from "../../bft/checker/index.js";
import { type ClientHost, startClientHost } from "../../bft/host/index.js";
import {
  defaultConfig,
  gatewayAddress,
  REPLICA_CLIENT_PORT,
  REPLICA_PEER_PORT,
  type StartedCluster,
  startCluster,
  Testbed,
} from "../../controller/index.js";

const NAME = "mbft-pe";
const config = defaultConfig({
  name: NAME,
  standby: 0,
  subnets: { nic1: "10.82.1.0/24", nic2: "10.82.2.0/24", nic3: "10.82.3.0/24" },
});
const CLIENT_COUNT = 3;
const VIEW_CHANGE_TIMEOUT_MS = 1000;
/** Every request of a phase must complete within this (a view change takes a few timeouts). */
const LIVENESS_BOUND_MS = 15_000;
const docker = new Docker();
let testbed: Testbed;
let cluster: StartedCluster | undefined;
let clients: ClientHost[] = [];
/** The clients' side of the history: submitted and completed events, in each client's order. */
const clientEvents: HistoryEvent[] = [];
let healedAtMs: number | null = null;

beforeAll(async () => {
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`Docker is not reachable (${(error as Error).message}); run \`npm run setup\` first`);
  }
  testbed = await Testbed.open({ config });
  const up = await testbed.up();
  console.log(`testbed up in ${up.elapsedMs} ms`);
  const startMs = performance.now();
  cluster = await startCluster(testbed, {
    app: { app: "echo" },
    core: { viewChangeTimeoutMs: VIEW_CHANGE_TIMEOUT_MS },
  });
  console.log(`cluster started in ${Math.round(performance.now() - startMs)} ms`);
  const started = cluster;
  clients = await Promise.all(
    Array.from({ length: CLIENT_COUNT }, (_, index) =>
      startClientHost({
        clientId: index + 1,
        f: started.f,
        keys: started.clientKeys(index + 1),
        replicas: started.replicas,
        client: { retransmitTimeoutMs: 300, retransmitTimeoutMsMax: 2000 },
      }),
    ),
  );
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  if (testbed === undefined) return;
  const report = await testbed.down();
  console.log(`testbed down in ${report.elapsedMs} ms`);
}, 120_000);

type Reach = "connected" | "refused" | "timeout";

/** One TCP connect from the host: refused means nothing listens on that address and port. */
function reach(host: string, port: number, timeoutMs = 1500): Promise<Reach> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (result: Reach) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done("timeout"));
    socket.once("connect", () => done("connected"));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done(error.code === "ECONNREFUSED" ? "refused" : "timeout"),
    );
    socket.connect({ host, port });
  });
}

interface PhaseStats {
  readonly completed: number;
  readonly latencyMsMax: number;
}

/** Each client runs `perClient` echo requests back to back; every reply must echo its request. */
async function drive(phase: string, perClient: number): Promise<PhaseStats> {
  const startMs = performance.now();
  const latencies: number[] = [];
  await Promise.all(
    clients.map(async (client, index) => {
      const clientId = index + 1;
      for (let request = 0; request < perClient; request += 1) {
        const operation = new TextEncoder().encode(`${phase} client ${clientId} request ${request}`);
        const submittedAtMs = Date.now();
        const invocation = await client.invoke(operation);
        const completedAtMs = Date.now();
        expect(hexOf(invocation.result)).toBe(hexOf(operation));
        latencies.push(invocation.latencyMs);
        const common = { clientId, timestamp: invocation.timestamp, operation: hexOf(operation) };
        clientEvents.push({ kind: "submitted", atMs: submittedAtMs, ...common });
        clientEvents.push({
          kind: "completed",
          atMs: completedAtMs,
          ...common,
          result: hexOf(invocation.result),
          latencyMs: invocation.latencyMs,
        });
      }
    }),
  );
  const latencyMsMax = Math.max(...latencies);
  console.log(
    `${phase}: ${latencies.length} requests in ${Math.round(performance.now() - startMs)} ms, ` +
      `latency max ${Math.round(latencyMsMax)} ms`,
  );
  return { completed: latencies.length, latencyMsMax };
}

function started(): StartedCluster {
  expect(cluster).toBeDefined();
  return cluster as StartedCluster;
}

describe("placement", () => {
  it("the host reaches the internal NIC1 and NIC2 bridges through their gateway addresses", () => {
    const hostAddresses = Object.values(networkInterfaces())
      .flat()
      .map((entry) => entry?.address);
    expect(hostAddresses).toContain(gatewayAddress(config.subnets.nic1));
    expect(hostAddresses).toContain(gatewayAddress(config.subnets.nic2));
  });

  it("binds each replica's client port on NIC1 only and its agreement port on NIC2 only", async () => {
    for (const replica of started().replicas) {
      const plan = testbed.plan(replica.node);
      expect(replica.client).toEqual({ host: plan.addresses.nic1, port: REPLICA_CLIENT_PORT });
      expect(replica.peer).toEqual({ host: plan.addresses.nic2, port: REPLICA_PEER_PORT });
      expect(await reach(plan.addresses.nic1, REPLICA_CLIENT_PORT)).toBe("connected");
      expect(await reach(plan.addresses.nic2, REPLICA_PEER_PORT)).toBe("connected");
      for (const nic of ["nic2", "nic3"] as const)
        expect(await reach(plan.addresses[nic], REPLICA_CLIENT_PORT)).toBe("refused");
      for (const nic of ["nic1", "nic3"] as const)
        expect(await reach(plan.addresses[nic], REPLICA_PEER_PORT)).toBe("refused");
    }
  });
});

describe("echo through the cluster", () => {
  it("completes 300 requests from 3 concurrent clients, each reply echoing its request", async () => {
    const stats = await drive("normal", 100);
    expect(stats.completed).toBe(300);
  });

  it("keeps completing requests with one backup cut off from agreement (n3's NIC2 shut)", async () => {
    await testbed.switch.shutdown("n3/nic2");
    try {
      const stats = await drive("backup-cut", 40);
      expect(stats.completed).toBe(120);
    } finally {
      await testbed.switch.noShutdown("n3/nic2");
    }
  });

  it("changes view when the primary's NIC1 and NIC2 are shut, then completes requests", async () => {
    await testbed.switch.shutdown("n0/nic1");
    await testbed.switch.shutdown("n0/nic2");
    try {
      // Clients on the host can no longer reach the primary's client port.
      expect(await reach(testbed.plan("n0").addresses.nic1, REPLICA_CLIENT_PORT, 1000)).toBe("timeout");
      const stats = await drive("primary-cut", 40);
      expect(stats.completed).toBe(120);
      // The first request of each client waited for the view change.
      expect(stats.latencyMsMax).toBeGreaterThan(VIEW_CHANGE_TIMEOUT_MS);
    } finally {
      await testbed.switch.noShutdown("n0/nic1");
      await testbed.switch.noShutdown("n0/nic2");
      healedAtMs = Date.now();
    }
  });

  it("completes requests after the ports come back", async () => {
    const stats = await drive("healed", 30);
    expect(stats.completed).toBe(90);
  });
});

describe("histories", () => {
  it("every replica's history and the clients' records pass the checker", async () => {
    const running = started();
    await running.stop();
    const endMs = Date.now();
    const replicaEvents = await Promise.all(running.replicas.map((replica) => running.history(replica.id)));
    const history: History = {
      format: HISTORY_FORMAT,
      f: running.f,
      replicaCount: running.replicas.length,
      app: { app: "echo" },
      byzantineReplicas: [],
      healedAtMs,
      livenessBoundMs: LIVENESS_BOUND_MS,
      endMs,
      events: [...replicaEvents.flat(), ...clientEvents].sort((a, b) => a.atMs - b.atMs),
    };
    const report = checkHistory(history);
    console.log(formatCheckReport(report));
    expect(report.ok, formatCheckReport(report)).toBe(true);
    expect(report.stats.completionsChecked).toBe(630);
    for (const [replicaId, events] of replicaEvents.entries()) {
      const executed = events.filter((event) => event.kind === "executed").length;
      const views = events.flatMap((event) => (event.kind === "viewEntered" ? [event.view] : []));
      console.log(`replica ${replicaId}: ${executed} batches executed, views entered ${views.join(",")}`);
      expect(events[0]?.kind).toBe("replicaStarted");
      // Replicas 1..3 formed view 1 (primary 1) while n0 was cut off.
      if (replicaId !== 0) expect(views).toContain(1);
    }
  });
});
