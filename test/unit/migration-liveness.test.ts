/**
 * Proves liveness fixes found by the whole-system migration simulator (bft/sim, --migrate), each
 * named by the seeds of test/sim/migration-seeds-*.test.ts it came from:
 * - a replica waiting for a NEW-VIEW bounds the wait once 2f+1 replicas asked for its view or a
 *   later one (a NEW-VIEW it cannot verify would otherwise hold it forever).
 * - the CM applies a round whose MIGRATE-NOWs it missed at execution, from retransmissions.
 * - a replica that passes a round by state transfer (at the round's own checkpoint or a later one)
 *   signs the round's MIGRATE-NOW with the digest C the replicated state records, so the target
 *   gets 2f+1 although the round executed without it and the source retired (seeds 78 and 93).
 * - a migration checkpoint off the checkpoint interval is announced as a CHECKPOINT, and f+1
 *   matching ones let a replica in a view change fetch that state (seed 153), an interval
 *   checkpoint ahead being preferred (seed 74).
 * - replicas relay peers' signed MIGRATE-NOWs to pending targets (a source's one-shot copy lost at
 *   the target, seeds 66 and 79); the target counts each signer once, under its own signature.
 *   With two rounds in flight a peer's copy of each is kept (seed 79 on the merged main).
 * - replicas relay peers' signed MIGRATE-NOWs to the CM too, which counts each as its signer's
 *   vote (seeds 79 and 198: the CM heard one of f+1 and never certified the round), and resend
 *   their last two rounds to the CM, oldest first (seed 79).
 * How: one replica core of the replica Cluster fed VIEW-CHANGEs (first); the in-memory
 * MigrationCluster with the CM or a replica cut off by an envelope filter (the others).
 */
import { describe, expect, it } from "vitest";
import type { MembershipCertificate, Message, MigrateNow, ViewChange } from "../../bft/messages.js";
import { membershipCertificateSignedBytes, migrateNowSignedBytes } from "../../bft/migration/index.js";
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
    cluster.loadWhile(() => cluster.effectsOf("migrationExecuted").length === 0);
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

describe("a signer's MIGRATE-NOW lost on its way to the CM (migration CI seed 198)", () => {
  it("reaches the CM relayed by a peer, which counts it as the signer's vote", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.startRegistered();
    // r2 is cut off, and neither r0 nor the source r3 ever reaches the CM (their copies went
    // into a partition, and r0 then lost its memory): the CM hears r1 alone, one of f+1.
    const lagging = 2;
    cluster.filter = (envelope) =>
      !(envelope.from.kind === "replica" && envelope.from.id === lagging) &&
      !(envelope.to.kind === "replica" && envelope.to.id === lagging) &&
      !(envelope.to.kind === "cm" && envelope.from.kind === "replica" && envelope.from.id !== 1);
    cluster.loadWhile(() => cluster.effectsOf("retire").length === 0);
    expect(cluster.effectsOf("retire").map((entry) => entry.actor)).toEqual(["r3@3"]);
    cluster.advance(300); // a few status intervals of retransmissions
    const applied = cluster.cmEffects.filter((effect) => effect.kind === "migrationApplied");
    expect(applied).toHaveLength(1);
    expect(cluster.migrateNowAuthorsSentToCm("r1@1")).toContain(0);
  });
});

describe("the CM missed every copy but one correct replica's (migration CI seed 79)", () => {
  it("counts the peers' signed copies that replica relays, each for its author, and applies the round", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.start();
    cluster.registerStandbys();
    // Only r1 reaches the CM (the others' copies went into a partition, then they restarted
    // without memory or retired): r1's own copy is one where f+1 are needed.
    cluster.filter = (envelope) =>
      envelope.to.kind !== "cm" || (envelope.from.kind === "replica" && envelope.from.id === 1);
    cluster.loadWhile(() => cluster.effectsOf("migrationExecuted").length === 0);
    expect(cluster.effectsOf("migrationExecuted").length).toBeGreaterThan(0);
    cluster.advance(300); // a few status intervals (100 ms) of retransmissions
    const applied = cluster.cmEffects.filter((effect) => effect.kind === "migrationApplied");
    expect(applied).toHaveLength(1);
    expect(new Set(cluster.migrateNowAuthorsSentToCm("r1@1")).size).toBeGreaterThan(1);
  });

  it("gets both rounds that executed while it was cut off, the earlier one first", () => {
    // The CM applies rounds in seq order and cannot tell it skipped one: resending only the
    // latest round let it apply that alone, and its membership kept the earlier round's source
    // (seed 79: its certificate then named a retired node, and the target of the later round
    // could not check the earlier round's target's MIGRATE-NOW).
    const cluster = new MigrationCluster({ f: 1 });
    cluster.startRegistered();
    let cut = true;
    cluster.filter = (envelope) =>
      !cut ||
      (envelope.to.kind !== "cm" && !(envelope.to.kind === "node" && envelope.message.type === "MigrateNow"));
    const rounds = () => cluster.executedRoundSeqs();
    cluster.loadWhile(() => rounds().length < 2, 10_000);
    expect(rounds()).toHaveLength(2);
    cut = false;
    cluster.advance(300); // a few status intervals (100 ms) of retransmissions
    const applied = cluster.cmEffects
      .filter((effect) => effect.kind === "migrationApplied")
      .map((effect) => (effect as { seq: number }).seq);
    expect(applied).toEqual(rounds());
    expect(cluster.cmMembers().map((member) => member.nodeId)).toEqual(
      [0, 1, 2, 3].map((replicaId) => cluster.replica(0).migrationState!.members[replicaId]!.nodeId),
    );
  });

  it("a replica keeps no peer copy signed by a node that names itself the source in the copy", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.startRegistered();
    // A standby (any enrolled node) signs a copy as replica 2, naming itself id 2's source.
    const standby = cluster.standbyIds[0]!;
    const fields = {
      view: 0,
      seq: 1_000_000,
      checkpointDigest: new Uint8Array(32).fill(5),
      pairs: [{ replicaId: 2, sourceNodeId: standby, targetNodeId: cluster.standbyIds[1]! }],
      replicaId: 2,
    };
    const forged: MigrateNow = {
      type: "MigrateNow",
      ...fields,
      signature: cluster.coprocessors.get(standby)!.sign(migrateNowSignedBytes(fields)),
    };
    const before = cluster.replica(0).metrics.dropped.badSignature;
    cluster.queue.push({ from: { kind: "replica", id: 2 }, to: { kind: "replica", id: 0 }, message: forged });
    cluster.deliverAll();
    expect(cluster.replica(0).metrics.dropped.badSignature).toBe(before + 1);
  });

  it("does not count a relayed copy whose signature is not its author's node's", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.start();
    cluster.registerStandbys();
    const fields = {
      view: 0,
      seq: 10,
      checkpointDigest: new Uint8Array(32).fill(1),
      pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: 100 }],
    };
    const copy = (replicaId: number, signer: number): MigrateNow => ({
      type: "MigrateNow",
      ...fields,
      replicaId,
      signature: cluster.coprocessors.get(signer)!.sign(migrateNowSignedBytes({ ...fields, replicaId })),
    });
    const relay = (message: MigrateNow) =>
      cluster.queue.push({ from: { kind: "replica", id: 1 }, to: { kind: "cm", id: 0 }, message });
    relay(copy(1, 1));
    relay(copy(2, 1)); // names r2, signed by r1's node: r1 alone, however it is relayed
    cluster.deliverAll();
    expect(cluster.cmEffects.filter((effect) => effect.kind === "migrationApplied")).toHaveLength(0);
    relay(copy(2, 2));
    cluster.deliverAll();
    expect(cluster.cmEffects.filter((effect) => effect.kind === "migrationApplied")).toHaveLength(1);
  });
});

describe("a replica that passes a round by state transfer (migration CI seeds 78 and 93)", () => {
  it("vouches for it with MIGRATE-NOW, so the target still reaches 2f+1 after its source retired", () => {
    // Checkpoint at every seq: the round's seq becomes stable at once (r0, r1 and the source r3
    // vouch for it), so a replica that missed it can only catch up by state transfer.
    const cluster = new MigrationCluster({ f: 1, config: { checkpointIntervalSeqs: 1, logWindowSeqs: 4 } });
    cluster.startRegistered();
    // While the round executes, r2 is cut off and the targets hear nothing: the source's one-shot
    // MIGRATE-NOW is lost, and the source retires.
    let partitioned = true;
    const lagging = 2;
    cluster.filter = (envelope) =>
      !partitioned ||
      !(
        (envelope.from.kind === "replica" && envelope.from.id === lagging) ||
        (envelope.to.kind === "replica" && envelope.to.id === lagging) ||
        envelope.to.kind === "node"
      );
    cluster.loadWhile(() => cluster.effectsOf("retire").length === 0);
    expect(cluster.effectsOf("retire").map((entry) => entry.actor)).toEqual(["r3@3"]);
    const round = cluster.effectsOf("migrationExecuted")[0]!.effect as { seq: number };
    const replica = cluster.replica(lagging);
    expect(replica.lastExecutedSeq).toBeLessThan(round.seq);
    partitioned = false;
    cluster.advance(400); // before the next round's timer (500 ms)
    expect(replica.metrics.stateTransfersCompleted).toBeGreaterThan(0);
    const executedByLagging = cluster
      .effectsOf("migrationExecuted")
      .filter((entry) => entry.actor === `r${lagging}@${lagging}`)
      .map((entry) => (entry.effect as { seq: number }).seq);
    expect(executedByLagging).not.toContain(round.seq);
    // r0, r1 and r2: 2f+1 MIGRATE-NOWs on the round's digest; the target takes over id 3.
    expect(cluster.effectsOf("promoted")).toHaveLength(1);
    expect(cluster.host(3).nodeId).not.toBe(3);
    expect(cluster.replica(3).lastExecutedSeq).toBeGreaterThanOrEqual(round.seq);
    expect(replica.metrics.skippedRoundsVouched).toBe(1);
  });
});

describe("the round's checkpoint digest in the replicated state", () => {
  it("lets a replica that installs a later checkpoint sign the round's MIGRATE-NOW with the right C", () => {
    // No timer rounds: one on-demand round of id 3, which executes and completes without r2.
    const cluster = new MigrationCluster({
      f: 1,
      proactive: false,
      config: { checkpointIntervalSeqs: 1, logWindowSeqs: 4 },
    });
    cluster.startRegistered();
    const lagging = 2;
    let partitioned = true;
    cluster.filter = (envelope) =>
      !partitioned ||
      !(
        (envelope.from.kind === "replica" && envelope.from.id === lagging) ||
        (envelope.to.kind === "replica" && envelope.to.id === lagging)
      );
    const replica = cluster.replica(lagging);
    cluster.onDemand([3]);
    cluster.loadWhile(() => cluster.effectsOf("promoted").length === 0);
    expect(cluster.effectsOf("promoted")).toHaveLength(1);
    const round = cluster.effectsOf("migrationExecuted")[0]!.effect as {
      seq: number;
      stateDigest: Uint8Array;
    };
    // The others move on past the round, beyond r2's window: r2 must fetch a later checkpoint.
    cluster.loadWhile(() => cluster.replica(0).lastExecutedSeq <= round.seq + 4, 12_000);
    expect(cluster.replica(0).lastExecutedSeq).toBeGreaterThan(round.seq + 4);
    expect(cluster.effectsOf("migrationExecuted")).toHaveLength(3); // r0, r1 and the source
    partitioned = false;
    cluster.advance(300);
    const installed = cluster
      .effectsOf("stateInstalled")
      .filter((entry) => entry.actor === `r${lagging}@${lagging}`)
      .map((entry) => (entry.effect as { seq: number }).seq);
    expect(installed.length).toBeGreaterThan(0);
    expect(Math.min(...installed)).toBeGreaterThan(round.seq);
    expect(replica.metrics.skippedRoundsVouched).toBe(1);
    const vouched = cluster
      .effectsOf("send")
      .filter((entry) => entry.actor === `r${lagging}@${lagging}`)
      .map((entry) => (entry.effect as { message: Message }).message)
      .filter((message): message is MigrateNow => message.type === "MigrateNow");
    expect(vouched.length).toBeGreaterThan(0);
    expect(vouched[0]!.seq).toBe(round.seq);
    expect(Buffer.from(vouched[0]!.checkpointDigest)).toEqual(Buffer.from(round.stateDigest));
  });
});

/** f+1 VIEW-CHANGEs for view 1 from r0 and r1 make `replicaId` join the view change. */
function enterViewChange(cluster: MigrationCluster, replicaId: number): void {
  const replica = cluster.replica(replicaId);
  for (const from of [0, 1]) {
    const viewChange: ViewChange = {
      type: "ViewChange",
      newView: 1,
      stableSeq: replica.stableSeq,
      checkpoints: [{ seq: replica.stableSeq, stateDigest: replica.stableStateDigest }],
      prepared: [],
      prePrepared: [],
      batches: [],
      replicaId: from,
      signature: new Uint8Array(64),
    };
    cluster.queue.push({
      from: { kind: "replica", id: from },
      to: { kind: "replica", id: replicaId },
      message: viewChange,
    });
  }
  cluster.deliverAll();
}

describe("a migration checkpoint off the checkpoint interval (migration CI seed 153)", () => {
  it("is announced as a CHECKPOINT by every replica that executes the round", () => {
    const cluster = new MigrationCluster({
      f: 1,
      config: { checkpointIntervalSeqs: 64, logWindowSeqs: 128 },
    });
    cluster.start();
    cluster.registerStandbys();
    cluster.loadWhile(() => cluster.effectsOf("migrationExecuted").length < 4);
    const executed = cluster.effectsOf("migrationExecuted");
    expect(executed).toHaveLength(4);
    const round = executed[0]!.effect as { seq: number; stateDigest: Uint8Array };
    expect(round.seq % 64).not.toBe(0);
    for (const { actor } of executed) {
      const announced = cluster
        .effectsOf("broadcast")
        .filter((entry) => entry.actor === actor)
        .map((entry) => (entry.effect as { message: Message }).message)
        .filter((message) => message.type === "Checkpoint" && message.seq === round.seq);
      expect(announced, actor).toHaveLength(1);
      expect(Buffer.from((announced[0] as { stateDigest: Uint8Array }).stateDigest)).toEqual(
        Buffer.from(round.stateDigest),
      );
    }
  });

  it("lets a replica in a view change fetch the round's state on f+1 matching ones", () => {
    const cluster = new MigrationCluster({ f: 1, proactive: false });
    cluster.startRegistered();
    const replica = cluster.replica(2);
    const seq = replica.lastExecutedSeq + 3; // off the interval of 4 in the harness
    expect(seq % 4).not.toBe(0);
    const stateDigest = new Uint8Array(32).fill(7);
    // Only the lagging replica hears anything from here on: nobody answers its fetch. It is in a
    // view change (no normal-case traffic reaches it, so it cannot execute the round's seq).
    cluster.filter = (envelope) => envelope.to.kind === "replica" && envelope.to.id === 2;
    enterViewChange(cluster, 2);
    expect(replica.viewChanging).toBe(true);
    for (const replicaId of [0, 1])
      cluster.queue.push({
        from: { kind: "replica", id: replicaId },
        to: { kind: "replica", id: 2 },
        message: { type: "Checkpoint", seq, stateDigest, replicaId },
      });
    cluster.advance(250); // two status intervals with no execution: stalled
    const fetches = cluster
      .effectsOf("send")
      .filter((entry) => entry.actor === "r2@2")
      .map((entry) => (entry.effect as { message: Message }).message)
      .filter((message) => message.type === "FetchState");
    expect(fetches.length).toBeGreaterThan(0);
    expect(fetches[0]).toMatchObject({ seq, stateDigest });
    expect(replica.metrics.dropped.badCheckpointSeq).toBe(0);
  });

  it("is fetched only when no interval checkpoint is certified ahead (seed 74)", () => {
    const cluster = new MigrationCluster({ f: 1, proactive: false });
    cluster.startRegistered();
    const replica = cluster.replica(2);
    const interval = (Math.floor(replica.lastExecutedSeq / 4) + 1) * 4;
    const round = interval + 1; // a later migration checkpoint whose holders may all be gone
    cluster.filter = (envelope) => envelope.to.kind === "replica" && envelope.to.id === 2;
    enterViewChange(cluster, 2);
    expect(replica.viewChanging).toBe(true);
    for (const [seq, fill] of [
      [interval, 5],
      [round, 6],
    ] as const)
      for (const replicaId of [0, 1])
        cluster.queue.push({
          from: { kind: "replica", id: replicaId },
          to: { kind: "replica", id: 2 },
          message: { type: "Checkpoint", seq, stateDigest: new Uint8Array(32).fill(fill), replicaId },
        });
    cluster.advance(250);
    const fetches = cluster
      .effectsOf("send")
      .filter((entry) => entry.actor === "r2@2")
      .map((entry) => (entry.effect as { message: Message }).message)
      .filter((message) => message.type === "FetchState");
    expect(fetches.length).toBeGreaterThan(0);
    expect(fetches.every((message) => message.seq === interval)).toBe(true);
  });
});

describe("a source's one-shot MIGRATE-NOW lost at the target (migration CI seeds 66, 79)", () => {
  it("reaches it relayed by a peer, which counts under the source's own signature", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.startRegistered();
    // r2 is cut off for good, and no MIGRATE-NOW reaches a target while the round executes: the
    // source's copy is lost, and only r0 and r1 are left to sign (2 of 3).
    let targetsDeaf = true;
    cluster.filter = (envelope) =>
      !(envelope.from.kind === "replica" && envelope.from.id === 2) &&
      !(envelope.to.kind === "replica" && envelope.to.id === 2) &&
      !(targetsDeaf && envelope.to.kind === "node" && envelope.message.type === "MigrateNow");
    cluster.loadWhile(() => cluster.effectsOf("retire").length === 0);
    expect(cluster.effectsOf("retire").map((entry) => entry.actor)).toEqual(["r3@3"]);
    expect(cluster.effectsOf("promoted")).toHaveLength(0);
    targetsDeaf = false;
    cluster.advance(300);
    expect(cluster.effectsOf("promoted")).toHaveLength(1);
    const relayed = cluster
      .effectsOf("send")
      .filter((entry) => entry.actor === "r0@0" || entry.actor === "r1@1")
      .map((entry) => entry.effect as { to: { kind: string }; message: Message })
      .filter((effect) => effect.to.kind === "node" && effect.message.type === "MigrateNow")
      .map((effect) => (effect.message as MigrateNow).replicaId);
    expect(relayed).toContain(3);
    expect(cluster.host(3).nodeId).not.toBe(3);
  });
});

describe("two rounds in flight (migration CI seed 79)", () => {
  it("a peer's copy of the earlier round is still relayed after its copy of the later one arrives", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.startRegistered();
    // No MIGRATE-NOW reaches a target: both rounds stay in flight at every replica.
    cluster.filter = (envelope) => !(envelope.to.kind === "node" && envelope.message.type === "MigrateNow");
    const rounds = () => cluster.executedRoundSeqs();
    cluster.loadWhile(() => rounds().length < 2, 10_000);
    expect(rounds()).toHaveLength(2);
    const [first, second] = rounds() as [number, number];
    const executed = cluster
      .effectsOf("migrationExecuted")
      .map((entry) => entry.effect)
      .filter((effect) => effect.kind === "migrationExecuted");
    const firstTarget = executed.find((effect) => effect.seq === first)!.pairs[0]!.targetNodeId;
    // The second round's source signed the first round and then its second-round copy reached
    // the peers: its first-round signature must still travel to the first round's target.
    const secondSource = executed.find((effect) => effect.seq === second)!.pairs[0]!.replicaId;
    const sentBefore = cluster.effectsOf("send").length;
    cluster.advance(500); // a few status intervals of retransmissions
    const relayedSigners = cluster
      .effectsOf("send")
      .slice(sentBefore)
      .map((entry) => entry.effect as { to: { kind: string; id: number }; message: Message })
      .filter(
        (effect) =>
          effect.to.kind === "node" &&
          effect.to.id === firstTarget &&
          effect.message.type === "MigrateNow" &&
          effect.message.seq === first,
      )
      .map((effect) => (effect.message as MigrateNow).replicaId);
    expect(relayedSigners).toContain(secondSource);
  });
});

describe("a target counting relayed MIGRATE-NOWs", () => {
  it("counts each signer once, whoever relays it, and refuses a copy not signed by its replicaId's node", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.start();
    cluster.registerStandbys();
    const target = 100;
    const standby = cluster.standbys.get(target)!;
    const signed = (replicaId: number, signer = replicaId): MigrateNow => {
      const fields = {
        view: 0,
        seq: 10,
        checkpointDigest: new Uint8Array(32).fill(1),
        pairs: [{ replicaId: 3, sourceNodeId: 3, targetNodeId: target }],
        replicaId,
      };
      const signature = cluster.coprocessors.get(signer)!.sign(migrateNowSignedBytes(fields));
      return { type: "MigrateNow", ...fields, signature };
    };
    const deliver = (relay: number, message: MigrateNow) =>
      standby.step({ kind: "message", from: { kind: "replica", id: relay }, message }, cluster.nowMs);
    // r0's copy relayed by everyone is still one signer.
    for (const relay of [0, 1, 2, 3]) deliver(relay, signed(0));
    deliver(1, signed(2, 0)); // names r2, signed by r0's node
    expect(standby.metrics.migrateNowDropped).toBe(1);
    expect(standby.fetching).toBeNull();
    deliver(0, signed(3)); // the source's copy, relayed by r0
    expect(standby.fetching).toBeNull();
    deliver(2, signed(1)); // a third signer, relayed: 2f+1 distinct replicas
    expect(standby.fetching).not.toBeNull();
  });
});

describe("a replica behind a round that the CM certified (migration CI seed 181's family)", () => {
  it("fetches the round's state on the CM's certificate although one holder alone claims it, and vouches", () => {
    const cluster = new MigrationCluster({ f: 1 });
    cluster.startRegistered();
    const lagging = 2;
    const holder = 1;
    let roundRunning = true;
    const isLagging = (principal: { readonly kind: string; readonly id: number }) =>
      principal.kind === "replica" && principal.id === lagging;
    cluster.filter = (envelope) => {
      if (envelope.to.kind === "node") return false; // no MIGRATE-NOW reaches a target
      if (!isLagging(envelope.from) && !isLagging(envelope.to)) return true;
      if (roundRunning) return false;
      // After the round the lagging replica hears one holder (one claim, f+1 needed), the CM and
      // clients only.
      const other = isLagging(envelope.from) ? envelope.to : envelope.from;
      return other.kind !== "replica" || other.id === holder;
    };
    cluster.loadWhile(() => cluster.effectsOf("retire").length === 0);
    const sent = cluster
      .effectsOf("send")
      .map((entry) => (entry.effect as { message: Message }).message)
      .find((message): message is MigrateNow => message.type === "MigrateNow")!;
    const replica = cluster.replica(lagging);
    expect(replica.lastExecutedSeq).toBeLessThan(sent.seq);
    roundRunning = false;
    const members = cluster
      .cmMembers()
      .map((member) => ({ ...member, address: `10.1.0.${member.nodeId}:7000` }));
    const fields = { seq: sent.seq, checkpointDigest: sent.checkpointDigest, members, cmId: 0 };
    const certificate: MembershipCertificate = {
      type: "MembershipCertificate",
      ...fields,
      signature: cluster.cmCoprocessor.sign(membershipCertificateSignedBytes(fields)),
    };
    cluster.queue.push({
      from: { kind: "cm", id: 0 },
      to: { kind: "replica", id: lagging },
      message: certificate,
    });
    // A request the lagging replica cannot get ordered takes it out of its active view.
    for (let step = 0; step < 60 && replica.metrics.stateTransfersCompleted === 0; step++) {
      cluster.request(makeRequest(2, step + 1));
      cluster.advance(100);
    }
    expect(replica.metrics.stateTransfersCompleted).toBeGreaterThan(0);
    expect(replica.lastExecutedSeq).toBeGreaterThanOrEqual(sent.seq);
    expect(replica.metrics.skippedRoundsVouched).toBe(1);
  });
});
