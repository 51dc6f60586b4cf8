/**
 * MACs, authenticators and VIEW-CHANGE signatures (PBFT, TOCS 2002, section 3.2: authenticators
 * replace signatures on the normal path; signatures remain where a message is forwarded).
 *
 * A MAC is HMAC-SHA256 truncated to MAC_BYTES. A request or INIT-MIGRATION authenticator covers a
 * domain tag and a SHA-256 digest: the digest is needed anyway (a request's names it in batches)
 * and each of the n entries then MACs a short input. A frame MAC covers the frame's header and
 * body directly (wire.ts): one HMAC pass instead of a SHA-256 and an HMAC, since each node:crypto
 * call costs a few microseconds and a native handle whatever it hashes (docs/protocol.md,
 * Performance notes). The first byte of every MAC input keeps the domains apart under one key:
 * a frame starts with FRAME_VERSION, which no authenticator tag equals.
 */
import { createHmac, hash, type KeyObject, sign, verify } from "node:crypto";
import { assert } from "../assert.js";
import { DIGEST_BYTES, MAC_BYTES, OPERATION_BYTES_MAX, SIGNATURE_BYTES } from "../limits.js";
import type { Request, ViewChange } from "../messages.js";
import { FRAME_VERSION } from "./bounds.js";
import { viewChangeSigningBytes } from "./codec.js";
import { type HmacPads, hmacInto, hmacPads, LONG_INPUT_BYTES_MAX } from "./hmac.js";

const REQUEST_MAC_TAG = 2;
const INIT_MIGRATION_MAC_TAG = 3;
assert(
  ![REQUEST_MAC_TAG, INIT_MIGRATION_MAC_TAG].includes(FRAME_VERSION),
  "a frame MAC input never starts like an authenticator entry's",
);
/** tag u8 + request digest. */
export const REQUEST_MAC_INPUT_BYTES = 1 + DIGEST_BYTES;

/** A plain Uint8Array view of a Buffer, so results compare equal to decoded fields. */
function plain(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * One-shot SHA-256 (crypto.hash): no Hash object per call, which costs more than hashing a
 * kilobyte (docs/protocol.md, Performance notes, third round).
 */
export function sha256(bytes: Uint8Array): Uint8Array {
  return plain(hash("sha256", bytes, "buffer"));
}

/** What an INIT-MIGRATION authenticator entry covers: a tag and the digest of its fields. */
export function initMigrationMacInput(fieldsDigest: Uint8Array): Uint8Array {
  assert(fieldsDigest.length === DIGEST_BYTES, "init-migration digest has DIGEST_BYTES");
  const input = new Uint8Array(REQUEST_MAC_INPUT_BYTES);
  input[0] = INIT_MIGRATION_MAC_TAG;
  input.set(fieldsDigest, 1);
  return input;
}

/** Reused by requestMacInput: an entry's input is MACed at once and never kept. */
const requestMacInputScratch = new Uint8Array(REQUEST_MAC_INPUT_BYTES);

/**
 * What a request authenticator entry covers: a tag and the request digest. Returns a scratch
 * buffer that the next call overwrites: MAC it at once (authenticating or checking a request
 * runs synchronously), never keep it.
 */
export function requestMacInput(requestDigest: Uint8Array): Uint8Array {
  assert(requestDigest.length === DIGEST_BYTES, "request digest has DIGEST_BYTES");
  const input = requestMacInputScratch;
  input[0] = REQUEST_MAC_TAG;
  input.set(requestDigest, 1);
  return input;
}

/**
 * Each key's HMAC pads, made on its first MAC (hmac.ts). Keyed by the KeyObject, which
 * the wire makes once per peer and session: a renewed key is a new KeyObject with its own pads, and
 * a dropped one takes its pads with it.
 */
const padsByKey = new WeakMap<KeyObject, HmacPads>();

function padsOf(key: KeyObject): HmacPads {
  const cached = padsByKey.get(key);
  if (cached !== undefined) return cached;
  const pads = hmacPads(key.export());
  padsByKey.set(key, pads);
  return pads;
}

/**
 * Writes the truncated MAC of `input` under `key` into target[offset, offset + MAC_BYTES): from
 * the key's pads (hmac.ts), or a node:crypto Hmac for inputs past LONG_INPUT_BYTES_MAX.
 */
export function macInto(key: KeyObject, input: Uint8Array, target: Uint8Array, offset: number): void {
  assert(offset + MAC_BYTES <= target.length, "MAC slot inside the target");
  if (input.length <= LONG_INPUT_BYTES_MAX) {
    hmacInto(padsOf(key), input, target, offset, MAC_BYTES);
    return;
  }
  const full = createHmac("sha256", key).update(input).digest();
  // A byte loop: subarray() of the digest Buffer would allocate a view per MAC.
  for (let index = 0; index < MAC_BYTES; index++) target[offset + index] = full[index] as number;
}

/** The MAC macMatches compares against; used synchronously only. */
const expectedScratch = new Uint8Array(MAC_BYTES);

/**
 * Constant-time check of macs[offset, offset + MAC_BYTES) against the MAC of `input`: every byte
 * is compared, with no branch on their values (what timingSafeEqual does, without the two views
 * and the native call it needs per MAC).
 */
export function macMatches(key: KeyObject, input: Uint8Array, macs: Uint8Array, offset: number): boolean {
  if (offset < 0 || offset + MAC_BYTES > macs.length) return false;
  const expected = expectedScratch;
  macInto(key, input, expected, 0);
  let difference = 0;
  for (let index = 0; index < MAC_BYTES; index++)
    difference |= (expected[index] as number) ^ (macs[offset + index] as number);
  return difference === 0;
}

/** clientId u32 + timestamp u64, ahead of the operation in a request digest's input. */
const REQUEST_DIGEST_HEADER_BYTES = 12;
/**
 * Scratch for a request digest's input, grown up to the largest operation: one one-shot hash over
 * a copy is cheaper than a Hash object fed twice (the copy of 1 KiB costs far less than the object).
 * Only used synchronously inside computeRequestDigest.
 */
let requestDigestScratch = Buffer.allocUnsafe(REQUEST_DIGEST_HEADER_BYTES + 4096);

/** SHA-256 over clientId u32, timestamp u64 and the operation: what a client's authenticator covers. */
export function computeRequestDigest(
  request: Pick<Request, "clientId" | "timestamp" | "operation">,
): Uint8Array {
  const operation = request.operation;
  assert(operation.length <= OPERATION_BYTES_MAX, "operation within OPERATION_BYTES_MAX");
  const inputBytes = REQUEST_DIGEST_HEADER_BYTES + operation.length;
  if (requestDigestScratch.length < inputBytes) requestDigestScratch = Buffer.allocUnsafe(inputBytes);
  const scratch = requestDigestScratch;
  scratch.writeUInt32BE(request.clientId, 0);
  scratch.writeUInt32BE(Math.floor(request.timestamp / 2 ** 32), 4);
  scratch.writeUInt32BE(request.timestamp % 2 ** 32, 8);
  scratch.set(operation, REQUEST_DIGEST_HEADER_BYTES);
  const digest = plain(hash("sha256", scratch.subarray(0, inputBytes), "buffer"));
  assert(digest.length === DIGEST_BYTES, "request digest has DIGEST_BYTES");
  return digest;
}

export function signViewChange(privateKey: KeyObject, viewChange: Omit<ViewChange, "signature">): Uint8Array {
  assert(privateKey.asymmetricKeyType === "ed25519", "signing key is Ed25519");
  const signature = plain(sign(null, viewChangeSigningBytes(viewChange), privateKey));
  assert(signature.length === SIGNATURE_BYTES, "Ed25519 signature has SIGNATURE_BYTES");
  return signature;
}

/** False on a bad signature; the message must already be structurally valid (decoded). */
export function verifyViewChange(publicKey: KeyObject, viewChange: ViewChange): boolean {
  if (viewChange.signature.length !== SIGNATURE_BYTES) return false;
  return verify(null, viewChangeSigningBytes(viewChange), publicKey, viewChange.signature);
}
