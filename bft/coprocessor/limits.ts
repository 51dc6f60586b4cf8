/**
 * Sizes of everything the coprocessor produces or accepts. Relationships are asserted at load.
 */
import { assert } from "../assert.js";
import { DIGEST_BYTES, SIGNATURE_BYTES } from "../limits.js";

/** Raw Ed25519 public key (RFC 8032). */
export const PUBLIC_KEY_BYTES = 32;
/** Raw Ed25519 private seed (RFC 8032). Never leaves the coprocessor on a real node. */
export const PRIVATE_SEED_BYTES = 32;
/** Ed25519 signature. */
export const COPROCESSOR_SIGNATURE_BYTES = 64;
/** An attestation nonce: long enough to be unguessable, short enough to bound the quote. */
export const NONCE_BYTES_MIN = 16;
export const NONCE_BYTES_MAX = 64;
/** The code digest in a quote is a SHA-256 of the read-only code mount. */
export const CODE_DIGEST_BYTES = DIGEST_BYTES;
/** Bytes one sign() call accepts; the largest thing signed is a migration message body. */
export const SIGNED_BYTES_MAX = 1024 * 1024;

// The coprocessor's signatures travel in the same fields as the replicas' view-change signatures.
assert(COPROCESSOR_SIGNATURE_BYTES === SIGNATURE_BYTES, "coprocessor signatures are wire signatures");
assert(NONCE_BYTES_MIN <= NONCE_BYTES_MAX, "nonce bounds are ordered");
