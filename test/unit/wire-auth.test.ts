/**
 * Proves the key material and the authentication primitives behave as the protocol needs. How:
 * both ends of a pair derive the same MAC key and different pairs or secrets do not; signing keys
 * are reproducible from the cluster secret, Ed25519 signatures are deterministic and cover every
 * VIEW-CHANGE field but the signature; the request digest covers clientId, timestamp and
 * operation and is cached per object.
 */
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../bft/assert.js";
import { DIGEST_BYTES, SIGNATURE_BYTES } from "../../bft/limits.js";
import type { Principal, Request, ViewChange } from "../../bft/messages.js";
import {
  computeRequestDigest,
  createDerivedKeyRing,
  deriveSigningKeyPair,
  publicKeyFromRaw,
  rawPublicKey,
  signViewChange,
  verifyViewChange,
  viewChangeSigningBytes,
  Wire,
  wireTesting,
} from "../../bft/wire/index.js";

const clusterSecret = new Uint8Array(32).fill(3);
const replica = (id: number): Principal => ({ kind: "replica", id });
const client = (id: number): Principal => ({ kind: "client", id });
const ring = (self: Principal, secret = clusterSecret) =>
  createDerivedKeyRing({ clusterSecret: secret, self });

describe("derived key ring", () => {
  it("both ends of a pair derive the same key", () => {
    expect(ring(replica(0)).macKey(replica(3))).toEqual(ring(replica(3)).macKey(replica(0)));
    expect(ring(client(9)).macKey(replica(2))).toEqual(ring(replica(2)).macKey(client(9)));
  });

  it("different pairs, kinds and secrets give different keys", () => {
    const keys = [
      ring(replica(0)).macKey(replica(1)),
      ring(replica(0)).macKey(replica(2)),
      ring(replica(0)).macKey(client(1)),
      ring(client(0)).macKey(replica(1)),
      ring(replica(0), new Uint8Array(32).fill(4)).macKey(replica(1)),
    ];
    const distinct = new Set(keys.map((key) => Buffer.from(key).toString("hex")));
    expect(distinct.size).toBe(keys.length);
  });

  it("refuses a short cluster secret", () => {
    expect(() => ring(replica(0), new Uint8Array(8))).toThrow(AssertionError);
  });
});

describe("view-change signatures", () => {
  const viewChange = wireTesting.sampleViewChange(1);
  const { signature: _filler, ...unsigned } = viewChange;

  it("signing keys are reproducible from the cluster secret", () => {
    const first = deriveSigningKeyPair(clusterSecret, 1);
    const second = deriveSigningKeyPair(clusterSecret, 1);
    expect(first.publicKeyRaw).toEqual(second.publicKeyRaw);
    expect(first.publicKeyRaw).not.toEqual(deriveSigningKeyPair(clusterSecret, 2).publicKeyRaw);
    expect(rawPublicKey(publicKeyFromRaw(first.publicKeyRaw))).toEqual(first.publicKeyRaw);
  });

  it("signatures are deterministic and verify", () => {
    const keys = deriveSigningKeyPair(clusterSecret, 1);
    const signature = signViewChange(keys.privateKey, unsigned);
    expect(signature).toHaveLength(SIGNATURE_BYTES);
    expect(signViewChange(deriveSigningKeyPair(clusterSecret, 1).privateKey, unsigned)).toEqual(signature);
    expect(verifyViewChange(keys.publicKey, { ...unsigned, signature })).toBe(true);
    expect(
      verifyViewChange(deriveSigningKeyPair(clusterSecret, 2).publicKey, { ...unsigned, signature }),
    ).toBe(false);
  });

  it.each<[string, Partial<ViewChange>]>([
    ["newView", { newView: 4 }],
    ["stableSeq", { stableSeq: 64 }],
    ["checkpoints", { checkpoints: [] }],
    ["prepared", { prepared: [] }],
    ["prePrepared", { prePrepared: [] }],
    ["batches", { batches: [] }],
    ["replicaId", { replicaId: 2 }],
  ])("the signature covers %s", (_field, change) => {
    const keys = deriveSigningKeyPair(clusterSecret, 1);
    const signature = signViewChange(keys.privateKey, unsigned);
    expect(verifyViewChange(keys.publicKey, { ...unsigned, ...change, signature })).toBe(false);
  });

  it("the signed bytes exclude the signature", () => {
    const zeroed: ViewChange = { ...viewChange, signature: new Uint8Array(64) };
    expect(viewChangeSigningBytes(zeroed)).toEqual(viewChangeSigningBytes(viewChange));
  });
});

describe("request digest", () => {
  const request = wireTesting.sampleRequest(5, 77, 100);

  it("covers clientId, timestamp and operation but not the authenticator", () => {
    const digest = computeRequestDigest(request);
    expect(digest).toHaveLength(DIGEST_BYTES);
    const unauthenticated: Request = { ...request, auth: new Uint8Array(0) };
    expect(computeRequestDigest(unauthenticated)).toEqual(digest);
    expect(computeRequestDigest({ ...request, clientId: 6 })).not.toEqual(digest);
    expect(computeRequestDigest({ ...request, timestamp: 78 })).not.toEqual(digest);
    expect(computeRequestDigest({ ...request, timestamp: 77 + 2 ** 32 })).not.toEqual(digest);
    expect(computeRequestDigest({ ...request, operation: new Uint8Array(100) })).not.toEqual(digest);
  });

  it("Wire caches it per operation bytes object, for the same client and timestamp only", () => {
    const wire = new Wire({ self: replica(0), n: 4, keys: ring(replica(0)), replicaPublicKeys: [] });
    const first = wire.requestDigest(request);
    expect(wire.requestDigest(request)).toBe(first);
    // A client's request body and the request it authenticates share the operation bytes.
    expect(wire.requestDigest({ ...request })).toBe(first);
    expect(wire.requestDigest({ ...request, operation: request.operation.slice() })).not.toBe(first);
    expect(wire.requestDigest({ ...request, operation: request.operation.slice() })).toEqual(first);
    // The same bytes object under another timestamp or client is another request.
    for (const other of [
      { ...request, timestamp: request.timestamp + 1 },
      { ...request, clientId: request.clientId + 1 },
    ]) {
      expect(wire.requestDigest(other)).toEqual(computeRequestDigest(other));
      expect(wire.requestDigest(other)).not.toEqual(first);
    }
  });
});
