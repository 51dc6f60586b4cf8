/**
 * Proves liveness fixes found by the whole-system migration simulator (bft/sim, --migrate), each
 * named by the seeds of test/sim/migration-seeds-*.test.ts it came from:
 * - a replica waiting for a NEW-VIEW bounds the wait once 2f+1 replicas asked for its view or a
 *   later one (a NEW-VIEW it cannot verify would otherwise hold it forever).
 * - the CM applies a round whose MIGRATE-NOWs it missed at execution, from retransmissions.
 * How: one replica core of the replica Cluster fed VIEW-CHANGEs (first); the in-memory
 * MigrationCluster with the CM cut off by an envelope filter (second).
 */
import { describe, expect, it } from "vitest";
import type { ViewChange } from "../../bft/messages.js";
import type { Effect } from "../../bft/replica/index.js";
import { MigrationCluster } from "./migration-harness.js";
import { Cluster, makeRequest } from "./replica-harness.js";

describe("waiting for a NEW-VIEW (seed 77 on branch liveB)", () => {
  it("arms the timer once 2f+1 replicas asked for this view or a later one", () => {
    const c = new Cluster({ f: 1 }).start();
    const replica = c.replica(3);
    c.inject({ kind: "client", id: 1 }, 3, makeRequest(1, 1));
    replica.step({ kind: "timer", timer: "viewChange" }, c.nowMs); // our VIEW-CHANGE for view 1
    expect(replica.view).toBe(1);
    expect(replica.viewChanging).toBe(true);
    const viewChange = (replicaId: number, newView: number): ViewChange => ({
      type: "ViewChange",
      newView,
      stableSeq: 0,
      checkpoints: [{ seq: 0, stateDigest: replica.stableStateDigest }],
      prepared: [],
      prePrepared: [],
      batches: [],
      replicaId,
      signature: new Uint8Array(64),
    });
    const armed = (effects: readonly Effect[]) =>
      effects.some((effect) => effect.kind === "setTimer" && effect.timer === "viewChange");
    expect(armed(c.inject({ kind: "replica", id: 2 }, 3, viewChange(2, 1)))).toBe(false);
    // A third replica already asks for view 2 (alone: f+1 are needed to join it). It gave up on
    // view 1 too, so the wait for view 1's NEW-VIEW is bounded now.
    expect(armed(c.inject({ kind: "replica", id: 1 }, 3, viewChange(1, 2)))).toBe(true);
    expect(replica.view).toBe(1);
  });
});

describe("the CM learns a round whose MIGRATE-NOWs it missed at execution (seed 163 on branch liveB)", () => {
  it("from the replicas' retransmissions, and then enables the target's NIC1", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.start();
    cluster.registerStandbys();
    // The CM is cut off while the first round executes (a partition around the replicas).
    let cmReachable = false;
    cluster.filter = (envelope) => cmReachable || envelope.to.kind !== "cm";
    let timestamp = 1;
    while (cluster.nowMs < 6000 && cluster.effectsOf("migrationExecuted").length === 0) {
      cluster.request(makeRequest(1, timestamp++));
      cluster.advance(50);
    }
    expect(cluster.effectsOf("migrationExecuted").length).toBeGreaterThan(0);
    const applied = () => cluster.cmEffects.filter((effect) => effect.kind === "migrationApplied");
    expect(applied()).toHaveLength(0);
    cmReachable = true;
    cluster.advance(300); // a few status intervals (100 ms), before the next round's timer
    expect(applied()).toHaveLength(1);
    const target = cluster.host(3).nodeId;
    expect(cluster.cm.nodes.get(target)?.role).toBe("active");
    expect(cluster.cm.nodes.get(target)?.nic1Enabled).toBe(true);
  });
});
