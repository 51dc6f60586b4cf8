/**
 * Proves a client gateway works end to end over TCP: many client cores in one process share ONE
 * connection per replica, and every client gets its own replies. How: four in-process replica hosts
 * (f = 1, echo app) on loopback and a pool of five clients invoke concurrently for several rounds;
 * every result echoes its own operation, the pool's transport opened exactly one connection per
 * replica (the replicas accepted one connection each from it), and no reply was misrouted (none
 * named a client outside the pool). A backup learns a client's route from the client's first
 * frame to it, the first request's retransmission to all replicas (clients send to the primary
 * first), so after the first round no reply lacks a route. A one-client host still works next to
 * the pool, on its own connections.
 */
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  clusterSecretFrom,
  dealHostKeys,
  type ReplicaEndpoint,
  type ReplicaHost,
  startClientHost,
  startClientPool,
  startReplicaHost,
} from "../../bft/host/index.js";
import { defaultReplicaConfig } from "../../bft/replica/index.js";

const F = 1;
const N = 3 * F + 1;
const clusterSecret = clusterSecretFrom("host-client-pool");
const keysOf = (clientId: number) => dealHostKeys(clusterSecret, { kind: "client", id: clientId }, F);
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function startCluster(): Promise<{ endpoints: ReplicaEndpoint[]; hosts: ReplicaHost[] }> {
  const endpoints: ReplicaEndpoint[] = [];
  for (let id = 0; id < N; id++) {
    endpoints.push({
      id,
      peer: { host: "127.0.0.1", port: await freePort() },
      client: { host: "127.0.0.1", port: await freePort() },
    });
  }
  const hosts = await Promise.all(
    endpoints.map((endpoint) =>
      startReplicaHost({
        replica: defaultReplicaConfig(F, endpoint.id),
        keys: dealHostKeys(clusterSecret, { kind: "replica", id: endpoint.id }, F),
        app: { app: "echo" },
        replicas: endpoints,
      }),
    ),
  );
  closers.push(async () => void (await Promise.all(hosts.map((host) => host.close()))));
  return { endpoints, hosts };
}

describe("client pool (gateway) over TCP", () => {
  it("serves many clients over one connection per replica, each getting its own replies", async () => {
    const { endpoints, hosts } = await startCluster();
    const pool = await startClientPool({
      clientIds: [11, 12, 13, 14, 15],
      f: F,
      keysOf,
      replicas: endpoints,
    });
    closers.push(() => pool.close());
    const noRoute = () => hosts.map((host) => host.clientTransport.counters.framesDroppedNoRoute);
    let afterFirstRound: number[] = [];
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        pool.clients.map((session, index) => {
          const operation = new TextEncoder().encode(`client ${index} round ${round}`);
          return session.invoke(operation).then((invocation) => ({ operation, invocation }));
        }),
      );
      for (const { operation, invocation } of results)
        expect(Uint8Array.from(invocation.result)).toEqual(operation);
      if (round === 0) afterFirstRound = noRoute();
    }
    expect(noRoute()).toEqual(afterFirstRound);
    // Each round's five requests leave the pool in one write and reach the primary in one read,
    // which it proposes as one batch at the turn's end (proposing at each request sent the first
    // ones alone: at least two batches a round).
    const primary = hosts[0]!;
    expect(primary.core.metrics.batchesProposed).toBeLessThan(2 * 5);
    // The primary needs two of the three PREPAREs per batch: the third skips its MAC check.
    expect(primary.wire.dropped.unneeded).toBeGreaterThanOrEqual(primary.core.metrics.batchesProposed);
    expect(pool.framesDroppedNoClient).toBe(0);
    expect(pool.transport.counters.reconnects).toBe(0);
    for (const host of hosts) expect(host.clientTransport.counters.connectionsAccepted).toBe(1);

    const single = await startClientHost({ clientId: 99, f: F, keys: keysOf(99), replicas: endpoints });
    closers.push(() => single.close());
    const operation = new TextEncoder().encode("alone");
    expect(Uint8Array.from((await single.invoke(operation)).result)).toEqual(operation);
    for (const host of hosts) expect(host.clientTransport.counters.connectionsAccepted).toBe(2);
  });

  it("rejects an empty pool and duplicate client ids", async () => {
    const replicas: ReplicaEndpoint[] = [];
    await expect(startClientPool({ clientIds: [], f: F, keysOf, replicas })).rejects.toThrow(
      "a client pool runs 1..",
    );
    await expect(startClientPool({ clientIds: [3, 3], f: F, keysOf, replicas })).rejects.toThrow("distinct");
  });
});
