/**
 * The secure coprocessor (paper section 2; DESIGN.md section 2): it holds the node's Ed25519
 * private key and never reveals it, signs and verifies, keeps a monotonic counter that survives
 * reboot and disk swap (the `l` of JOIN-REQUEST, section 3.1), and issues attestation quotes over
 * a nonce and the digest of the read-only code mount.
 *
 * The interface is synchronous on purpose: the node implementation fsyncs the counter before
 * incrementCounter() returns, and the protocol cores call it from inside step() only through
 * effects whose results come back as inputs, or from a host. Nothing here touches the network.
 *
 * Verification needs no private key, so it is a pure function (`verifySignature`) that any
 * host, core or the CM can call; `Coprocessor.verify` exists because the paper has the
 * coprocessor do all verification, and implementations simply delegate to `verifySignature`.
 */

import { createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import {
  CODE_DIGEST_BYTES,
  COPROCESSOR_SIGNATURE_BYTES,
  NONCE_BYTES_MAX,
  NONCE_BYTES_MIN,
  PUBLIC_KEY_BYTES,
} from "./limits.js";

/** A signed statement by the coprocessor: "this code runs with this key and this counter". */
export interface AttestationQuote {
  readonly nonce: Uint8Array;
  /** The counter's current value when the quote was made (not incremented by quoting). */
  readonly counter: number;
  /** SHA-256 of the read-only code mount. */
  readonly codeDigest: Uint8Array;
  /** Raw Ed25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  /** Ed25519 over quoteSignedBytes(nonce, counter, codeDigest, publicKey). */
  readonly signature: Uint8Array;
}

export interface Coprocessor {
  /** Raw Ed25519 public key, PUBLIC_KEY_BYTES (32). Stable across reboots and disk swaps. */
  publicKey(): Uint8Array;
  /** Ed25519 signature (64 bytes) over `bytes`. Callers add their own domain tag to `bytes`. */
  sign(bytes: Uint8Array): Uint8Array;
  /** Ed25519 verification under any public key; same result as verifySignature. */
  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean;
  /** The counter's current value (0 on a fresh coprocessor). */
  counter(): number;
  /**
   * Adds one and returns the new value. Strictly monotonic across calls, reboots and disk
   * swaps: the new value is durable before this returns.
   */
  incrementCounter(): number;
  /** Signs (nonce, counter(), codeDigest, publicKey) with the node key. */
  quote(nonce: Uint8Array): AttestationQuote;
}

/** Domain tag for quotes, so a quote signature can never be replayed as a protocol signature. */
const QUOTE_DOMAIN = new TextEncoder().encode("migrate-bft/attestation-quote/v1\0");

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw key follows. */
const SPKI_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);
/** DER prefix of an Ed25519 PKCS#8 PrivateKeyInfo (RFC 8410); the raw 32-byte seed follows. */
export const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** A node:crypto public key from a raw 32-byte Ed25519 key. */
export function ed25519PublicKeyFromRaw(publicKey: Uint8Array): KeyObject {
  assert(publicKey.length === PUBLIC_KEY_BYTES, "raw Ed25519 public key is 32 bytes");
  const der = new Uint8Array(SPKI_ED25519_PREFIX.length + PUBLIC_KEY_BYTES);
  der.set(SPKI_ED25519_PREFIX, 0);
  der.set(publicKey, SPKI_ED25519_PREFIX.length);
  return createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" });
}

/** The raw 32-byte Ed25519 public key of a node:crypto key object (public or private). */
export function ed25519RawPublicKey(key: KeyObject): Uint8Array {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const der = publicKey.export({ format: "der", type: "spki" });
  assert(der.length === SPKI_ED25519_PREFIX.length + PUBLIC_KEY_BYTES, "Ed25519 SPKI length");
  return new Uint8Array(der.subarray(SPKI_ED25519_PREFIX.length));
}

/**
 * Public keys verifySignature has used, by raw key: building a KeyObject costs more than the
 * verification itself (node:crypto parses the DER each time), and the keys a process checks are
 * few (its roster's nodes and CM replicas). Bounded: emptied when full, so a peer sending ever new
 * keys costs time, never memory.
 */
const publicKeyCache = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_ENTRIES_MAX = 1024;

function cachedPublicKey(publicKey: Uint8Array): KeyObject {
  const name = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("hex");
  let key = publicKeyCache.get(name);
  if (key === undefined) {
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_ENTRIES_MAX) publicKeyCache.clear();
    key = ed25519PublicKeyFromRaw(publicKey);
    publicKeyCache.set(name, key);
  }
  return key;
}

/**
 * Ed25519 verification under a raw public key. Never throws on what a peer sent: a key or
 * signature of the wrong length, or a key that is not a curve point, is simply `false`.
 */
export function verifySignature(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES) return false;
  if (signature.length !== COPROCESSOR_SIGNATURE_BYTES) return false;
  try {
    return cryptoVerify(null, bytes, cachedPublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

/**
 * The bytes a quote's signature covers: domain tag, nonce length (u8), nonce, counter (u64 BE),
 * code digest, public key. Fixed layout so the node and the verifier agree without a codec.
 */
export function quoteSignedBytes(fields: Omit<AttestationQuote, "signature">): Uint8Array {
  assert(fields.nonce.length <= 255, "quote nonce length fits one byte");
  assert(Number.isSafeInteger(fields.counter) && fields.counter >= 0, "quote counter is a safe integer");
  const length =
    QUOTE_DOMAIN.length + 1 + fields.nonce.length + 8 + fields.codeDigest.length + fields.publicKey.length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let offset = 0;
  out.set(QUOTE_DOMAIN, offset);
  offset += QUOTE_DOMAIN.length;
  out[offset] = fields.nonce.length;
  offset += 1;
  out.set(fields.nonce, offset);
  offset += fields.nonce.length;
  view.setBigUint64(offset, BigInt(fields.counter));
  offset += 8;
  out.set(fields.codeDigest, offset);
  offset += fields.codeDigest.length;
  out.set(fields.publicKey, offset);
  offset += fields.publicKey.length;
  assert(offset === length, "quote layout filled exactly");
  return out;
}

/** Checks a nonce before quoting it; hosts call this on nonces they received. */
export function isValidNonce(nonce: Uint8Array): boolean {
  return nonce.length >= NONCE_BYTES_MIN && nonce.length <= NONCE_BYTES_MAX;
}

export type QuoteRejection =
  | "malformed"
  | "publicKeyMismatch"
  | "codeDigestMismatch"
  | "nonceMismatch"
  | "badSignature";

export type QuoteVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: QuoteRejection };

export interface ExpectedQuote {
  /** The node's registered public key. */
  readonly publicKey: Uint8Array;
  /** The digest of the pristine code mount. */
  readonly codeDigest: Uint8Array;
  /** The nonce the verifier chose for this challenge. */
  readonly nonce: Uint8Array;
}

/**
 * Checks a quote against what the verifier expects. The quote came from a possibly compromised
 * node, so every field is validated and a failure is a verdict, never a throw.
 */
export function verifyQuote(quote: AttestationQuote, expected: ExpectedQuote): QuoteVerdict {
  if (
    !isValidNonce(quote.nonce) ||
    quote.codeDigest.length !== CODE_DIGEST_BYTES ||
    quote.publicKey.length !== PUBLIC_KEY_BYTES ||
    quote.signature.length !== COPROCESSOR_SIGNATURE_BYTES ||
    !Number.isSafeInteger(quote.counter) ||
    quote.counter < 0
  ) {
    return { ok: false, reason: "malformed" };
  }
  if (!bytesEqual(quote.publicKey, expected.publicKey)) return { ok: false, reason: "publicKeyMismatch" };
  if (!bytesEqual(quote.codeDigest, expected.codeDigest)) return { ok: false, reason: "codeDigestMismatch" };
  if (!bytesEqual(quote.nonce, expected.nonce)) return { ok: false, reason: "nonceMismatch" };
  if (!verifySignature(quote.publicKey, quoteSignedBytes(quote), quote.signature)) {
    return { ok: false, reason: "badSignature" };
  }
  return { ok: true };
}

export { bytesEqual };
