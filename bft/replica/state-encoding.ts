/**
 * The bytes of a checkpoint as state transfer ships them, and the digest that CHECKPOINT messages
 * certify (PBFT section 4.3: the checkpoint covers the service state and the last-reply table;
 * migration paper section 3.2: "both the application and the BFT middleware state", which here is
 * the migration number, the membership and the standby registry, see middleware.ts).
 *
 *   version u8 (2) | clientTableBytes u32 | client table | app digest (32) |
 *     middlewareBytes u32 | middleware | appBytes u32 | app state
 *
 * stateDigest = digest(digest(client table) || app digest || digest(middleware)). The app digest
 * travels inside the state so the receiver can check the whole certified digest before touching
 * its application, and Application.snapshotDigest(app bytes) confirms the app bytes have that
 * digest, without restoring.
 */
import { assert } from "../assert.js";
import { bytesEqual, concatBytes } from "../bytes.js";
import { DIGEST_BYTES, STATE_BYTES_MAX } from "../limits.js";
import type { CoreDeps } from "./api.js";

const STATE_VERSION = 2;
const STATE_HEADER_BYTES = 1 + 4 + DIGEST_BYTES + 4 + 4;

export interface StateParts {
  readonly clientTableBytes: Uint8Array;
  readonly appDigest: Uint8Array;
  /** Replicated middleware state (empty when migration is off). */
  readonly middlewareBytes: Uint8Array;
  readonly appBytes: Uint8Array;
}

export function stateDigestOf(
  parts: Omit<StateParts, "appBytes">,
  deps: Pick<CoreDeps, "digest">,
): Uint8Array {
  assert(parts.appDigest.length === DIGEST_BYTES, "app digest length");
  const out = deps.digest(
    concatBytes([deps.digest(parts.clientTableBytes), parts.appDigest, deps.digest(parts.middlewareBytes)]),
  );
  assert(out.length === DIGEST_BYTES, "state digest length");
  return out;
}

export function encodeState(parts: StateParts): Uint8Array {
  assert(parts.appDigest.length === DIGEST_BYTES, "app digest length");
  const totalBytes =
    STATE_HEADER_BYTES + parts.clientTableBytes.length + parts.middlewareBytes.length + parts.appBytes.length;
  assert(totalBytes <= STATE_BYTES_MAX, "state within STATE_BYTES_MAX");
  const out = new Uint8Array(totalBytes);
  const view = new DataView(out.buffer);
  let offset = 0;
  out[offset++] = STATE_VERSION;
  const section = (bytes: Uint8Array): void => {
    view.setUint32(offset, bytes.length);
    offset += 4;
    out.set(bytes, offset);
    offset += bytes.length;
  };
  section(parts.clientTableBytes);
  out.set(parts.appDigest, offset);
  offset += DIGEST_BYTES;
  section(parts.middlewareBytes);
  section(parts.appBytes);
  assert(offset === totalBytes, "encoding filled the buffer");
  return out;
}

/** Splits state bytes that may come from a Byzantine replica; null when malformed. */
export function decodeState(bytes: Uint8Array): StateParts | null {
  if (bytes.length < STATE_HEADER_BYTES || bytes[0] !== STATE_VERSION) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 1;
  const section = (): Uint8Array | null => {
    if (offset + 4 > bytes.length) return null;
    const length = view.getUint32(offset);
    offset += 4;
    if (offset + length > bytes.length) return null;
    const out = bytes.subarray(offset, offset + length);
    offset += length;
    return out;
  };
  const clientTableBytes = section();
  if (clientTableBytes === null || offset + DIGEST_BYTES > bytes.length) return null;
  const appDigest = bytes.subarray(offset, offset + DIGEST_BYTES);
  offset += DIGEST_BYTES;
  const middlewareBytes = section();
  const appBytes = section();
  if (middlewareBytes === null || appBytes === null || offset !== bytes.length) return null;
  return { clientTableBytes, appDigest, middlewareBytes, appBytes };
}

/** The parts when state bytes decode and hash to the certified digest, else null. */
export function stateMatchesDigest(
  bytes: Uint8Array,
  certifiedDigest: Uint8Array,
  deps: Pick<CoreDeps, "digest">,
): StateParts | null {
  const parts = decodeState(bytes);
  if (parts === null) return null;
  const digest = stateDigestOf(parts, deps);
  return bytesEqual(digest, certifiedDigest) ? parts : null;
}
