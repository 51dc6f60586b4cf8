/**
 * What every coprocessor shares, whatever keeps its key and counter: Ed25519 signing with a key
 * that never leaves it, verification, and attestation quotes over a nonce, the counter and the
 * code digest. The simulator's fake and the node agent's coprocessor differ only in where the key
 * and the counter live (memory that survives a simulated reboot, or an fsync'ed volume).
 */
import { sign as cryptoSign, type KeyObject } from "node:crypto";
import { assert } from "../assert.js";
import {
  type AttestationQuote,
  type Coprocessor,
  ed25519RawPublicKey,
  isValidNonce,
  quoteSignedBytes,
  verifySignature,
} from "./coprocessor.js";
import { SIGNED_BYTES_MAX } from "./limits.js";

export abstract class Ed25519Coprocessor implements Coprocessor {
  readonly #privateKey: KeyObject;
  readonly #publicKey: Uint8Array;

  protected constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    this.#publicKey = ed25519RawPublicKey(privateKey);
  }

  abstract counter(): number;
  abstract incrementCounter(): number;
  /** SHA-256 of the read-only code the node runs. */
  abstract codeDigest(): Uint8Array;

  publicKey(): Uint8Array {
    return Uint8Array.from(this.#publicKey);
  }

  sign(bytes: Uint8Array): Uint8Array {
    assert(bytes.length <= SIGNED_BYTES_MAX, "signed bytes within SIGNED_BYTES_MAX");
    return new Uint8Array(cryptoSign(null, bytes, this.#privateKey));
  }

  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
    return verifySignature(publicKey, bytes, signature);
  }

  quote(nonce: Uint8Array): AttestationQuote {
    assert(isValidNonce(nonce), "quote nonce within NONCE_BYTES_MIN..NONCE_BYTES_MAX");
    const fields = {
      nonce: Uint8Array.from(nonce),
      counter: this.counter(),
      codeDigest: this.codeDigest(),
      publicKey: this.publicKey(),
    };
    return { ...fields, signature: this.sign(quoteSignedBytes(fields)) };
  }
}
