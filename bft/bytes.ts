/**
 * Byte helpers shared by the cores. Digests are compared on every vote, so a short compare is a
 * tight loop over the digest rather than a call into native code.
 */
import { assert } from "./assert.js";

/**
 * From this length on bytesEqual calls the native compare (memcmp): a client compares 1 KiB
 * results on every reply, where the loop cost more than the call (8% of a client's CPU).
 */
const NATIVE_COMPARE_MIN_BYTES = 128;

export function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.length !== right.length) return false;
  if (left.length >= NATIVE_COMPARE_MIN_BYTES) return Buffer.compare(left, right) === 0;
  for (let index = 0; index < left.length; index++) {
    if (left[index] !== right[index]) return false;
  }
  return true;
}

/** Orders digests bytewise; used only to break ties deterministically. */
export function bytesCompare(left: Uint8Array, right: Uint8Array): number {
  const length = Math.min(left.length, right.length);
  for (let index = 0; index < length; index++) {
    const delta = left[index]! - right[index]!;
    if (delta !== 0) return delta;
  }
  return left.length - right.length;
}

/** A map key for a digest. Only used where a digest keys a small map (batches of a VIEW-CHANGE). */
export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** The inverse of hexOf; the caller checks that `hex` is an even-length lowercase hex string. */
export function bytesOfHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let totalBytes = 0;
  for (const part of parts) totalBytes += part.length;
  const out = new Uint8Array(totalBytes);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  assert(offset === totalBytes, "concat filled the buffer");
  return out;
}
