/**
 * Proves liveness fixes found by the whole-system migration simulator (bft/sim, --migrate), each
 * named by the seeds of test/sim/migration-seeds-*.test.ts it came from:
 * - a replica waiting for a NEW-VIEW bounds the wait once 2f+1 replicas asked for its view or a
 *   later one (a NEW-VIEW it cannot verify would otherwise hold it forever).
 * How: one replica core of the replica Cluster fed VIEW-CHANGEs.
 */
import { describe, expect, it } from "vitest";
import type { ViewChange } from "../../bft/messages.js";
import type { Effect } from "../../bft/replica/index.js";
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
