/**
 * HMAC-SHA256 (RFC 2104, FIPS 180-4) from pads hashed once per key, without a node:crypto Hmac
 * object per MAC.
 *
 * Why: a node:crypto HMAC costs 3 to 6 us whatever it hashes (a native Hmac object, three calls
 * across the binding, a handle for the garbage collector), while hashing one 64-byte block in
 * optimized JavaScript costs about half a microsecond. Under a key whose padded blocks were
 * hashed once:
 * - a short input (up to SHORT_INPUT_BYTES_MAX) is two to four block compressions in JavaScript:
 *   the inner hash continues from the ipad state over the input, the outer hash from the opad
 *   state over the inner digest. Most MACs PBFT computes are short (an authenticator entry covers
 *   33 bytes; a PREPARE or COMMIT frame under a hundred).
 * - a longer one (a 1 KiB REPLY or REQUEST frame, a PRE-PREPARE) takes one one-shot native hash
 *   (crypto.hash) of the ipad block and the input copied behind it, and the outer hash in
 *   JavaScript from the opad state: one call across the binding instead of three and no object
 *   (docs/protocol.md, Performance notes, sixth round). Past LONG_INPUT_BYTES_MAX the caller uses
 *   node:crypto's Hmac, whose fixed cost no longer matters, so the copy buffer stays small.
 *
 * Timing: SHA-256 is additions, rotations and boolean operations on 32-bit words, with no table
 * indexed by key or data, so neither the key nor the input steers a branch or a memory address.
 *
 * Not reentrant: the scratch state below is module-level; every call runs to completion
 * synchronously.
 */
import { hash } from "node:crypto";
import { assert } from "../assert.js";

const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;
/** Length field and the 0x80 marker that SHA-256 padding appends. */
const PADDING_BYTES_MIN = 9;
/**
 * Longest input the JavaScript path takes: three inner blocks and one outer block. Past this,
 * node:crypto's fixed cost is amortized and its native block function wins (measured in the fifth
 * round of docs/protocol.md's notes: about equal at 200 bytes, native twice as fast at 1 KiB).
 */
export const SHORT_INPUT_BYTES_MAX = 3 * BLOCK_BYTES - PADDING_BYTES_MIN;
/**
 * Longest input hmacInto takes: a PRE-PREPARE of REQUEST_BATCH_MAX requests of 1 KiB fits. Longer
 * frames (state-transfer chunks, large operations) go to node:crypto, whose fixed cost is small
 * beside hashing them, and the copy buffer never grows past this.
 */
export const LONG_INPUT_BYTES_MAX = 128 * 1024;

// biome-ignore format: the 64 round constants of FIPS 180-4, section 4.2.2, eight per line
const ROUND_CONSTANTS = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// biome-ignore format: FIPS 180-4, section 5.3.3
const INITIAL_STATE = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/**
 * A key's padded inner block (for the one-shot path), and its inner and outer chaining values:
 * the SHA-256 state after its ipad and opad blocks.
 */
export interface HmacPads {
  readonly innerBlock: Uint8Array;
  readonly inner: Int32Array;
  readonly outer: Int32Array;
}

/** Hashes the key's two padded blocks once; every MAC under the key starts from these states. */
export function hmacPads(key: Uint8Array): HmacPads {
  // RFC 2104: a key longer than a block is replaced by its digest.
  const material = key.length > BLOCK_BYTES ? hash("sha256", key, "buffer") : key;
  const innerBlock = new Uint8Array(BLOCK_BYTES).fill(0x36);
  const outerBlock = new Uint8Array(BLOCK_BYTES).fill(0x5c);
  for (let index = 0; index < material.length; index++) {
    innerBlock[index] = (innerBlock[index] as number) ^ (material[index] as number);
    outerBlock[index] = (outerBlock[index] as number) ^ (material[index] as number);
  }
  const inner = new Int32Array(INITIAL_STATE);
  const outer = new Int32Array(INITIAL_STATE);
  compress(inner, innerBlock, 0);
  compress(outer, outerBlock, 0);
  return { innerBlock, inner, outer };
}

const schedule = new Int32Array(64);
const state = new Int32Array(8);
/** The last one or two blocks of a message: its tail, the 0x80 marker, zeros and the bit length. */
const tail = new Uint8Array(2 * BLOCK_BYTES);
const innerDigest = new Uint8Array(DIGEST_BYTES);

/** The ipad block and a long input behind it, for the one-shot inner hash; grown on demand. */
let longInput = new Uint8Array(BLOCK_BYTES + 2048);

/**
 * Writes the first `macBytes` bytes of HMAC-SHA256(key, input) into target[offset, offset +
 * macBytes), `pads` being hmacPads(key). Inputs up to LONG_INPUT_BYTES_MAX only.
 */
export function hmacInto(
  pads: HmacPads,
  input: Uint8Array,
  target: Uint8Array,
  offset: number,
  macBytes: number,
): void {
  assert(input.length <= LONG_INPUT_BYTES_MAX, "HMAC input within LONG_INPUT_BYTES_MAX");
  assert(macBytes <= DIGEST_BYTES && offset + macBytes <= target.length, "MAC slot inside the target");
  if (input.length <= SHORT_INPUT_BYTES_MAX) {
    hashAfterBlock(pads.inner, input, input.length);
    writeState(innerDigest, 0, DIGEST_BYTES);
    hashAfterBlock(pads.outer, innerDigest, DIGEST_BYTES);
  } else {
    const inputBytes = BLOCK_BYTES + input.length;
    if (longInput.length < inputBytes) longInput = new Uint8Array(inputBytes);
    longInput.set(pads.innerBlock, 0);
    longInput.set(input, BLOCK_BYTES);
    // Copied into innerDigest so compress() only ever reads plain Uint8Arrays (one map, not two).
    innerDigest.set(hash("sha256", longInput.subarray(0, inputBytes), "buffer"));
    hashAfterBlock(pads.outer, innerDigest, DIGEST_BYTES);
  }
  writeState(target, offset, macBytes);
}

/**
 * Leaves in `state` the SHA-256 of (one block already compressed into `start`) || bytes[0, length):
 * whole blocks straight from `bytes`, then the padded tail.
 */
function hashAfterBlock(start: Int32Array, bytes: Uint8Array, length: number): void {
  state.set(start);
  let position = 0;
  for (; length - position >= BLOCK_BYTES; position += BLOCK_BYTES) compress(state, bytes, position);
  const rest = length - position;
  tail.fill(0);
  for (let index = 0; index < rest; index++) tail[index] = bytes[position + index] as number;
  tail[rest] = 0x80;
  const tailBytes = rest + PADDING_BYTES_MIN <= BLOCK_BYTES ? BLOCK_BYTES : 2 * BLOCK_BYTES;
  // Bit length of the whole message, the key's block included; under 2^32 bits here.
  const bits = (BLOCK_BYTES + length) * 8;
  tail[tailBytes - 4] = bits >>> 24;
  tail[tailBytes - 3] = (bits >>> 16) & 0xff;
  tail[tailBytes - 2] = (bits >>> 8) & 0xff;
  tail[tailBytes - 1] = bits & 0xff;
  compress(state, tail, 0);
  if (tailBytes === 2 * BLOCK_BYTES) compress(state, tail, BLOCK_BYTES);
}

/** Big-endian bytes of `state`, the first `count` of them, into target at offset. */
function writeState(target: Uint8Array, offset: number, count: number): void {
  for (let index = 0; index < count; index++) {
    const word = state[index >>> 2] as number;
    target[offset + index] = (word >>> (24 - 8 * (index & 3))) & 0xff;
  }
}

/** The SHA-256 compression function (FIPS 180-4, section 6.2.2) over bytes[at, at + 64). */
function compress(chaining: Int32Array, bytes: Uint8Array, at: number): void {
  const w = schedule;
  for (let index = 0; index < 16; index++) {
    const byte = at + 4 * index;
    w[index] =
      ((bytes[byte] as number) << 24) |
      ((bytes[byte + 1] as number) << 16) |
      ((bytes[byte + 2] as number) << 8) |
      (bytes[byte + 3] as number);
  }
  for (let index = 16; index < 64; index++) {
    const back15 = w[index - 15] as number;
    const back2 = w[index - 2] as number;
    const sigma0 = ((back15 >>> 7) | (back15 << 25)) ^ ((back15 >>> 18) | (back15 << 14)) ^ (back15 >>> 3);
    const sigma1 = ((back2 >>> 17) | (back2 << 15)) ^ ((back2 >>> 19) | (back2 << 13)) ^ (back2 >>> 10);
    w[index] = ((w[index - 16] as number) + sigma0 + (w[index - 7] as number) + sigma1) | 0;
  }
  let a = chaining[0] as number;
  let b = chaining[1] as number;
  let c = chaining[2] as number;
  let d = chaining[3] as number;
  let e = chaining[4] as number;
  let f = chaining[5] as number;
  let g = chaining[6] as number;
  let h = chaining[7] as number;
  for (let index = 0; index < 64; index++) {
    const bigSigma1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const choice = (e & f) ^ (~e & g);
    const t1 = (h + bigSigma1 + choice + (ROUND_CONSTANTS[index] as number) + (w[index] as number)) | 0;
    const bigSigma0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const majority = (a & b) ^ (a & c) ^ (b & c);
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + bigSigma0 + majority) | 0;
  }
  chaining[0] = ((chaining[0] as number) + a) | 0;
  chaining[1] = ((chaining[1] as number) + b) | 0;
  chaining[2] = ((chaining[2] as number) + c) | 0;
  chaining[3] = ((chaining[3] as number) + d) | 0;
  chaining[4] = ((chaining[4] as number) + e) | 0;
  chaining[5] = ((chaining[5] as number) + f) | 0;
  chaining[6] = ((chaining[6] as number) + g) | 0;
  chaining[7] = ((chaining[7] as number) + h) | 0;
}
