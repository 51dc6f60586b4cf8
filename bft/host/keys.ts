/**
 * Key material for hosts (bootstrap scheme, bft/wire/keys.ts). The launcher of a cluster (the
 * testbed controller, a benchmark) is the trusted dealer: it alone holds the cluster secret and
 * hands each process its own KeyMaterial (dealHostKeys), in a replica's configuration file as JSON
 * (keyMaterialJson, KeyMaterialSchema). A replica process can thus neither compute the MAC keys
 * of two other principals nor sign as another replica. The migration issue adds keys exchanged
 * under coprocessor signatures between nodes; hosts only see the Wire.
 */
import { createHash } from "node:crypto";
import { type Static, Type } from "@sinclair/typebox";
import type { Principal } from "../messages.js";
import {
  createKeyRing,
  dealKeyMaterial,
  type KeyMaterial,
  MAC_KEY_BYTES,
  signingKeyPairFromSeed,
  Wire,
} from "../wire/index.js";

export function clusterSecretFrom(text: string): Uint8Array {
  if (text.length === 0) throw new Error("cluster secret must not be empty");
  return createHash("sha256").update(`migrate-bft cluster secret\0${text}`).digest();
}

/** The dealer's work for a PBFT cluster of 3f+1 replicas: `self`'s keys with the replicas. */
export function dealHostKeys(clusterSecret: Uint8Array, self: Principal, f: number): KeyMaterial {
  const replicaCount = 3 * f + 1;
  return dealKeyMaterial({
    clusterSecret,
    self,
    servers: Array.from({ length: replicaCount }, (_, id) => ({ kind: "replica", id })),
    replicaCount,
  });
}

export function createWire(options: { keys: KeyMaterial; f: number }): Wire {
  const { keys } = options;
  const n = 3 * options.f + 1;
  if (keys.replicaPublicKeys.length !== n)
    throw new Error(`key material names ${keys.replicaPublicKeys.length} replica keys, not n=${n}`);
  const signing = keys.signingSeed === null ? undefined : signingKeyPairFromSeed(keys.signingSeed);
  return new Wire({
    self: keys.self,
    n,
    keys: createKeyRing(keys),
    ...(signing === undefined ? {} : { signing: { privateKey: signing.privateKey } }),
    replicaPublicKeys: keys.replicaPublicKeys,
  });
}

const hexOfBytes = (bytes: number) => Type.String({ pattern: `^[0-9a-f]{${bytes * 2}}$` });
const PrincipalSchema = Type.Object(
  {
    kind: Type.Union([
      Type.Literal("replica"),
      Type.Literal("client"),
      Type.Literal("node"),
      Type.Literal("cm"),
    ]),
    id: Type.Integer({ minimum: 0, maximum: 2 ** 32 - 1 }),
  },
  { additionalProperties: false },
);

/** KeyMaterial as JSON (hex strings), as a configuration file carries it. */
export const KeyMaterialSchema = Type.Object(
  {
    self: PrincipalSchema,
    peerKeys: Type.Array(
      Type.Object({ peer: PrincipalSchema, key: hexOfBytes(MAC_KEY_BYTES) }, { additionalProperties: false }),
      { maxItems: 1024 },
    ),
    clientKeySecret: Type.Union([hexOfBytes(MAC_KEY_BYTES), Type.Null()]),
    ownSecret: hexOfBytes(MAC_KEY_BYTES),
    signingSeed: Type.Union([hexOfBytes(32), Type.Null()]),
    replicaPublicKeys: Type.Array(hexOfBytes(32), { minItems: 4, maxItems: 10 }),
  },
  { additionalProperties: false },
);

export type KeyMaterialJson = Static<typeof KeyMaterialSchema>;

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const bytesOf = (text: string) => new Uint8Array(Buffer.from(text, "hex"));

export function keyMaterialJson(material: KeyMaterial): KeyMaterialJson {
  return {
    self: { kind: material.self.kind, id: material.self.id },
    peerKeys: material.peerKeys.map(({ peer, key }) => ({
      peer: { kind: peer.kind, id: peer.id },
      key: hex(key),
    })),
    clientKeySecret: material.clientKeySecret === null ? null : hex(material.clientKeySecret),
    ownSecret: hex(material.ownSecret),
    signingSeed: material.signingSeed === null ? null : hex(material.signingSeed),
    replicaPublicKeys: material.replicaPublicKeys.map(hex),
  };
}

/** From JSON already checked against KeyMaterialSchema. */
export function keyMaterialOf(json: KeyMaterialJson): KeyMaterial {
  return {
    self: json.self,
    peerKeys: json.peerKeys.map(({ peer, key }) => ({ peer, key: bytesOf(key) })),
    clientKeySecret: json.clientKeySecret === null ? null : bytesOf(json.clientKeySecret),
    ownSecret: bytesOf(json.ownSecret),
    signingSeed: json.signingSeed === null ? null : bytesOf(json.signingSeed),
    replicaPublicKeys: json.replicaPublicKeys.map(bytesOf),
  };
}
