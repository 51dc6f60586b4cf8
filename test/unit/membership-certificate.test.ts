/**
 * MEMBERSHIP-CERTIFICATE (docs/migration.md, "Membership certificates"): the CM-signed membership
 * after a round lets a client or standby whose membership is stale (it missed the round's
 * NEW-MEMBERSHIP notices, and so holds MAC keys only for nodes that no longer run any id) relearn
 * the membership. Checked here: applied when valid and newer; rejected when forged, stale, or
 * naming a CM replica the receiver holds no key for; the frame opens at a stale receiver; replicas
 * keep and relay only valid, newer certificates.
 */
import { describe, expect, it } from "vitest";
import { CERTIFICATE_RETRIES, Client, defaultClientConfig } from "../../bft/client/index.js";
import {
  createFakeCoprocessorStore,
  FakeCoprocessor,
  fakeSeed,
  verifySignature,
} from "../../bft/coprocessor/index.js";
import type { MemberAddress, MembershipCertificate, Principal } from "../../bft/messages.js";
import { membershipCertificateSignedBytes } from "../../bft/migration/index.js";
import { createDerivedKeyRing, Wire, wireTesting } from "../../bft/wire/index.js";
import { MigrationCluster } from "./migration-harness.js";

const N = 4;
const CM = { kind: "cm", id: 0 } as const;

function members(nodeIds: readonly number[]): MemberAddress[] {
  return nodeIds.map((nodeId, replicaId) => ({ replicaId, nodeId, address: `10.1.0.${nodeId}:7000` }));
}

function certificate(
  signer: FakeCoprocessor,
  seq: number,
  nodeIds: readonly number[],
  cmId = 0,
): MembershipCertificate {
  const fields = {
    seq,
    checkpointDigest: new Uint8Array(32).fill(seq % 256),
    members: members(nodeIds),
    cmId,
  };
  return {
    type: "MembershipCertificate",
    ...fields,
    signature: signer.sign(membershipCertificateSignedBytes(fields)),
  };
}

const otherSigner = new FakeCoprocessor(
  createFakeCoprocessorStore({ seed: fakeSeed(11, 1), codeDigest: new Uint8Array(32) }),
);

describe("client and MEMBERSHIP-CERTIFICATE", () => {
  const cm = new FakeCoprocessor(
    createFakeCoprocessorStore({ seed: fakeSeed(11, 0), codeDigest: new Uint8Array(32) }),
  );
  const newClient = () =>
    new Client(defaultClientConfig(5, 1), {
      authenticateRequest: () => new Uint8Array(16 * N),
      membershipCertificates: { cmPublicKeys: [cm.publicKey()], verify: verifySignature },
    });
  const from: Principal = { kind: "replica", id: 2 };
  const timer = { kind: "timer", timer: "retransmit" } as const;
  /** A client whose request went unanswered CERTIFICATE_RETRIES times (it is locked out). */
  const stuckClient = () => {
    const client = newClient();
    client.submit(new Uint8Array([1]), 0);
    for (let retry = 0; retry < CERTIFICATE_RETRIES; retry++) client.step(timer, 0);
    return client;
  };

  it("applies a valid certificate from any sender, with no NEW-MEMBERSHIP quorum, once stuck", () => {
    const client = stuckClient();
    const message = certificate(cm, 40, [10, 11, 12, 13]);
    const effects = client.step({ kind: "message", from, message }, 0);
    expect(effects).toEqual([
      { kind: "membershipChanged", seq: 40, members: message.members },
      { kind: "setTimer", timer: "retransmit", afterMs: 0 },
    ]);
    expect(client.metrics.certificatesApplied).toBe(1);
  });

  it("holds a certificate while NEW-MEMBERSHIP may still come, and applies it when the request is stuck", () => {
    const client = newClient();
    client.submit(new Uint8Array([1]), 0);
    const message = certificate(cm, 40, [10, 11, 12, 13]);
    expect(client.step({ kind: "message", from, message }, 0)).toEqual([]);
    for (let retry = 1; retry < CERTIFICATE_RETRIES; retry++)
      expect(client.step(timer, 0)).not.toContainEqual(
        expect.objectContaining({ kind: "membershipChanged" }),
      );
    expect(client.step(timer, 0)).toContainEqual({
      kind: "membershipChanged",
      seq: 40,
      members: message.members,
    });
    expect(client.metrics.certificatesApplied).toBe(1);
  });

  it.each([
    ["a forged signature", () => certificate(otherSigner, 40, [10, 11, 12, 13])],
    ["a CM id it holds no key for", () => certificate(cm, 40, [10, 11, 12, 13], 1)],
    ["a certificate naming fewer members than replicas", () => certificate(cm, 40, [10, 11, 12])],
    ["a certificate naming one node twice", () => certificate(cm, 40, [10, 11, 12, 12])],
    ["a valid signature over other contents", () => ({ ...certificate(cm, 40, [10, 11, 12, 13]), seq: 41 })],
  ])("rejects %s", (_name, make) => {
    const client = stuckClient();
    expect(client.step({ kind: "message", from, message: make() }, 0)).toEqual([]);
    expect(client.metrics.membershipsApplied).toBe(0);
  });

  it("rejects a certificate not newer than its membership", () => {
    const client = stuckClient();
    client.step({ kind: "message", from, message: certificate(cm, 40, [10, 11, 12, 13]) }, 0);
    expect(client.step({ kind: "message", from, message: certificate(cm, 40, [20, 11, 12, 13]) }, 0)).toEqual(
      [],
    );
    expect(client.step({ kind: "message", from, message: certificate(cm, 30, [20, 11, 12, 13]) }, 0)).toEqual(
      [],
    );
    expect(
      client.step({ kind: "message", from, message: certificate(cm, 41, [20, 11, 12, 13]) }, 0),
    ).toHaveLength(2);
    expect(client.metrics.membershipsApplied).toBe(2);
  });

  it("drops certificates without the CM keys (no migration)", () => {
    const client = new Client(defaultClientConfig(5, 1), {
      authenticateRequest: () => new Uint8Array(16 * N),
    });
    client.submit(new Uint8Array([1]), 0);
    for (let retry = 0; retry < CERTIFICATE_RETRIES; retry++) client.step(timer, 0);
    expect(client.step({ kind: "message", from, message: certificate(cm, 40, [10, 11, 12, 13]) }, 0)).toEqual(
      [],
    );
  });
});

describe("wire and MEMBERSHIP-CERTIFICATE", () => {
  it("opens at a receiver whose membership is stale, where a NEW-MEMBERSHIP from the same node fails", () => {
    const clusterSecret = new Uint8Array(32).fill(5);
    const current = [0, 1, 2, 17];
    const sender = new Wire({
      self: { kind: "replica", id: 3 },
      n: N,
      keys: createDerivedKeyRing({ clusterSecret, self: { kind: "node", id: 17 } }),
      replicaPublicKeys: [],
      membership: current,
    });
    const client: Principal = { kind: "client", id: 5 };
    const stale = new Wire({
      self: client,
      n: N,
      keys: createDerivedKeyRing({ clusterSecret, self: client }),
      replicaPublicKeys: [],
      membership: [0, 1, 2, 3],
    });
    const samples = wireTesting.sampleMessages();
    const certified = stale.open(sender.seal(samples.MembershipCertificate, client));
    expect(certified.ok).toBe(true);
    const sample = samples.NewMembership;
    if (sample.type !== "NewMembership") throw new Error("sample type");
    const notice = stale.open(sender.seal({ ...sample, replicaId: 3 }, client));
    expect(notice.ok ? "ok" : notice.reason).toBe("macInvalid");
  });
});

describe("standby and replicas with MEMBERSHIP-CERTIFICATE", () => {
  it("a standby applies a valid, newer certificate and rejects forged and stale ones", () => {
    const cluster = new MigrationCluster({ f: 1 });
    const nodeId = cluster.standbyIds[0]!;
    const standby = cluster.makeStandby(nodeId);
    const step = (message: MembershipCertificate) => standby.step({ kind: "message", from: CM, message }, 0);
    expect(step(certificate(otherSigner, 40, [20, 21, 22, 23]))).toEqual([]);
    expect(step(certificate(cluster.cmCoprocessor, 40, [20, 21, 22, 23], 1))).toEqual([]);
    const applied = step(certificate(cluster.cmCoprocessor, 40, [20, 21, 22, 23]));
    expect(applied[0]).toEqual({ kind: "membershipChanged", members: members([20, 21, 22, 23]) });
    expect(step(certificate(cluster.cmCoprocessor, 40, [30, 21, 22, 23]))).toEqual([]);
    expect(standby.metrics.certificatesApplied).toBe(1);
    expect(standby.metrics.membershipDropped).toBe(3);
  });

  it("a standby leaves alone a certificate naming itself (it is that round's target)", () => {
    const cluster = new MigrationCluster({ f: 1 });
    const nodeId = cluster.standbyIds[0]!;
    const standby = cluster.makeStandby(nodeId);
    const message = certificate(cluster.cmCoprocessor, 40, [0, 1, 2, nodeId]);
    expect(standby.step({ kind: "message", from: CM, message }, 0)).toEqual([]);
    expect(standby.metrics.certificatesApplied).toBe(0);
  });

  it("a replica keeps a valid, newer certificate and relays it to the standbys", () => {
    const cluster = new MigrationCluster({ f: 1 }).start();
    cluster.registerStandbys();
    const relayed = () =>
      cluster
        .effectsOf("send")
        .filter(
          ({ actor, effect }) =>
            actor.startsWith("r0@") &&
            effect.kind === "send" &&
            effect.message.type === "MembershipCertificate",
        ).length;
    const push = (message: MembershipCertificate) => {
      cluster.queue.push({ from: CM, to: { kind: "replica", id: 0 }, message });
      cluster.deliverAll();
    };
    push(certificate(otherSigner, 40, [0, 1, 2, cluster.standbyIds[0]!]));
    expect(relayed()).toBe(0);
    expect(cluster.replica(0).metrics.dropped.badSignature).toBe(1);
    push(certificate(cluster.cmCoprocessor, 40, [0, 1, 2, cluster.standbyIds[0]!]));
    expect(relayed()).toBe(cluster.standbyIds.length);
    push(certificate(cluster.cmCoprocessor, 40, [0, 1, 2, cluster.standbyIds[1]!]));
    expect(relayed()).toBe(cluster.standbyIds.length);
    expect(cluster.replica(0).metrics.dropped.staleCertificate).toBe(1);
  });

  it("a replica behind the certified round authenticates its members, and peers resend it (seed 37)", () => {
    const cluster = new MigrationCluster({ f: 1, proactive: false }).start();
    cluster.registerStandbys();
    const target = cluster.standbyIds[0]!;
    const wireMembers = (replicaId: number) =>
      cluster
        .effectsOf("membershipChanged")
        .filter(({ actor }) => actor === `r${replicaId}@${replicaId}`)
        .map(({ effect }) =>
          effect.kind === "membershipChanged" ? effect.members.map((m) => m.nodeId) : [],
        );
    // r0 holds the CM's certificate of a round at seq 40 that moved id 3 to the target; r2,
    // behind it, never got it from the CM.
    const certified = certificate(cluster.cmCoprocessor, 40, [0, 1, 2, target]);
    cluster.filter = (envelope) => envelope.message.type !== "MembershipCertificate" || envelope.to.id !== 2;
    cluster.queue.push({ from: CM, to: { kind: "replica", id: 0 }, message: certified });
    cluster.deliverAll();
    expect(wireMembers(0)).toEqual([[0, 1, 2, target]]);
    expect(cluster.replica(0).migrationState!.members.map((m) => m.nodeId)).toEqual([0, 1, 2, 3]);
    expect(wireMembers(2)).toEqual([]);
    // r2's STATUS shows it behind seq 40: r0 resends the certificate, and r2's wire follows it.
    cluster.filter = () => true;
    cluster.advance(150);
    expect(wireMembers(2)).toEqual([[0, 1, 2, target]]);
  });
});
