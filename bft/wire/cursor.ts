/**
 * Fixed-width big-endian writing into a preallocated buffer, and bounds-checked reading of
 * untrusted bytes. The reader never reads past its end: every read first checks the remaining
 * length and fails with a reason code, so a malformed frame cannot raise a RangeError.
 */
import { assert } from "../assert.js";
import { SHORT_BYTES_LIMIT, U32_LIMIT, U64_SAFE_HIGH_WORD_LIMIT } from "./bounds.js";
import type { DecodeReason } from "./reasons.js";

const U32_SPAN = 2 ** 32;

export class Writer {
  private readonly view: DataView;
  offset: number;

  constructor(
    readonly bytes: Uint8Array,
    offset: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  u8(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value < 256, "u8 in range");
    this.view.setUint8(this.offset, value);
    this.offset += 1;
  }

  u16(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value < 65536, "u16 in range");
    this.view.setUint16(this.offset, value);
    this.offset += 2;
  }

  u32(value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value < U32_LIMIT, "u32 in range");
    this.view.setUint32(this.offset, value);
    this.offset += 4;
  }

  /** Writes any non-negative integer below 2^64 that a double holds exactly as high and low words. */
  u64(value: number): void {
    assert(Number.isInteger(value) && value >= 0, "u64 is a non-negative integer");
    const high = Math.floor(value / U32_SPAN);
    assert(high < U32_SPAN, "u64 in range");
    this.view.setUint32(this.offset, high);
    this.view.setUint32(this.offset + 4, value % U32_SPAN);
    this.offset += 8;
  }

  /** Byte field with a u8 length (digests, signatures, authenticators). */
  shortBytes(value: Uint8Array): void {
    assert(value.length < SHORT_BYTES_LIMIT, "short byte field fits a u8 length");
    this.u8(value.length);
    this.bytes.set(value, this.offset);
    this.offset += value.length;
  }

  /** Byte field with a u32 length (operations, results, state chunks). */
  longBytes(value: Uint8Array): void {
    this.u32(value.length);
    this.bytes.set(value, this.offset);
    this.offset += value.length;
  }
}

/** Thrown inside the decoder only, caught at its entry point and turned into a result. */
export class DecodeFailure extends Error {
  constructor(readonly reason: DecodeReason) {
    super(reason);
  }
}

export class Reader {
  private readonly view: DataView;
  offset: number;

  constructor(
    readonly bytes: Uint8Array,
    offset: number,
    readonly end: number,
  ) {
    assert(offset >= 0 && offset <= end && end <= bytes.length, "reader range inside its bytes");
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(byteCount: number): void {
    if (this.end - this.offset < byteCount) throw new DecodeFailure("truncated");
  }

  u8(): number {
    this.need(1);
    const value = this.view.getUint8(this.offset);
    this.offset += 1;
    return value;
  }

  u16(): number {
    this.need(2);
    const value = this.view.getUint16(this.offset);
    this.offset += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  /** Reads a u64 and rejects anything at or above 2^53: it would not survive as a JS number. */
  u64(): number {
    this.need(8);
    const high = this.view.getUint32(this.offset);
    if (high >= U64_SAFE_HIGH_WORD_LIMIT) throw new DecodeFailure("integerUnsafe");
    const low = this.view.getUint32(this.offset + 4);
    this.offset += 8;
    return high * U32_SPAN + low;
  }

  /** A u16 element count, rejected above `countMax` before anything is allocated for it. */
  count(countMax: number, reason: DecodeReason): number {
    const value = this.u16();
    if (value > countMax) throw new DecodeFailure(reason);
    return value;
  }

  /** A subarray of the input, not a copy. */
  shortBytes(): Uint8Array {
    return this.take(this.u8());
  }

  /** A subarray of the input, not a copy; `lengthMax` is checked before the bytes are. */
  longBytes(lengthMax: number, reason: DecodeReason): Uint8Array {
    const length = this.u32();
    if (length > lengthMax) throw new DecodeFailure(reason);
    return this.take(length);
  }

  private take(length: number): Uint8Array {
    this.need(length);
    const value = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
}
