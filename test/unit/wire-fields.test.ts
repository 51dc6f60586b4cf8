/**
 * Proves the field codecs that every message layout is built from agree with themselves and keep
 * the decoder strict. How: a table of field codecs and values checks that size() is the number of
 * bytes write() produced and that read() gives the value back; then a struct's optional field is
 * left out when absent, a list's count is refused before any element is read, and a struct refuses
 * field names that are not plain identifiers (they are compiled into code).
 */
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../bft/assert.js";
import { DecodeFailure, Reader, Writer } from "../../bft/wire/cursor.js";
import {
  asciiText,
  constant,
  enumByte,
  type FieldCodec,
  list,
  nullableU8,
  optionalVariant,
  shortBytes,
  struct,
  u8,
  u32,
  u64,
} from "../../bft/wire/fields.js";

function roundTrip<T>(codec: FieldCodec<T>, value: T): { bytes: Uint8Array; decoded: T } {
  const bytes = new Uint8Array(codec.size(value));
  const writer = new Writer(bytes, 0);
  codec.write(writer, value);
  expect(writer.offset).toBe(bytes.length);
  const reader = new Reader(bytes, 0, bytes.length);
  const decoded = codec.read(reader);
  expect(reader.remaining).toBe(0);
  return { bytes, decoded };
}

function readFailure<T>(codec: FieldCodec<T>, bytes: number[]): string {
  try {
    codec.read(new Reader(Uint8Array.from(bytes), 0, bytes.length));
  } catch (error) {
    if (error instanceof DecodeFailure) return error.reason;
    throw error;
  }
  return "ok";
}

type Pair = { a: number; b: Uint8Array; c?: { kind: "x"; n: number } | undefined };
const optionalPart = optionalVariant<{ kind: "x"; n: number }>(
  { x: struct({ kind: constant("x"), n: u8 }) },
  "unknownKind",
);
const pair = struct<Pair>({ a: u64, b: shortBytes, c: optionalPart });

// biome-ignore lint/suspicious/noExplicitAny: a table mixes codecs of every value type.
const cases: [string, FieldCodec<any>, unknown][] = [
  ["u8", u8, 255],
  ["u32", u32, 2 ** 32 - 1],
  ["u64", u64, Number.MAX_SAFE_INTEGER],
  ["shortBytes", shortBytes, Uint8Array.from([1, 2, 3])],
  ["asciiText", asciiText("addressInvalid"), "10.0.0.1:7000"],
  ["enumByte", enumByte(["timer", "onDemand"], "unknownKind"), "onDemand"],
  ["nullableU8 null", nullableU8(255), null],
  ["nullableU8 value", nullableU8(255), 7],
  ["list of u32", list(u32, { countBytes: 1, countMax: 3, reason: "countTooLarge" }), [1, 2, 3]],
  ["struct with its option", pair, { a: 9, b: Uint8Array.from([4]), c: { kind: "x", n: 5 } }],
];

describe("field codecs", () => {
  it.each(cases)("%s: size is what write writes, read gives the value back", (_name, codec, value) => {
    expect(roundTrip(codec, value).decoded).toEqual(value);
  });

  it("a struct leaves an absent optional field out, not set to undefined", () => {
    const { bytes, decoded } = roundTrip(pair, { a: 1, b: new Uint8Array(0) });
    expect(bytes).toEqual(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1, 0, 0]));
    expect(Object.keys(decoded)).toEqual(["a", "b"]);
    expect(pair.fixedBytes).toBeUndefined();
  });

  it("a struct of fixed fields has a fixed width", () => {
    expect(struct({ a: u8, b: u32, c: u64 }).fixedBytes).toBe(13);
  });

  it("a list refuses a count above its bound before reading elements", () => {
    const codec = list(u32, { countBytes: 2, countMax: 2, reason: "batchTooLarge" });
    expect(readFailure(codec, [0, 3])).toBe("batchTooLarge");
    expect(readFailure(codec, [0, 2, 0, 0, 0, 1])).toBe("truncated");
  });

  it("unknown enum and variant bytes and non-ASCII text fail with their reasons", () => {
    expect(readFailure(enumByte(["a"], "unknownKind"), [1])).toBe("unknownKind");
    expect(readFailure(optionalPart, [2])).toBe("unknownKind");
    expect(readFailure(asciiText("addressInvalid"), [2, 0x41, 0x80])).toBe("addressInvalid");
  });

  it("a struct refuses a field name that is not an identifier", () => {
    expect(() => struct({ "a;b": u8 } as never)).toThrow(AssertionError);
  });
});
