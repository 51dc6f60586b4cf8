/**
 * X25519 key agreement for KEY-EXCHANGE (paper section 3.1; docs/migration.md, "Key exchange").
 *
 * The protocol cores hold key-agreement private keys in their state but never make one or do the
 * curve math themselves: key generation needs randomness and the math is node:crypto's, so both
 * come through this injected interface and the cores stay pure. X25519 is deterministic given the
 * private key, so the simulator makes private keys from its seed (`createX25519KeyAgreement` with
 * a seeded byte source) and a run reproduces every exchanged key; a node uses `randomBytes`.
 *
 * The pair's MAC key is HKDF-SHA256 over the shared secret, with `info` naming the exchange
 * (both nodes, their counters and both public keys; keyExchangeKeyInfo in the migration layer), so
 * the same two key-agreement keys can never yield the same MAC key for another pair or exchange.
 */
import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from "node:crypto";
import { assert } from "../assert.js";

export const KEY_AGREEMENT_PRIVATE_KEY_BYTES = 32;
export const KEY_AGREEMENT_PUBLIC_KEY_BYTES = 32;
export const SESSION_KEY_BYTES = 32;

export interface KeyAgreementKeyPair {
  /** Raw X25519 private key; stays in the core that made it. */
  readonly privateKey: Uint8Array;
  /** Raw X25519 public key, sent in KEY-EXCHANGE. */
  readonly publicKey: Uint8Array;
}

export interface KeyAgreement {
  /** A fresh key pair (one per exchange). */
  generateKeyPair(): KeyAgreementKeyPair;
  /**
   * HKDF-SHA256(X25519(privateKey, peerPublicKey), info) of SESSION_KEY_BYTES. Null when the
   * peer's key is not usable (wrong length, or a low-order point giving an all-zero secret): the
   * peer is Byzantine or the message was mangled, never an assertion.
   */
  deriveKey(privateKey: Uint8Array, peerPublicKey: Uint8Array, info: Uint8Array): Uint8Array | null;
}

/** PKCS#8 wrapping of a raw X25519 private key (RFC 8410, id-X25519 = 1.3.101.110). */
const X25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);
/** SubjectPublicKeyInfo wrapping of a raw X25519 public key (RFC 8410). */
const X25519_SPKI_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
]);
/** Key-agreement private keys kept parsed per source (one per exchange in flight, a few per peer). */
const PRIVATE_KEY_CACHE_ENTRIES_MAX = 256;
const SESSION_SALT = new TextEncoder().encode("migrate-bft/session-mac/v1");

function privateKeyFromRaw(raw: Uint8Array): KeyObject {
  const der = new Uint8Array(X25519_PKCS8_PREFIX.length + raw.length);
  der.set(X25519_PKCS8_PREFIX, 0);
  der.set(raw, X25519_PKCS8_PREFIX.length);
  return createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  const der = new Uint8Array(X25519_SPKI_PREFIX.length + raw.length);
  der.set(X25519_SPKI_PREFIX, 0);
  der.set(raw, X25519_SPKI_PREFIX.length);
  return createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" });
}

function rawPublicKeyOf(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  assert(der.length === X25519_SPKI_PREFIX.length + KEY_AGREEMENT_PUBLIC_KEY_BYTES, "X25519 SPKI length");
  return new Uint8Array(der.subarray(X25519_SPKI_PREFIX.length));
}

/**
 * X25519 with private keys from `randomBytes(32)`: node:crypto's randomBytes on a node, a seeded
 * generator in the simulator (any 32 bytes are a valid X25519 private key; RFC 7748 clamps them).
 */
export function createX25519KeyAgreement(randomBytes: (length: number) => Uint8Array): KeyAgreement {
  // The KeyObjects of the private keys this source made, by raw key, for deriveKey: parsing the
  // PKCS#8 again costs more than the curve math. Bounded: emptied when full (a miss re-parses).
  const privateKeys = new Map<string, KeyObject>();
  const privateKeyObject = (raw: Uint8Array): KeyObject =>
    privateKeys.get(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("hex")) ??
    privateKeyFromRaw(raw);
  return {
    generateKeyPair(): KeyAgreementKeyPair {
      const privateKey = Uint8Array.from(randomBytes(KEY_AGREEMENT_PRIVATE_KEY_BYTES));
      assert(privateKey.length === KEY_AGREEMENT_PRIVATE_KEY_BYTES, "random source gave 32 bytes");
      const keyObject = privateKeyFromRaw(privateKey);
      if (privateKeys.size >= PRIVATE_KEY_CACHE_ENTRIES_MAX) privateKeys.clear();
      privateKeys.set(Buffer.from(privateKey).toString("hex"), keyObject);
      return { privateKey, publicKey: rawPublicKeyOf(keyObject) };
    },
    deriveKey(privateKey, peerPublicKey, info): Uint8Array | null {
      assert(privateKey.length === KEY_AGREEMENT_PRIVATE_KEY_BYTES, "own private key is 32 bytes");
      if (peerPublicKey.length !== KEY_AGREEMENT_PUBLIC_KEY_BYTES) return null;
      let secret: Uint8Array;
      try {
        secret = new Uint8Array(
          diffieHellman({
            privateKey: privateKeyObject(privateKey),
            publicKey: publicKeyFromRaw(peerPublicKey),
          }),
        );
      } catch {
        // OpenSSL refuses a low-order peer point (all-zero shared secret).
        return null;
      }
      if (secret.every((byte) => byte === 0)) return null;
      return new Uint8Array(hkdfSync("sha256", secret, SESSION_SALT, info, SESSION_KEY_BYTES));
    },
  };
}
