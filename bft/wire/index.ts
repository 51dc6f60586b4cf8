/**
 * The wire layer's public surface: the message codec, key material, and Wire, which seals
 * messages into authenticated frames and opens frames into messages a core may trust.
 */
export {
  computeRequestDigest,
  sha256,
  signViewChange,
  verifyViewChange,
} from "./auth.js";
export * as wireBounds from "./bounds.js";
export {
  type DecodeResult,
  decodeMessage,
  encodedSize,
  encodeMessage,
  encodeMessageUnchecked,
  fitsInFrame,
  MESSAGE_TAGS,
  viewChangeSigningBytes,
} from "./codec.js";
export {
  createDerivedKeyRing,
  createKeyRing,
  dealKeyMaterial,
  deriveSigningKeyPair,
  type KeyMaterial,
  type KeyRing,
  MAC_KEY_BYTES,
  publicKeyFromRaw,
  rawPublicKey,
  SessionKeyStore,
  type SigningKeyPair,
  signingKeyPairFromSeed,
} from "./keys.js";
export {
  DECODE_REASONS,
  type DecodeReason,
  DROP_REASONS,
  type DropReason,
  FRAME_REASONS,
  type FrameReason,
} from "./reasons.js";
export * as wireTesting from "./testing.js";
export { validateMessage } from "./validate.js";
export {
  type Destination,
  type OpenResult,
  PEER_KEYS_MAX,
  peekReceiver,
  Wire,
  type WireOptions,
} from "./wire.js";
