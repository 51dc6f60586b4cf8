/**
 * Proves the JavaScript HMAC-SHA256 for short inputs equals node:crypto's, and that the wire's MAC
 * functions give the same MACs on both sides of the short-input threshold. How: every input length
 * from 0 to the threshold (each SHA-256 padding case: tail in one block, tail spilling into a second,
 * whole blocks) under keys shorter than, equal to and longer than a block, then random keys, inputs
 * and truncations; macMatches accepts the right MAC and refuses any single flipped bit.
 */
import { createHmac, createSecretKey, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAC_BYTES } from "../../bft/limits.js";
import { macInto, macMatches } from "../../bft/wire/auth.js";
import { hmacPads, hmacShortInto, SHORT_INPUT_BYTES_MAX } from "../../bft/wire/hmac-short.js";

function nodeHmac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(input).digest());
}

function shortHmac(key: Uint8Array, input: Uint8Array, bytes = 32): Uint8Array {
  const out = new Uint8Array(bytes);
  hmacShortInto(hmacPads(key), input, out, 0, bytes);
  return out;
}

describe("short-input HMAC-SHA256", () => {
  it("equals node:crypto for every input length up to the threshold, keys of 0 to 100 bytes", () => {
    for (const keyBytes of [0, 1, 16, 32, 63, 64, 65, 100]) {
      const key = randomBytes(keyBytes);
      for (let length = 0; length <= SHORT_INPUT_BYTES_MAX; length++) {
        const input = randomBytes(length);
        expect(shortHmac(key, input), `key ${keyBytes} B, input ${length} B`).toEqual(nodeHmac(key, input));
      }
    }
  });

  it("equals node:crypto on random keys, inputs, offsets and truncations", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 130 }),
        fc.uint8Array({ maxLength: SHORT_INPUT_BYTES_MAX }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 40 }),
        (key, input, macBytes, offset) => {
          const target = new Uint8Array(offset + macBytes + 3).fill(0xaa);
          hmacShortInto(hmacPads(key), input, target, offset, macBytes);
          expect(target.subarray(offset, offset + macBytes)).toEqual(
            nodeHmac(key, input).subarray(0, macBytes),
          );
          // Nothing outside the slot is written.
          expect(target.subarray(0, offset).every((byte) => byte === 0xaa)).toBe(true);
          expect(target.subarray(offset + macBytes).every((byte) => byte === 0xaa)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("reads a subarray input from its own offset, not from its buffer's start", () => {
    const key = randomBytes(32);
    const backing = randomBytes(300);
    const input = backing.subarray(37, 37 + 150);
    expect(shortHmac(key, input)).toEqual(nodeHmac(key, input));
  });

  it("refuses inputs past the threshold", () => {
    expect(() => shortHmac(randomBytes(32), new Uint8Array(SHORT_INPUT_BYTES_MAX + 1))).toThrow();
  });
});

describe("wire MACs on both sides of the threshold", () => {
  const raw = randomBytes(32);
  const key = createSecretKey(raw);

  it("macInto writes node:crypto's truncated MAC for short and long inputs", () => {
    for (const length of [0, 33, SHORT_INPUT_BYTES_MAX, SHORT_INPUT_BYTES_MAX + 1, 1_100]) {
      const input = randomBytes(length);
      const target = new Uint8Array(MAC_BYTES + 4);
      macInto(key, input, target, 4);
      expect(target.subarray(4), `${length} B`).toEqual(nodeHmac(raw, input).subarray(0, MAC_BYTES));
    }
  });

  it("macMatches accepts the MAC and refuses every single-bit change, another key or a short slot", () => {
    for (const length of [33, SHORT_INPUT_BYTES_MAX + 1]) {
      const input = randomBytes(length);
      const macs = new Uint8Array(2 * MAC_BYTES);
      macInto(key, input, macs, MAC_BYTES);
      expect(macMatches(key, input, macs, MAC_BYTES)).toBe(true);
      for (let bit = 0; bit < 8 * MAC_BYTES; bit++) {
        const flipped = macs.slice();
        const at = MAC_BYTES + (bit >>> 3);
        flipped[at] = (flipped[at] as number) ^ (1 << (bit & 7));
        expect(macMatches(key, input, flipped, MAC_BYTES)).toBe(false);
      }
      expect(macMatches(createSecretKey(randomBytes(32)), input, macs, MAC_BYTES)).toBe(false);
      expect(macMatches(key, input, macs, MAC_BYTES + 1)).toBe(false);
      expect(macMatches(key, input, macs, -1)).toBe(false);
    }
  });
});
