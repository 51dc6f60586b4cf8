/**
 * Key material for the wire layer.
 *
 * Two kinds of MAC keys:
 *
 * - Dealt (bootstrap) keys, from a trusted dealer that alone holds the cluster secret (the
 *   simulator, the testbed controller, a benchmark launcher): the MAC key of two servers (replica,
 *   node or CM principals) is HKDF-SHA256(clusterSecret, info = the unordered pair); the key of a
 *   client and a server is HKDF over the client's id under that server's client-key secret, itself
 *   HKDF(clusterSecret, server); a replica's Ed25519 key pair comes from an HKDF-derived seed. The
 *   dealer hands each process only its own KeyMaterial (dealKeyMaterial): its pair keys with the
 *   servers it talks to, its client-key secret if it is a server, its own signing seed and every
 *   replica's public key. So a Byzantine replica cannot compute the keys of two other principals
 *   (it cannot forge a PREPARE, a reply or a request MAC for them) nor sign as another replica. A
 *   peer outside the material gets a key derived from the holder's own secret, which no one else
 *   can compute: its frames fail the MAC check. createDerivedKeyRing is the dealer's own view, for
 *   code that plays the dealer in one process (the simulator, tests). With migration, between
 *   nodes dealt keys only carry the JOIN flow and KEY-EXCHANGE, MIGRATE-NOW and NEW-MEMBERSHIP,
 *   which the receiving core checks a coprocessor signature on; clients and the CM keep dealt
 *   keys for all their traffic (docs/migration.md).
 * - Session keys (SessionKeyStore): node-to-node MAC keys from the signed KEY-EXCHANGE (paper
 *   section 3.1; bft/migration/key-exchange.ts): HKDF over an X25519 shared secret, bound to both
 *   node ids and counters. Only the two nodes of a pair know it, so a retired source cannot compute
 *   the keys its successor uses, and a node that re-joins after sanitization gets new ones. A Wire
 *   given a SessionKeyStore uses it for every other frame between nodes; a node with no session
 *   key yet gets unauthenticated frames (zero MAC) from us and its frames are dropped
 *   (`sessionKeyMissing`). The store lives in the host, survives a standby's promotion and dies
 *   with the node's memory (crash, sanitization).
 *
 * Keys per node (migration, docs/migration.md): a logical replica id moves between physical
 * nodes, so a Wire given a membership map (replica id -> node id) keys a replica by the NODE that
 * runs it, and its own KeyRing is made for its node ({ kind: "node", id }).
 */
import { createPrivateKey, createPublicKey, createSecretKey, hkdfSync, type KeyObject } from "node:crypto";
import { assert } from "../assert.js";
import {
  ed25519PublicKeyFromRaw,
  ed25519RawPublicKey,
  PKCS8_ED25519_PREFIX,
} from "../coprocessor/coprocessor.js";
import { REPLICAS_MAX } from "../limits.js";
import type { Principal } from "../messages.js";

/** Pairwise MAC keys of the local principal: both ends of a pair derive the same key. */
export interface KeyRing {
  macKey(peer: Principal): Uint8Array;
}

export const MAC_KEY_BYTES = 32;
/** Shorter cluster secrets would make every derived key guessable. */
export const CLUSTER_SECRET_BYTES_MIN = 16;
export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;

const MAC_SALT = new TextEncoder().encode("migrate-bft/mac/v1");
const SIGNING_SALT = new TextEncoder().encode("migrate-bft/ed25519/v1");
const CLIENT_SECRET_SALT = new TextEncoder().encode("migrate-bft/client-keys/v1");
const CLIENT_MAC_SALT = new TextEncoder().encode("migrate-bft/client-mac/v1");
const OWN_SECRET_SALT = new TextEncoder().encode("migrate-bft/own/v1");
const OUTSIDER_MAC_SALT = new TextEncoder().encode("migrate-bft/outsider-mac/v1");
/** Principal kind as one byte, wherever a principal is encoded (frames, key derivation). */
export const PRINCIPAL_KIND_BYTES = { replica: 0, client: 1, node: 2, cm: 3 } as const;
export const PRINCIPAL_KIND_COUNT = 4;
export const PRINCIPAL_ID_LIMIT = 2 ** 32;

export function isValidPrincipal(principal: Principal): boolean {
  return (
    principal.kind in PRINCIPAL_KIND_BYTES &&
    Number.isInteger(principal.id) &&
    principal.id >= 0 &&
    principal.id < PRINCIPAL_ID_LIMIT
  );
}

/** A number unique per principal, for cache keys without string building. */
export function principalCode(principal: Principal): number {
  return principal.id * PRINCIPAL_KIND_COUNT + PRINCIPAL_KIND_BYTES[principal.kind];
}

function principalBytes(principal: Principal): Uint8Array {
  const bytes = new Uint8Array(5);
  bytes[0] = PRINCIPAL_KIND_BYTES[principal.kind];
  new DataView(bytes.buffer).setUint32(1, principal.id);
  return bytes;
}

/** HKDF info naming the unordered pair, so both ends derive the same key. */
function pairInfo(first: Principal, second: Principal): Uint8Array {
  const [low, high] = principalCode(first) <= principalCode(second) ? [first, second] : [second, first];
  const info = new Uint8Array(10);
  info.set(principalBytes(low), 0);
  info.set(principalBytes(high), 5);
  return info;
}

function hkdf(secret: Uint8Array, salt: Uint8Array, info: Uint8Array, bytes: number): Uint8Array {
  const out = new Uint8Array(hkdfSync("sha256", secret, salt, info, bytes));
  assert(out.length === bytes, "HKDF output has its length");
  return out;
}

/** Replicas, nodes and the CM serve clients; a client's MAC keys are its servers' business. */
function isServer(principal: Principal): boolean {
  return principal.kind !== "client";
}

/** The secret a server's client keys derive from: the server and the dealer know it. */
function clientKeySecret(clusterSecret: Uint8Array, server: Principal): Uint8Array {
  return hkdf(clusterSecret, CLIENT_SECRET_SALT, principalBytes(server), MAC_KEY_BYTES);
}

function clientMacKey(serverClientSecret: Uint8Array, client: Principal): Uint8Array {
  return hkdf(serverClientSecret, CLIENT_MAC_SALT, principalBytes(client), MAC_KEY_BYTES);
}

/** The key `a` and `b` share, as the dealer computes it. */
function dealtPairKey(clusterSecret: Uint8Array, a: Principal, b: Principal): Uint8Array {
  if (isServer(a) !== isServer(b)) {
    const [server, client] = isServer(a) ? [a, b] : [b, a];
    return clientMacKey(clientKeySecret(clusterSecret, server), client);
  }
  return hkdf(clusterSecret, MAC_SALT, pairInfo(a, b), MAC_KEY_BYTES);
}

function assertClusterSecret(clusterSecret: Uint8Array): void {
  assert(clusterSecret.length >= CLUSTER_SECRET_BYTES_MIN, "cluster secret is long enough");
}

/**
 * The dealer's view of `self`'s keys: any peer's key, computed from the cluster secret. Only for
 * code that is the dealer itself (the simulator, tests); a process gets KeyMaterial instead.
 */
export function createDerivedKeyRing(options: { clusterSecret: Uint8Array; self: Principal }): KeyRing {
  const { clusterSecret, self } = options;
  assertClusterSecret(clusterSecret);
  assert(isValidPrincipal(self), "key ring owner is a valid principal");
  const secret = Uint8Array.from(clusterSecret);
  return {
    macKey(peer: Principal): Uint8Array {
      assert(isValidPrincipal(peer), "MAC key peer is a valid principal");
      return dealtPairKey(secret, self, peer);
    },
  };
}

/** What the dealer hands one principal: its own keys and nothing from which others' derive. */
export interface KeyMaterial {
  readonly self: Principal;
  /** The MAC key shared with each server this principal talks to. */
  readonly peerKeys: readonly { readonly peer: Principal; readonly key: Uint8Array }[];
  /** A server's client-key secret (any client's MAC key derives from it); null for a client. */
  readonly clientKeySecret: Uint8Array | null;
  /** Keys with peers outside the material derive from it: no one else can compute them. */
  readonly ownSecret: Uint8Array;
  /** A replica's Ed25519 seed (VIEW-CHANGE signatures); null for other principals. */
  readonly signingSeed: Uint8Array | null;
  /** Every replica's raw Ed25519 public key, by replica id. */
  readonly replicaPublicKeys: readonly Uint8Array[];
}

/**
 * The dealer's work: `self`'s KeyMaterial for a cluster of `replicaCount` replicas. `servers`
 * names the non-client principals it shares keys with (for a PBFT cluster: the replicas).
 */
export function dealKeyMaterial(options: {
  readonly clusterSecret: Uint8Array;
  readonly self: Principal;
  readonly servers: readonly Principal[];
  readonly replicaCount: number;
}): KeyMaterial {
  const { clusterSecret, self, servers, replicaCount } = options;
  assertClusterSecret(clusterSecret);
  assert(isValidPrincipal(self), "key material owner is a valid principal");
  assert(
    servers.every((peer) => isValidPrincipal(peer) && isServer(peer)),
    "servers are server principals",
  );
  return {
    self,
    peerKeys: servers
      .filter((peer) => peer.kind !== self.kind || peer.id !== self.id)
      .map((peer) => ({ peer, key: dealtPairKey(clusterSecret, self, peer) })),
    clientKeySecret: isServer(self) ? clientKeySecret(clusterSecret, self) : null,
    ownSecret: hkdf(clusterSecret, OWN_SECRET_SALT, principalBytes(self), MAC_KEY_BYTES),
    signingSeed: self.kind === "replica" ? signingSeedOf(clusterSecret, self.id) : null,
    replicaPublicKeys: Array.from(
      { length: replicaCount },
      (_, id) => deriveSigningKeyPair(clusterSecret, id).publicKeyRaw,
    ),
  };
}

/** A process's key ring from its dealt material. */
export function createKeyRing(material: KeyMaterial): KeyRing {
  const { self } = material;
  assert(isValidPrincipal(self), "key ring owner is a valid principal");
  const table = new Map<number, Uint8Array>();
  for (const { peer, key } of material.peerKeys) {
    assert(isValidPrincipal(peer) && key.length === MAC_KEY_BYTES, "dealt peer key is well formed");
    table.set(principalCode(peer), Uint8Array.from(key));
  }
  const clientSecret = material.clientKeySecret === null ? null : Uint8Array.from(material.clientKeySecret);
  const ownSecret = Uint8Array.from(material.ownSecret);
  return {
    macKey(peer: Principal): Uint8Array {
      assert(isValidPrincipal(peer), "MAC key peer is a valid principal");
      const dealt = table.get(principalCode(peer));
      if (dealt !== undefined) return dealt;
      if (clientSecret !== null && !isServer(peer)) return clientMacKey(clientSecret, peer);
      return hkdf(ownSecret, OUTSIDER_MAC_SALT, pairInfo(self, peer), MAC_KEY_BYTES);
    },
  };
}

export interface SigningKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The 32-byte raw public key, as replicaPublicKeys accepts it. */
  readonly publicKeyRaw: Uint8Array;
}

function signingSeedOf(clusterSecret: Uint8Array, replicaId: number): Uint8Array {
  assert(Number.isInteger(replicaId) && replicaId >= 0 && replicaId < REPLICAS_MAX, "replica id in range");
  return hkdf(Uint8Array.from(clusterSecret), SIGNING_SALT, Uint8Array.of(replicaId), ED25519_SEED_BYTES);
}

/** Deterministic Ed25519 key pair of a replica (bootstrap scheme, see the module comment). */
export function deriveSigningKeyPair(clusterSecret: Uint8Array, replicaId: number): SigningKeyPair {
  assertClusterSecret(clusterSecret);
  return signingKeyPairFromSeed(signingSeedOf(clusterSecret, replicaId));
}

/** The Ed25519 key pair of a 32-byte seed (a replica's KeyMaterial.signingSeed). */
export function signingKeyPairFromSeed(seed: Uint8Array): SigningKeyPair {
  assert(seed.length === ED25519_SEED_BYTES, "Ed25519 seed has its length");
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + ED25519_SEED_BYTES);
  der.set(PKCS8_ED25519_PREFIX, 0);
  der.set(seed, PKCS8_ED25519_PREFIX.length);
  const privateKey = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyRaw: rawPublicKey(publicKey) };
}

export function rawPublicKey(publicKey: KeyObject): Uint8Array {
  assert(publicKey.asymmetricKeyType === "ed25519", "public key is Ed25519");
  return ed25519RawPublicKey(publicKey);
}

/** The coprocessor's conversion: the same keys sign VIEW-CHANGEs and migration messages. */
export const publicKeyFromRaw = ed25519PublicKeyFromRaw;

/**
 * The node's session MAC keys by peer node id, installed from the cores' `peerKey` effects
 * (KEY-EXCHANGE). `ownKey` MACs what a node authenticates to itself (its own slot of an
 * INIT-MIGRATION authenticator): random per node memory, known to no one else.
 */
export class SessionKeyStore {
  readonly #keys = new Map<number, KeyObject>();
  readonly #own: KeyObject;

  constructor(ownKey: Uint8Array) {
    assert(ownKey.length === MAC_KEY_BYTES, "own session key has the MAC key length");
    this.#own = createSecretKey(Uint8Array.from(ownKey));
  }

  get own(): KeyObject {
    return this.#own;
  }

  get size(): number {
    return this.#keys.size;
  }

  get(nodeId: number): KeyObject | undefined {
    return this.#keys.get(nodeId);
  }

  /** Installs the key shared with `nodeId`, or removes it (null): its frames stop verifying at once. */
  set(nodeId: number, key: Uint8Array | null): void {
    assert(Number.isInteger(nodeId) && nodeId >= 0 && nodeId < PRINCIPAL_ID_LIMIT, "peer node id");
    if (key === null) {
      this.#keys.delete(nodeId);
      return;
    }
    assert(key.length === MAC_KEY_BYTES, "session key has the MAC key length");
    this.#keys.set(nodeId, createSecretKey(Uint8Array.from(key)));
  }
}
