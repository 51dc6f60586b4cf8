/**
 * Proves the dealt key scheme of processes (bft/wire/keys.ts, bft/host/keys.ts): every principal's
 * material agrees with its peers' on each pair key and with the dealer's own view; a replica's
 * material lets it neither MAC as another replica, nor forge a client's request authenticator for
 * another replica, nor sign a VIEW-CHANGE as another replica; the material survives its JSON form
 * and a replica configuration refuses keys dealt for someone else.
 * How: deal material for a 4-replica cluster and two clients, build Wires from it as the hosts do
 * (createWire), and play a Byzantine replica 1 that holds only its own material.
 */
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  clusterSecretFrom,
  createWire,
  dealHostKeys,
  keyMaterialJson,
  keyMaterialOf,
  parseReplicaProcessConfig,
} from "../../bft/host/index.js";
import type { Principal, Request } from "../../bft/messages.js";
import {
  createDerivedKeyRing,
  createKeyRing,
  publicKeyFromRaw,
  signingKeyPairFromSeed,
  signViewChange,
  verifyViewChange,
  Wire,
  wireTesting,
} from "../../bft/wire/index.js";

const F = 1;
const N = 3 * F + 1;
const secret = clusterSecretFrom("host-keys");
const replica = (id: number): Principal => ({ kind: "replica", id });
const client = (id: number): Principal => ({ kind: "client", id });
const material = (self: Principal) => dealHostKeys(secret, self, F);
const wires = Array.from({ length: N }, (_, id) => createWire({ keys: material(replica(id)), f: F }));

function request(clientId: number, wire: Wire): Request {
  const body = {
    type: "Request" as const,
    clientId,
    timestamp: 1,
    operation: wireTesting.filledBytes(64, 1),
  };
  return { ...body, auth: wire.authenticateRequest(body) };
}

describe("dealt key material", () => {
  it("gives both ends of every pair the same key, the one the dealer derives", () => {
    const principals = [...Array.from({ length: N }, (_, id) => replica(id)), client(5), client(900)];
    for (const a of principals) {
      const ring = createKeyRing(material(a));
      const dealer = createDerivedKeyRing({ clusterSecret: secret, self: a });
      for (const b of principals) {
        if (a === b || (a.kind === "client" && b.kind === "client")) continue;
        const key = ring.macKey(b);
        expect(key).toEqual(createKeyRing(material(b)).macKey(a));
        expect(key).toEqual(dealer.macKey(b));
      }
    }
  });

  it("holds no key of a pair its owner is not part of", () => {
    const held = material(replica(1));
    const keysOfOthers = [
      createDerivedKeyRing({ clusterSecret: secret, self: replica(0) }).macKey(replica(2)),
      createDerivedKeyRing({ clusterSecret: secret, self: client(5) }).macKey(replica(2)),
    ];
    const heldBytes = [
      ...held.peerKeys.map(({ key }) => key),
      held.clientKeySecret!,
      held.ownSecret,
      held.signingSeed!,
    ].map((bytes) => Buffer.from(bytes).toString("hex"));
    for (const key of keysOfOthers) expect(heldBytes).not.toContain(Buffer.from(key).toString("hex"));
    expect(heldBytes).not.toContain(Buffer.from(secret).toString("hex"));
    expect(material(client(5)).signingSeed).toBeNull();
    expect(material(client(5)).clientKeySecret).toBeNull();
  });

  it("a Byzantine replica cannot MAC a frame as another replica", () => {
    // Replica 1 claims to be replica 0, with the only keys it has: its own.
    const forger = new Wire({
      self: replica(0),
      n: N,
      keys: createKeyRing({ ...material(replica(1)), self: replica(0) }),
      replicaPublicKeys: material(replica(1)).replicaPublicKeys,
    });
    const message = { ...wireTesting.sampleMessages().Prepare, replicaId: 0 };
    expect(wires[2]!.open(forger.seal(message, replica(2)))).toEqual({ ok: false, reason: "macInvalid" });
    // The genuine replica 0's frame opens.
    expect(wires[2]!.open(wires[0]!.seal(message, replica(2))).ok).toBe(true);
  });

  it("a Byzantine replica cannot forge a client's request authenticator for another replica", () => {
    const genuine = request(5, createWire({ keys: material(client(5)), f: F }));
    for (const wire of wires) expect(wire.requestAuthentic(genuine)).toBe(true);
    // Replica 1 computes its own key with client 5; for the other replicas it has only its keys
    // with them, which are not client 5's.
    const ring = createKeyRing(material(replica(1)));
    const forger = new Wire({
      self: client(5),
      n: N,
      keys: { macKey: (peer) => ring.macKey(peer.kind === "replica" && peer.id === 1 ? client(5) : peer) },
      replicaPublicKeys: [],
    });
    const forged = request(5, forger);
    expect(wires.map((wire) => wire.requestAuthentic(forged))).toEqual([false, true, false, false]);
  });

  it("a replica signs VIEW-CHANGEs only as itself", () => {
    const { signature: _filler, ...unsigned } = wireTesting.sampleViewChange(0);
    // The only signing key replica 1 holds is its own.
    const byOne = signingKeyPairFromSeed(material(replica(1)).signingSeed!);
    const zeroKey = publicKeyFromRaw(material(replica(2)).replicaPublicKeys[0]!);
    expect(
      verifyViewChange(zeroKey, { ...unsigned, signature: signViewChange(byOne.privateKey, unsigned) }),
    ).toBe(false);
    expect(verifyViewChange(zeroKey, { ...unsigned, signature: wires[0]!.signViewChange(unsigned) })).toBe(
      true,
    );
  });

  it("survives its JSON form", () => {
    const original = material(replica(3));
    const json = JSON.parse(JSON.stringify(keyMaterialJson(original)));
    expect(keyMaterialOf(json)).toEqual(original);
  });
});

describe("replica process configuration keys", () => {
  const endpoints = Array.from({ length: N }, (_, id) => ({
    id,
    peer: { host: "127.0.0.1", port: 7100 + id },
    client: { host: "127.0.0.1", port: 7200 + id },
  }));
  const config = (replicaId: number, keysOf: Principal) => ({
    f: F,
    replicaId,
    keys: keyMaterialJson(material(keysOf)),
    app: { app: "echo" },
    replicas: endpoints,
  });

  it("accepts the replica's own keys", () => {
    expect(parseReplicaProcessConfig(config(2, replica(2)), "test").replicaId).toBe(2);
  });

  it.each([
    ["another replica's keys", replica(1)],
    ["a client's keys", client(2)],
  ])("refuses %s", (_name, keysOf) => {
    expect(() => parseReplicaProcessConfig(config(2, keysOf), "test")).toThrow(ConfigError);
    expect(() => parseReplicaProcessConfig(config(2, keysOf), "test")).toThrow(/keys are for/);
  });

  it("refuses malformed key material with the path of the bad value", () => {
    const bad = config(2, replica(2));
    bad.keys = { ...bad.keys, ownSecret: "zz" };
    expect(() => parseReplicaProcessConfig(bad, "test")).toThrow(/\/keys\/ownSecret/);
  });
});
