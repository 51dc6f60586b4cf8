/** Public surface of the secure coprocessor: the interface, verification helpers and the fake. */
export {
  type AttestationQuote,
  bytesEqual,
  type Coprocessor,
  type ExpectedQuote,
  ed25519PublicKeyFromRaw,
  ed25519RawPublicKey,
  isValidNonce,
  PKCS8_ED25519_PREFIX,
  type QuoteRejection,
  type QuoteVerdict,
  quoteSignedBytes,
  verifyQuote,
  verifySignature,
} from "./coprocessor.js";
export { Ed25519Coprocessor } from "./ed25519-coprocessor.js";
export { createFakeCoprocessorStore, FakeCoprocessor, type FakeCoprocessorStore, fakeSeed } from "./fake.js";
export {
  createX25519KeyAgreement,
  KEY_AGREEMENT_PRIVATE_KEY_BYTES,
  KEY_AGREEMENT_PUBLIC_KEY_BYTES,
  type KeyAgreement,
  type KeyAgreementKeyPair,
  SESSION_KEY_BYTES,
} from "./key-agreement.js";
export {
  CODE_DIGEST_BYTES,
  COPROCESSOR_SIGNATURE_BYTES,
  NONCE_BYTES_MAX,
  NONCE_BYTES_MIN,
  PRIVATE_SEED_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNED_BYTES_MAX,
} from "./limits.js";
