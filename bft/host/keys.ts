/**
 * Key material for hosts, from the bootstrap scheme: every principal derives its pairwise MAC keys
 * and the replicas' Ed25519 keys from a cluster secret shared at provisioning. The migration issue
 * replaces this with keys exchanged under coprocessor signatures; hosts only see the Wire.
 */
import { createHash } from "node:crypto";
import type { Principal } from "../messages.js";
import { createDerivedKeyRing, deriveSigningKeyPair, Wire } from "../wire/index.js";

export function clusterSecretFrom(text: string): Uint8Array {
  if (text.length === 0) throw new Error("cluster secret must not be empty");
  return createHash("sha256").update(`migrate-bft cluster secret\0${text}`).digest();
}

export function createWire(options: { clusterSecret: Uint8Array; self: Principal; f: number }): Wire {
  const n = 3 * options.f + 1;
  const replicaKeys = Array.from({ length: n }, (_, id) => deriveSigningKeyPair(options.clusterSecret, id));
  const signing = options.self.kind === "replica" ? replicaKeys[options.self.id] : undefined;
  return new Wire({
    self: options.self,
    n,
    keys: createDerivedKeyRing({ clusterSecret: options.clusterSecret, self: options.self }),
    ...(signing === undefined ? {} : { signing: { privateKey: signing.privateKey } }),
    replicaPublicKeys: replicaKeys.map((pair) => pair.publicKey),
  });
}
