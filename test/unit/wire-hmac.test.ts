/**
 * Proves the HMAC-SHA256 from pads (hmac.ts) equals node:crypto's on both of its paths (JavaScript
 * for short inputs, one-shot hash for long ones), and that the wire's MAC functions give the same
 * MACs on every side of the two thresholds. How: every input length from 0 to past the short
 * threshold (each SHA-256 padding case: tail in one block, tail spilling into a second, whole
 * blocks) under keys shorter than, equal to and longer than a block, long lengths up to the long
 * threshold, then random keys, inputs and truncations; macMatches accepts the right MAC and
 * refuses any single flipped bit.
 */
import { createHmac, createSecretKey, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAC_BYTES } from "../../bft/limits.js";
import { macInto, macMatches } from "../../bft/wire/auth.js";
import { hmacInto, hmacPads, LONG_INPUT_BYTES_MAX, SHORT_INPUT_BYTES_MAX } from "../../bft/wire/hmac.js";

function nodeHmac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(input).digest());
}

function padsHmac(key: Uint8Array, input: Uint8Array, bytes = 32): Uint8Array {
  const out = new Uint8Array(bytes);
  hmacInto(hmacPads(key), input, out, 0, bytes);
  return out;
}

describe("HMAC-SHA256 from pads", () => {
  it("equals node:crypto for every input length to past the short threshold, keys of 0 to 100 bytes", () => {
    for (const keyBytes of [0, 1, 16, 32, 63, 64, 65, 100]) {
      const key = randomBytes(keyBytes);
      for (let length = 0; length <= SHORT_INPUT_BYTES_MAX + 2 * 64 + 1; length++) {
        const input = randomBytes(length);
        expect(padsHmac(key, input), `key ${keyBytes} B, input ${length} B`).toEqual(nodeHmac(key, input));
      }
    }
  });

  it("equals node:crypto on long inputs up to the long threshold, after longer ones grew the copy", () => {
    const key = randomBytes(32);
    for (const length of [1_100, 17_000, LONG_INPUT_BYTES_MAX, 1_100, 500]) {
      const input = randomBytes(length);
      expect(padsHmac(key, input), `${length} B`).toEqual(nodeHmac(key, input));
    }
  });

  it("equals node:crypto on random keys, inputs, offsets and truncations", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 130 }),
        fc.uint8Array({ maxLength: 3 * SHORT_INPUT_BYTES_MAX }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 40 }),
        (key, input, macBytes, offset) => {
          const target = new Uint8Array(offset + macBytes + 3).fill(0xaa);
          hmacInto(hmacPads(key), input, target, offset, macBytes);
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
    const backing = randomBytes(2_000);
    for (const length of [150, 1_500]) {
      const input = backing.subarray(37, 37 + length);
      expect(padsHmac(key, input), `${length} B`).toEqual(nodeHmac(key, input));
    }
  });

  it("refuses inputs past the long threshold", () => {
    expect(() => padsHmac(randomBytes(32), new Uint8Array(LONG_INPUT_BYTES_MAX + 1))).toThrow();
  });
});

describe("wire MACs on every side of the thresholds", () => {
  const raw = randomBytes(32);
  const key = createSecretKey(raw);

  it("macInto writes node:crypto's truncated MAC for short and long inputs", () => {
    for (const length of [
      0,
      33,
      SHORT_INPUT_BYTES_MAX,
      SHORT_INPUT_BYTES_MAX + 1,
      1_100,
      LONG_INPUT_BYTES_MAX,
      LONG_INPUT_BYTES_MAX + 1,
    ]) {
      const input = randomBytes(length);
      const target = new Uint8Array(MAC_BYTES + 4);
      macInto(key, input, target, 4);
      expect(target.subarray(4), `${length} B`).toEqual(nodeHmac(raw, input).subarray(0, MAC_BYTES));
    }
  });

  it("macMatches accepts the MAC and refuses every single-bit change, another key or a short slot", () => {
    for (const length of [33, SHORT_INPUT_BYTES_MAX + 1, LONG_INPUT_BYTES_MAX + 1]) {
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
