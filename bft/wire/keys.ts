/**
 * Key material for the wire layer.
 *
 * Two kinds of MAC keys:
 *
 * - Derived (bootstrap) keys: the MAC key of a pair of principals is HKDF-SHA256(clusterSecret,
 *   info = the unordered pair), and a replica's Ed25519 key pair comes from an HKDF-derived seed,
 *   so the simulator reproduces them from its seed. Every holder of the cluster secret, including
 *   a retired and possibly compromised node, can compute every derived key. So between nodes they
 *   only carry traffic that is authenticated otherwise or needs no secrecy of origin: the JOIN flow
 *   and KEY-EXCHANGE, MIGRATE-NOW and NEW-MEMBERSHIP (all coprocessor-signed and verified by the
 *   receiving core; JOIN-APPROVED is unsigned, see docs/migration.md). Clients and the CM keep
 *   derived keys for all their traffic (docs/migration.md says why).
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

export function createDerivedKeyRing(options: { clusterSecret: Uint8Array; self: Principal }): KeyRing {
  const { clusterSecret, self } = options;
  assert(clusterSecret.length >= CLUSTER_SECRET_BYTES_MIN, "cluster secret is long enough");
  assert(isValidPrincipal(self), "key ring owner is a valid principal");
  const secret = Uint8Array.from(clusterSecret);
  return {
    macKey(peer: Principal): Uint8Array {
      assert(isValidPrincipal(peer), "MAC key peer is a valid principal");
      const key = new Uint8Array(hkdfSync("sha256", secret, MAC_SALT, pairInfo(self, peer), MAC_KEY_BYTES));
      assert(key.length === MAC_KEY_BYTES, "derived MAC key has its length");
      return key;
    },
  };
}

export interface SigningKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The 32-byte raw public key, as replicaPublicKeys accepts it. */
  readonly publicKeyRaw: Uint8Array;
}

/** Deterministic Ed25519 key pair of a replica (bootstrap scheme, see the module comment). */
export function deriveSigningKeyPair(clusterSecret: Uint8Array, replicaId: number): SigningKeyPair {
  assert(clusterSecret.length >= CLUSTER_SECRET_BYTES_MIN, "cluster secret is long enough");
  assert(Number.isInteger(replicaId) && replicaId >= 0 && replicaId < REPLICAS_MAX, "replica id in range");
  const seed = new Uint8Array(
    hkdfSync(
      "sha256",
      Uint8Array.from(clusterSecret),
      SIGNING_SALT,
      Uint8Array.of(replicaId),
      ED25519_SEED_BYTES,
    ),
  );
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
