/**
 * bytesEqual compares short inputs (digests) in a loop and long ones (1 KiB results) natively: both
 * paths must agree on equal content, a difference at either end, length, and views into larger
 * buffers whatever their offset or type (Buffer or plain Uint8Array).
 */
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../bft/bytes.js";

function filled(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 31 + seed) & 0xff);
}

describe("bytesEqual", () => {
  for (const length of [0, 1, 32, 127, 128, 1024, 9000]) {
    it(`agrees with a bytewise compare at ${length} bytes`, () => {
      const left = filled(length, 5);
      expect(bytesEqual(left, filled(length, 5))).toBe(true);
      expect(bytesEqual(left, Buffer.from(filled(length, 5)))).toBe(true);
      if (length === 0) return;
      for (const at of [0, length - 1]) {
        const other = filled(length, 5);
        other[at] = (other[at] as number) ^ 1;
        expect(bytesEqual(left, other)).toBe(false);
        expect(bytesEqual(other, left)).toBe(false);
      }
      expect(bytesEqual(left, filled(length + 1, 5))).toBe(false);
    });
  }

  it("compares views by their own bytes, not their backing buffers", () => {
    const backing = filled(4096, 9);
    const view = backing.subarray(1000, 2024);
    const copy = Uint8Array.from(view);
    expect(bytesEqual(view, copy)).toBe(true);
    expect(bytesEqual(view, backing.subarray(1001, 2025))).toBe(false);
    expect(bytesEqual(Buffer.from(backing.buffer, 1000, 1024), copy)).toBe(true);
  });
});
