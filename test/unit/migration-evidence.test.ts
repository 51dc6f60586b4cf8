/**
 * Proves the evidence trigger of on-demand migration (paper section 3.4, "solid evidence that one
 * or more replicas are faulty, such as a lying primary"): a NEW-VIEW signed by its primary whose
 * PRE-PREPAREs do not follow from its VIEW-CHANGEs is accepted as proof against the node running
 * the primary; a NEW-VIEW that is actually correct, a forged or transplanted signature, a proof
 * naming another node, an id that already moved and a replayed proof are refused. A replica that
 * receives the lie proves it, forwards the proof, moves past the liar's view at once and, with
 * its peers, migrates the liar through INIT-MIGRATION with trigger onDemand.
 * How: verifyEvidence and Offenders on hand-built VIEW-CHANGEs with real Ed25519 keys from
 * FakeCoprocessors; the flow on the in-memory MigrationCluster, whose `mutate` hook makes replica
 * 1 lie in its NEW-VIEW (re-signed with its node's key) while a filter cuts replica 0 off.
 */
import { describe, expect, it } from "vitest";
import {
  createFakeCoprocessorStore,
  FakeCoprocessor,
  fakeSeed,
  verifySignature,
} from "../../bft/coprocessor/index.js";
import type {
  Evidence,
  InitMigration,
  Message,
  NewView,
  PrePrepare,
  Request,
  ViewChange,
} from "../../bft/messages.js";
import { newViewSignedBytes } from "../../bft/migration/index.js";
import {
  type Effect,
  type EvidenceContext,
  type EvidenceVerdict,
  proposalDigest,
  verifyEvidence,
} from "../../bft/replica/index.js";
import { Offenders } from "../../bft/replica/offenders.js";
import { type Envelope, MigrationCluster } from "./migration-harness.js";
import { ChainApp, makeDeps, makeRequest } from "./replica-harness.js";

const deps = makeDeps(new ChainApp());
const batchDigest = (body: { requests: readonly Request[] }) => proposalDigest(body, deps);
const limits = { replicaCount: 4, checkpointIntervalSeqs: 4, logWindowSeqs: 8 };
const coprocessors = [0, 1, 2, 3, 4].map(
  (nodeId) =>
    new FakeCoprocessor(
      createFakeCoprocessorStore({ seed: fakeSeed(11, nodeId), codeDigest: new Uint8Array(32) }),
    ),
);
const requests = [makeRequest(7, 1), makeRequest(7, 2)];
const preparedDigest = batchDigest({ requests });
const nullDigest = batchDigest({ requests: [] });

/** A VIEW-CHANGE for view 1 that prepared `requests` at seq 1 in view 0. */
function viewChange(replicaId: number): ViewChange {
  const entry = { seq: 1, view: 0, digest: preparedDigest };
  return {
    type: "ViewChange",
    newView: 1,
    stableSeq: 0,
    checkpoints: [{ seq: 0, stateDigest: new Uint8Array(32) }],
    prepared: [entry],
    prePrepared: [entry],
    batches: [{ digest: preparedDigest, requests }],
    replicaId,
    signature: new Uint8Array(64).fill(replicaId),
  };
}

function prePrepare(digest: Uint8Array, body: readonly Request[]): PrePrepare {
  return { type: "PrePrepare", view: 1, seq: 1, digest, requests: body };
}

function signedBy(nodeId: number, body: Omit<NewView, "signature">): NewView {
  const { type: _type, ...fields } = body;
  return { ...body, signature: coprocessors[nodeId]!.sign(newViewSignedBytes(fields)) };
}

const viewChanges = [viewChange(0), viewChange(2), viewChange(3)];
/** What replica 1, the primary of view 1, must send. */
const honest = signedBy(1, {
  type: "NewView",
  view: 1,
  viewChanges,
  prePrepares: [prePrepare(preparedDigest, requests)],
  replicaId: 1,
});
/** The prepared batch at seq 1 replaced by the null batch: the lie. */
const lieBody: Omit<NewView, "signature"> = {
  type: "NewView",
  view: 1,
  viewChanges,
  prePrepares: [prePrepare(nullDigest, [])],
  replicaId: 1,
};
const lie = signedBy(1, lieBody);

function context(nodeOfReplica: readonly number[] = [0, 1, 2, 3]): EvidenceContext {
  return {
    f: 1,
    limits,
    batchDigest,
    nodeOf: (replicaId) => nodeOfReplica[replicaId]!,
    publicKeyOf: (nodeId) => coprocessors[nodeId]?.publicKey(),
    verify: verifySignature,
  };
}

function evidenceOf(newView: NewView, offenderNodeId = 1): Evidence {
  return { type: "Evidence", newView, offenderNodeId, replicaId: 2 };
}

function verdict(evidence: Evidence, nodes?: readonly number[]): string {
  const result: EvidenceVerdict = verifyEvidence(evidence, context(nodes));
  return result.ok ? `proof:${result.fault}` : result.reason;
}

describe("evidence verification (section 3.4)", () => {
  it.each<[string, NewView, string]>([
    ["a dropped prepared batch", lie, "proof:prePrepares"],
    [
      "a changed digest",
      signedBy(1, { ...lieBody, prePrepares: [prePrepare(new Uint8Array(32).fill(9), requests)] }),
      "proof:prePrepares",
    ],
    [
      "an extra PRE-PREPARE past the decision",
      signedBy(1, {
        ...lieBody,
        prePrepares: [prePrepare(preparedDigest, requests), { ...prePrepare(nullDigest, []), seq: 2 }],
      }),
      "proof:prePrepares",
    ],
    [
      "a chosen checkpoint the VIEW-CHANGEs do not support (the batch renumbered)",
      signedBy(1, { ...lieBody, prePrepares: [{ ...prePrepare(preparedDigest, requests), seq: 5 }] }),
      "proof:prePrepares",
    ],
    [
      "only two VIEW-CHANGEs",
      signedBy(1, { ...lieBody, viewChanges: viewChanges.slice(0, 2) }),
      "proof:viewChangeCount",
    ],
    [
      "one replica's VIEW-CHANGE twice",
      signedBy(1, { ...lieBody, viewChanges: [viewChange(0), viewChange(2), viewChange(2)] }),
      "proof:viewChangeSenderRepeated",
    ],
    [
      "a VIEW-CHANGE for another view",
      signedBy(1, {
        ...lieBody,
        viewChanges: [viewChange(0), viewChange(2), { ...viewChange(3), newView: 2 }],
      }),
      "proof:viewChangeView",
    ],
  ])("accepts a signed NEW-VIEW with %s", (_name, newView, expected) => {
    expect(verdict(evidenceOf(newView))).toBe(expected);
  });

  it("refuses a NEW-VIEW that follows from its VIEW-CHANGEs: no correct primary is ever accused", () => {
    expect(verdict(evidenceOf(honest))).toBe("noFault");
    // The VIEW-CHANGEs' own signatures play no part: the same honest content with other filler.
    const refilled = signedBy(1, {
      ...lieBody,
      viewChanges: viewChanges.map((vc) => ({ ...vc, signature: new Uint8Array(64) })),
      prePrepares: honest.prePrepares,
    });
    expect(verdict(evidenceOf(refilled))).toBe("noFault");
  });

  it("refuses forged and transplanted signatures", () => {
    // A Byzantine accuser (node 2) signs a lie in replica 1's name.
    expect(verdict(evidenceOf(signedBy(2, lieBody)))).toBe("badSignature");
    expect(verdict(evidenceOf({ ...lie, signature: new Uint8Array(64).fill(1) }))).toBe("badSignature");
    expect(verdict(evidenceOf({ ...lie, signature: new Uint8Array(0) }))).toBe("badSignature");
    // Parts of valid messages: the honest NEW-VIEW's signature on the lie's PRE-PREPAREs, the lie's
    // signature on other VIEW-CHANGEs, the lie's signature on another view.
    expect(verdict(evidenceOf({ ...lie, signature: honest.signature }))).toBe("badSignature");
    expect(verdict(evidenceOf({ ...lie, viewChanges: viewChanges.slice(0, 2) }))).toBe("badSignature");
    expect(verdict(evidenceOf({ ...lie, view: 5, replicaId: 1 }))).toBe("badSignature");
  });

  it("refuses a proof naming a node that does not run the id, and an id that already moved", () => {
    // The lie is replica 1's, signed by node 1; a proof that names node 2 as the offender is void.
    expect(verdict(evidenceOf(lie, 2))).toBe("offenderMoved");
    // Replica 1 migrated to node 4 since: node 1's lie no longer concerns whoever runs id 1.
    expect(verdict(evidenceOf(lie, 1), [0, 4, 2, 3])).toBe("offenderMoved");
    // Naming the new holder does not help: node 4 signed nothing.
    expect(verdict(evidenceOf(lie, 4), [0, 4, 2, 3])).toBe("badSignature");
  });

  it("refuses a NEW-VIEW from a replica that does not lead its view", () => {
    const byReplica2 = signedBy(2, { ...lieBody, replicaId: 2 });
    expect(verdict(evidenceOf(byReplica2, 2))).toBe("notPrimary");
  });

  it("keeps one proof per offender and refuses replays once the id has moved", () => {
    const offenders = new Offenders(4);
    const evidence = evidenceOf(lie);
    expect(offenders.staleness(evidence)).toBeNull();
    const accepted = verifyEvidence(evidence, context());
    if (!accepted.ok) throw new Error(`expected a proof: ${accepted.reason}`);
    offenders.record(evidence, accepted);
    expect(offenders.liveIds((id) => id, 1)).toEqual([1]);
    // The same evidence twice, or another accuser's copy of it.
    expect(offenders.staleness(evidence)).toBe("duplicate");
    expect(offenders.staleness({ ...evidence, replicaId: 3 })).toBe("duplicate");
    // Id 1 moved from node 1 to node 4 in view 2: the proof is spent, and a replay of it is stale
    // even when node 1 later runs id 1 again (the view does not exceed the move's).
    offenders.migrated([{ replicaId: 1, sourceNodeId: 1, targetNodeId: 4 }], 2);
    expect(offenders.liveIds((id) => (id === 1 ? 4 : id), 1)).toEqual([]);
    expect(offenders.staleness(evidence)).toBe("stale");
    expect(offenders.staleness(evidenceOf({ ...lie, view: 5 }, 4))).toBeNull();
  });
});

/** Replica 1 lies in every NEW-VIEW it sends: the prepared batches become null, re-signed by node 1. */
function lyingPrimary(cluster: MigrationCluster): (envelope: Envelope) => Envelope {
  return (envelope) => {
    const message = envelope.message;
    if (message.type !== "NewView" || message.replicaId !== 1 || cluster.host(1).nodeId !== 1)
      return envelope;
    const { signature: _signature, type: _type, ...fields } = message;
    const prePrepares = fields.prePrepares.map((p) => ({ ...p, digest: nullDigest, requests: [] }));
    const body = { ...fields, prePrepares };
    const lying: NewView = {
      type: "NewView",
      ...body,
      signature: cluster.coprocessors.get(1)!.sign(newViewSignedBytes(body)),
    };
    return { ...envelope, message: lying };
  };
}

/** Cuts replica 0 (the primary of view 0) off, so backups change view to replica 1's view 1. */
function isolateReplicaZero(cluster: MigrationCluster): void {
  const zero = (p: Envelope["to"]) => p.kind === "replica" && p.id === 0;
  cluster.filter = (envelope) => !zero(envelope.from) && !zero(envelope.to);
}

function effectsOf(cluster: MigrationCluster, kind: string, actorPrefix?: string) {
  return cluster
    .effectsOf(kind)
    .filter((entry) => actorPrefix === undefined || entry.actor.startsWith(actorPrefix));
}

describe("a lying new primary is migrated on the evidence (section 3.4)", () => {
  function run(options: { lie: boolean }): MigrationCluster {
    const cluster = new MigrationCluster({ f: 1, proactive: false });
    cluster.startRegistered();
    cluster.request(makeRequest(1, 1));
    cluster.advance(100);
    isolateReplicaZero(cluster);
    if (options.lie) cluster.mutate = lyingPrimary(cluster);
    let timestamp = 2;
    while (cluster.nowMs < 6000) {
      cluster.request(makeRequest(1, timestamp++));
      cluster.advance(200);
    }
    return cluster;
  }

  it("proves the lie, moves past the liar's view, and replaces replica 1 through an on-demand round", () => {
    const cluster = run({ lie: true });
    for (const actor of ["r2@2", "r3@3"]) {
      const accepted = effectsOf(cluster, "evidenceAccepted", actor);
      expect(accepted.length).toBe(1);
      expect(accepted[0]!.effect).toMatchObject({
        offenderId: 1,
        offenderNodeId: 1,
        view: 1,
        fault: "prePrepares",
      });
    }
    // Each backup asked for the round with S = {1} and trigger onDemand, as on a CM request.
    const inits = cluster
      .effectsOf("broadcast")
      .map((entry) => (entry.effect as { message: Message }).message)
      .filter((m): m is InitMigration => m.type === "InitMigration" && m.trigger === "onDemand");
    expect(new Set(inits.map((init) => init.replicaId))).toEqual(new Set([1, 2, 3]));
    for (const init of inits) expect(init.sources).toEqual([1]);
    const executed = effectsOf(cluster, "migrationExecuted", "r2@");
    expect(executed.length).toBe(1);
    expect(executed[0]!.effect).toMatchObject({
      trigger: "onDemand",
      pairs: [{ replicaId: 1, sourceNodeId: 1 }],
    });
    expect(cluster.host(1).nodeId).not.toBe(1);
    // Nobody entered the liar's view; the backups moved to view 2 without waiting for a timeout.
    expect(effectsOf(cluster, "viewEntered", "r2@").map((e) => (e.effect as { view: number }).view)).toEqual([
      2,
    ]);
    // The cluster keeps working with the new replica 1: the running replicas agree.
    cluster.filter = () => true;
    cluster.advance(2000);
    const chains = cluster.chains();
    chains.delete(0);
    expect(new Set(chains.values()).size).toBe(1);
  });

  it("refuses the proof when it comes back after the round (a replay against an id that moved)", () => {
    const cluster = run({ lie: true });
    const proof = cluster
      .effectsOf("broadcast")
      .map((entry) => (entry.effect as { message: Message }).message)
      .find((message): message is Evidence => message.type === "Evidence")!;
    expect(proof).toBeDefined();
    const before = cluster.replica(2).metrics.dropped.staleEvidence;
    cluster.queue.push({
      from: { kind: "replica", id: 3 },
      to: { kind: "replica", id: 2 },
      message: { ...proof, replicaId: 3 },
    });
    cluster.deliverAll();
    expect(cluster.replica(2).metrics.dropped.staleEvidence).toBe(before + 1);
    expect(cluster.replica(2).metrics.evidenceAccepted).toBe(1);
  });

  it("starts a pending proof's round on a later step than the round it waited for", () => {
    // Regressions. Simulator seed 58 with lyingNewPrimary: a round built in the step that executes
    // another carried authenticators for the nodes that step retired, which the targets refused.
    // This test: the proof's round was restarted on a newer registry (a JOIN came between its
    // INIT-MIGRATION quorum and its execution) and the primary, which had ordered the first
    // version, refused to order the second until a view change (specialKey ignored the targets).
    const cluster = new MigrationCluster({ f: 1, proactive: false });
    cluster.startRegistered();
    const replica = cluster.replica(2);
    const steps: Effect[][] = [];
    const step = replica.step.bind(replica);
    replica.step = (input, nowMs) => {
      const effects = step(input, nowMs);
      steps.push(effects);
      return effects;
    };
    // The CM's round for id 3 is under way when replica 1's lie is proven: the proof waits.
    cluster.onDemand([3]);
    isolateReplicaZero(cluster);
    cluster.mutate = lyingPrimary(cluster);
    let timestamp = 1;
    while (cluster.nowMs < 6000) {
      cluster.request(makeRequest(1, timestamp++));
      cluster.advance(200);
    }
    const executing = steps.findIndex((effects) => effects.some((e) => e.kind === "migrationExecuted"));
    expect(executing).toBeGreaterThanOrEqual(0);
    const initsIn = (effects: Effect[]) =>
      effects.filter((e) => e.kind === "broadcast" && e.message.type === "InitMigration");
    expect(initsIn(steps[executing]!)).toEqual([]);
    const later = steps.slice(executing + 1).flatMap(initsIn);
    expect(later.length).toBeGreaterThan(0);
    const executed = effectsOf(cluster, "migrationExecuted", "r2@").map((entry) =>
      (entry.effect as unknown as { pairs: { replicaId: number }[] }).pairs.map((pair) => pair.replicaId),
    );
    expect(executed).toEqual([[3], [1]]);
  });

  it("accuses nobody when the new primary is honest", () => {
    const cluster = run({ lie: false });
    expect(cluster.effectsOf("evidenceAccepted")).toHaveLength(0);
    expect(effectsOf(cluster, "viewEntered", "r2@").map((e) => (e.effect as { view: number }).view)).toEqual([
      1,
    ]);
    expect(cluster.effectsOf("migrationExecuted")).toHaveLength(0);
  });
});
