/**
 * Proves a migration source stops at the MIGRATION-REQUEST's sequence number (paper section 3.2:
 * it "stops accepting new request messages"), even when a later sequence number committed at it
 * before the MIGRATION-REQUEST did: it executes nothing past its retirement and emits nothing after
 * its `retire` effect. Found by seeds 25 and 30 of test/sim/migration-seeds-1 with key exchange on
 * (the host asserted on an `executed` effect from a retired replica).
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
