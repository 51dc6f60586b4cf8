/**
 * The bytes of a checkpoint as state transfer ships them, and the digest that CHECKPOINT messages
 * certify (PBFT section 4.3: the checkpoint covers the service state and the last-reply table).
 *
 *   version u8 (1) | clientTableBytes u32 | client table | app digest (32) | appBytes u32 | app state
 *
 * stateDigest = digest(digest(client table) || app digest). The app digest travels inside the
 * state so the receiver can check the whole certified digest before touching its application, and
 * Application.snapshotDigest(app bytes) confirms the app bytes have that digest, without restoring.
 */
import { assert } from "../assert.js";
import { DIGEST_BYTES, STATE_BYTES_MAX } from "../limits.js";
import type { CoreDeps } from "./api.js";
import { bytesEqual, concatBytes } from "./bytes.js";

const STATE_VERSION = 1;
const STATE_HEADER_BYTES = 1 + 4 + DIGEST_BYTES + 4;

export interface StateParts {
  readonly clientTableBytes: Uint8Array;
  readonly appDigest: Uint8Array;
  readonly appBytes: Uint8Array;
}

export function stateDigestOf(
  clientTableBytes: Uint8Array,
  appDigest: Uint8Array,
  deps: Pick<CoreDeps, "digest">,
): Uint8Array {
  assert(appDigest.length === DIGEST_BYTES, "app digest length");
  const out = deps.digest(concatBytes([deps.digest(clientTableBytes), appDigest]));
  assert(out.length === DIGEST_BYTES, "state digest length");
  return out;
}

export function encodeState(parts: StateParts): Uint8Array {
  assert(parts.appDigest.length === DIGEST_BYTES, "app digest length");
  const totalBytes = STATE_HEADER_BYTES + parts.clientTableBytes.length + parts.appBytes.length;
  assert(totalBytes <= STATE_BYTES_MAX, "state within STATE_BYTES_MAX");
  const out = new Uint8Array(totalBytes);
  const view = new DataView(out.buffer);
  let offset = 0;
  out[offset++] = STATE_VERSION;
  view.setUint32(offset, parts.clientTableBytes.length);
  offset += 4;
  out.set(parts.clientTableBytes, offset);
  offset += parts.clientTableBytes.length;
  out.set(parts.appDigest, offset);
  offset += DIGEST_BYTES;
  view.setUint32(offset, parts.appBytes.length);
  offset += 4;
  out.set(parts.appBytes, offset);
  assert(offset + parts.appBytes.length === totalBytes, "encoding filled the buffer");
  return out;
}

/** Splits state bytes that may come from a Byzantine replica; null when malformed. */
export function decodeState(bytes: Uint8Array): StateParts | null {
  if (bytes.length < STATE_HEADER_BYTES || bytes[0] !== STATE_VERSION) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const clientTableLength = view.getUint32(1);
  const appDigestOffset = 5 + clientTableLength;
  if (appDigestOffset + DIGEST_BYTES + 4 > bytes.length) return null;
  const appLength = view.getUint32(appDigestOffset + DIGEST_BYTES);
  const appOffset = appDigestOffset + DIGEST_BYTES + 4;
  if (appOffset + appLength !== bytes.length) return null;
  return {
    clientTableBytes: bytes.subarray(5, appDigestOffset),
    appDigest: bytes.subarray(appDigestOffset, appDigestOffset + DIGEST_BYTES),
    appBytes: bytes.subarray(appOffset),
  };
}

/** True when state bytes decode and hash to the certified digest. */
export function stateMatchesDigest(
  bytes: Uint8Array,
  certifiedDigest: Uint8Array,
  deps: Pick<CoreDeps, "digest">,
): StateParts | null {
  const parts = decodeState(bytes);
  if (parts === null) return null;
  const digest = stateDigestOf(parts.clientTableBytes, parts.appDigest, deps);
  return bytesEqual(digest, certifiedDigest) ? parts : null;
}
