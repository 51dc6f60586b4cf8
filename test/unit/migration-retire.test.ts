/**
 * Proves a migration source stops at the MIGRATION-REQUEST's sequence number (paper section 3.2:
 * it "stops accepting new request messages"), even when a later sequence number committed at it
 * before the MIGRATION-REQUEST did: it executes nothing past its retirement and emits nothing after
 * its `retire` effect. Found by seeds 25 and 30 of test/sim/migration-seeds-1 with key exchange on
 * (the host asserted on an `executed` effect from a retired replica).
 * After retiring it answers only a peer's STATUS, with retransmissions of its votes and
 * CHECKPOINTs up to the round (a peer that lost them before the network healed could otherwise
 * never execute the round: migration soak seed 61037), in any view the peer is in.
 * How: the in-memory MigrationCluster; the source's COMMITs for the migration's seq (and the
 * targets' MIGRATE-NOWs, so no target takes the id over) are held back until the next seq has
 * committed at the source, then STATUS retransmission delivers them.
 */
import { describe, expect, it } from "vitest";
import { selectSources } from "../../bft/migration/index.js";
import { MigrationCluster } from "./migration-harness.js";
import { makeRequest } from "./replica-harness.js";

describe("a retiring source", () => {
  it("executes nothing past the MIGRATION-REQUEST even if the next seq committed first", () => {
    const cluster = new MigrationCluster({ f: 1, config: { checkpointIntervalSeqs: 16, logWindowSeqs: 32 } });
    cluster.startRegistered();
    const source = selectSources({ f: 1, round: 0 })[0]!;
    const sourceHost = cluster.host(source);
    let migrationSeq: number | null = null;
    let holding = true;
    cluster.filter = (envelope) => {
      const { message, to } = envelope;
      if (message.type === "PrePrepare" && message.special?.kind === "migration") migrationSeq = message.seq;
      if (message.type === "MigrateNow") return false;
      const toSource = to.kind === "replica" && to.id === source;
      return !(holding && toSource && message.type === "Commit" && message.seq === migrationSeq);
    };
    cluster.advance(600); // the migration timer (Tw0 = 500 ms) fires and the round is ordered
    expect(migrationSeq).not.toBeNull();
    const seq = migrationSeq as unknown as number;
    expect(cluster.replica(0).lastExecutedSeq).toBeGreaterThanOrEqual(seq);
    expect(sourceHost.replica.lastExecutedSeq).toBe(seq - 1);
    // A client request ordered at seq + 1 commits at the source, which cannot execute it yet.
    cluster.request(makeRequest(7, 1));
    cluster.advance(50);
    expect(cluster.replica(0).lastExecutedSeq).toBeGreaterThan(seq);
    holding = false;
    cluster.advance(150); // STATUS: the peers resend their COMMITs for seq
    expect(sourceHost.replica.isRetired).toBe(true);
    expect(sourceHost.replica.lastExecutedSeq).toBe(seq);
    const actor = `r${source}@${sourceHost.nodeId}`;
    const own = cluster.effects.filter((entry) => entry.actor === actor).map((entry) => entry.effect.kind);
    expect(own.at(-1)).toBe("retire");
  });
});

describe("a retired source", () => {
  function retiredSource() {
    const cluster = new MigrationCluster({ f: 1 }).startRegistered();
    const source = selectSources({ f: 1, round: 0 })[0]!;
    cluster.filter = (envelope) => envelope.message.type !== "MigrateNow";
    cluster.advance(600);
    const host = cluster.retired.find((retired) => retired.replica.isRetired);
    expect(host).toBeDefined();
    const replica = host!.replica;
    expect(replica.config.replicaId).toBe(source);
    return { replica, source, seq: replica.lastExecutedSeq };
  }

  it("answers a lagging peer's STATUS, in a later view too, with its votes and checkpoints up to its round", () => {
    const { replica, source, seq } = retiredSource();
    const peer = (source + 1) % 4;
    for (const view of [replica.view, replica.view + 1]) {
      const effects = replica.step(
        {
          kind: "message",
          from: { kind: "replica", id: peer },
          message: {
            type: "Status",
            view,
            viewActive: true,
            lastExecutedSeq: seq - 1,
            stableSeq: 0,
            replicaId: peer,
          },
        },
        1000,
      );
      const sent = effects.flatMap((effect) => (effect.kind === "send" ? [effect.message] : []));
      expect(effects.every((effect) => effect.kind === "send")).toBe(true);
      expect(sent.some((message) => message.type === "Commit" && message.seq === seq)).toBe(true);
      expect(sent.some((message) => message.type === "Checkpoint" && message.seq === seq)).toBe(true);
      expect(sent.every((message) => !("seq" in message) || message.seq <= seq)).toBe(true);
    }
  });

  it("ignores everything else: requests, votes, timers", () => {
    const { replica, source, seq } = retiredSource();
    const peer = (source + 1) % 4;
    const from = { kind: "replica", id: peer } as const;
    expect(
      replica.step({ kind: "message", from: { kind: "client", id: 7 }, message: makeRequest(7, 9) }, 1000),
    ).toEqual([]);
    expect(
      replica.step(
        {
          kind: "message",
          from,
          message: { type: "Commit", view: 0, seq: seq + 1, digest: new Uint8Array(32), replicaId: peer },
        },
        1000,
      ),
    ).toEqual([]);
    expect(replica.step({ kind: "timer", timer: "status" }, 1000)).toEqual([]);
    expect(replica.lastExecutedSeq).toBe(seq);
  });
});
