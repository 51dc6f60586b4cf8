/**
 * Proves the simulated network's fault semantics: drops, duplicates, latency bounds, reordering,
 * partitions (islands cut both ways, also severing frames in flight, healing on removal) and
 * crashed receivers. How: a SimNetwork driven by a tiny local scheduler, counting what arrives.
 */
import { describe, expect, it } from "vitest";
import type { Principal } from "../../bft/messages.js";
import { type Delivery, LINK_FAULTS_NONE, type LinkFaults, Prng, SimNetwork } from "../../bft/sim/index.js";

const r0: Principal = { kind: "replica", id: 0 };
const r1: Principal = { kind: "replica", id: 1 };
const r2: Principal = { kind: "replica", id: 2 };
const c0: Principal = { kind: "client", id: 0 };

interface Harness {
  readonly network: SimNetwork;
  readonly pending: { atMs: number; delivery: Delivery }[];
  readonly received: Map<string, Uint8Array[]>;
  /** Delivers everything scheduled (in time order) and returns how many frames arrived. */
  flush(): number;
}

function harness(faults: Partial<LinkFaults> = {}, seed = 1): Harness {
  const pending: { atMs: number; delivery: Delivery }[] = [];
  const received = new Map<string, Uint8Array[]>();
  let nowMs = 0;
  const network = new SimNetwork({
    prng: new Prng(seed),
    faults: { ...LINK_FAULTS_NONE, ...faults },
    schedule: (atMs, delivery) => pending.push({ atMs, delivery }),
    nowMs: () => nowMs,
  });
  for (const principal of [r0, r1, r2, c0]) {
    const key = `${principal.kind}:${principal.id}`;
    received.set(key, []);
    network.attach(principal).onFrame((frame) => received.get(key)?.push(frame));
  }
  const flush = (): number => {
    const before = network.stats.delivered;
    pending.sort((a, b) => a.atMs - b.atMs);
    for (const { atMs, delivery } of pending.splice(0)) {
      nowMs = atMs;
      network.deliver(delivery);
    }
    return network.stats.delivered - before;
  };
  return { network, pending, received, flush };
}

const frame = Uint8Array.of(1, 2, 3);

describe("SimNetwork delivery", () => {
  it("delivers each frame once on a clean link, within the latency bounds", () => {
    const h = harness({ latencyMsMin: 3, latencyMsMax: 9 });
    for (let index = 0; index < 200; index += 1) h.network.send(r0, r1, frame);
    for (const { atMs } of h.pending) {
      expect(atMs).toBeGreaterThanOrEqual(3);
      expect(atMs).toBeLessThanOrEqual(9);
    }
    expect(h.flush()).toBe(200);
    expect(h.received.get("replica:1")?.length).toBe(200);
    expect(h.received.get("replica:2")?.length).toBe(0);
  });

  it("drops everything at drop rate 1 and about half at 0.5", () => {
    const all = harness({ dropRate: 1 });
    for (let index = 0; index < 100; index += 1) all.network.send(r0, r1, frame);
    expect(all.flush()).toBe(0);
    expect(all.network.stats.dropped.lossy).toBe(100);

    const half = harness({ dropRate: 0.5 });
    for (let index = 0; index < 2000; index += 1) half.network.send(r0, r1, frame);
    const delivered = half.flush();
    expect(delivered).toBeGreaterThan(900);
    expect(delivered).toBeLessThan(1100);
    expect(delivered + half.network.stats.dropped.lossy).toBe(2000);
  });

  it("duplicates every frame at duplicate rate 1", () => {
    const h = harness({ duplicateRate: 1 });
    for (let index = 0; index < 50; index += 1) h.network.send(r0, r1, frame);
    expect(h.flush()).toBe(100);
    expect(h.network.stats.duplicated).toBe(50);
  });

  it("reorders: with extra delays, later frames overtake earlier ones", () => {
    const h = harness({ latencyMsMin: 1, latencyMsMax: 1, reorderRate: 0.5, reorderDelayMsMax: 100 });
    for (let index = 0; index < 100; index += 1) h.network.send(r0, r1, Uint8Array.of(index));
    h.flush();
    const order = (h.received.get("replica:1") ?? []).map((f) => f[0] as number);
    expect(order.length).toBe(100);
    expect(order).not.toEqual([...order].sort((a, b) => a - b));
    expect(h.network.stats.reordered).toBeGreaterThan(20);
  });

  it("is deterministic for a seed", () => {
    const run = (seed: number): number[] => {
      const h = harness({ dropRate: 0.3, duplicateRate: 0.2, latencyMsMin: 0, latencyMsMax: 50 }, seed);
      for (let index = 0; index < 100; index += 1) h.network.send(r0, r1, Uint8Array.of(index));
      h.flush();
      return (h.received.get("replica:1") ?? []).map((f) => f[0] as number);
    };
    expect(run(8)).toEqual(run(8));
    expect(run(8)).not.toEqual(run(9));
  });
});

describe("SimNetwork partitions", () => {
  it("cuts an island off in both directions while members still talk among themselves", () => {
    const h = harness();
    h.network.addIsland([r0, c0]);
    h.network.send(r0, r1, frame); // island -> mainland
    h.network.send(r1, r0, frame); // mainland -> island
    h.network.send(r0, c0, frame); // inside the island
    h.network.send(r1, r2, frame); // inside the mainland
    expect(h.flush()).toBe(2);
    expect(h.received.get("client:0")?.length).toBe(1);
    expect(h.received.get("replica:2")?.length).toBe(1);
    expect(h.network.stats.dropped.partition).toBe(2);
  });

  it("keeps two islands apart from each other", () => {
    const h = harness();
    h.network.addIsland([r0]);
    h.network.addIsland([r1]);
    h.network.send(r0, r1, frame);
    expect(h.flush()).toBe(0);
    expect(h.network.connected(r0, r1)).toBe(false);
  });

  it("severs frames already in flight when a partition starts, and heals on removal", () => {
    const h = harness();
    h.network.send(r0, r1, frame);
    const island = h.network.addIsland([r1]);
    expect(h.flush()).toBe(0);
    expect(h.network.stats.dropped.partition).toBe(1);
    h.network.removeIsland(island);
    h.network.send(r0, r1, frame);
    expect(h.flush()).toBe(1);
  });

  it("removeAllIslands ends every partition", () => {
    const h = harness();
    h.network.addIsland([r0]);
    h.network.addIsland([r1, r2]);
    h.network.removeAllIslands();
    expect(h.network.islandCount).toBe(0);
    expect(h.network.connected(r0, r2)).toBe(true);
  });

  it("refuses to put one principal on two islands at once", () => {
    const h = harness();
    h.network.addIsland([r0]);
    expect(h.network.inIsland(r0)).toBe(true);
    expect(h.network.inIsland(r1)).toBe(false);
    expect(() => h.network.addIsland([r0, r1])).toThrow(/one island at a time/);
  });
});

describe("SimNetwork crashed principals", () => {
  it("loses frames to a down receiver on arrival and sends nothing from a down sender", () => {
    const h = harness();
    h.network.send(r0, r1, frame);
    h.network.setDown(r1, true);
    expect(h.flush()).toBe(0);
    expect(h.network.stats.dropped.receiverDown).toBe(1);
    h.network.send(r1, r0, frame);
    expect(h.network.stats.dropped.senderDown).toBe(1);
    h.network.setDown(r1, false);
    h.network.send(r0, r1, frame);
    expect(h.flush()).toBe(1);
  });

  it("counts frames to unknown principals", () => {
    const h = harness();
    h.network.send(r0, { kind: "replica", id: 9 }, frame);
    expect(h.network.stats.dropped.unknownPrincipal).toBe(1);
  });
});
