/**
 * Field codecs: each field kind of the wire format (a u64, a byte field with a u8 length, a
 * bounded list, a struct of fields...) states its encoded size, how it is written and how it is
 * read, together in one object. Message layouts in codec.ts and codec-migration.ts are built from
 * these, so a layout is declared once and the size function, the encoder and the decoder follow
 * from it and cannot drift apart.
 *
 * Reading is the decoder's strict half: every read is bounds-checked by Reader, counts and lengths
 * are checked against their bound before anything is allocated for them, and a bad value fails
 * with a DecodeFailure carrying its reason code (caught at the decoder's entry point). Writing
 * asserts only that each value is representable; the message rules are validate.ts's.
 */
import { assert } from "../assert.js";
import { COUNT_LIMIT, SHORT_BYTES_LIMIT } from "./bounds.js";
import { DecodeFailure, type Reader, type Writer } from "./cursor.js";
import type { DecodeReason } from "./reasons.js";

export interface FieldCodec<T> {
  /** The width of every value of a fixed-width kind; undefined when the width depends on the value. */
  readonly fixedBytes: number | undefined;
  /** Set when the field may read as undefined: a struct then leaves the property out of its result. */
  readonly optional?: true;
  /** Exact encoded byte length of `value`. */
  size(value: T): number;
  write(writer: Writer, value: T): void;
  read(reader: Reader): T;
}

/** One field codec per property of T, in wire order (object literal order is the layout). */
export type StructFields<T> = { readonly [K in keyof T]-?: FieldCodec<T[K]> };

function fixed<T>(
  fixedBytes: number,
  write: (writer: Writer, value: T) => void,
  read: (reader: Reader) => T,
): FieldCodec<T> {
  return { fixedBytes, size: () => fixedBytes, write, read };
}

function variable<T>(
  size: (value: T) => number,
  write: (writer: Writer, value: T) => void,
  read: (reader: Reader) => T,
): FieldCodec<T> {
  return { fixedBytes: undefined, size, write, read };
}

// ---------------------------------------------------------------- scalars

export const u8: FieldCodec<number> = fixed(
  1,
  (writer, value) => writer.u8(value),
  (reader) => reader.u8(),
);

export const u32: FieldCodec<number> = fixed(
  4,
  (writer, value) => writer.u32(value),
  (reader) => reader.u32(),
);

/** Views, seqs, counters, timestamps: decoding rejects anything at or above 2^53. */
export const u64: FieldCodec<number> = fixed(
  8,
  (writer, value) => writer.u64(value),
  (reader) => reader.u64(),
);

/** A field of no bytes that always reads `value`: the type of a message nested without its tag. */
export function constant<T>(value: T): FieldCodec<T> {
  return fixed(
    0,
    () => {},
    () => value,
  );
}

/**
 * One of `values` as its index in a u8. A value not in the list (only an unchecked encoding can
 * hold one) is written as 0xff, which no decoder accepts.
 */
export function enumByte<T>(values: readonly T[], reason: DecodeReason): FieldCodec<T> {
  assert(values.length < 0xff, "enum values leave 0xff free for an unknown value");
  return fixed(
    1,
    (writer, value) => {
      const index = values.indexOf(value);
      writer.u8(index < 0 ? 0xff : index);
    },
    (reader) => {
      const value = values[reader.u8()];
      if (value === undefined) throw new DecodeFailure(reason);
      return value;
    },
  );
}

/** A u8 in which `noneByte` (never a valid value) stands for null. */
export function nullableU8(noneByte: number): FieldCodec<number | null> {
  return fixed(
    1,
    (writer, value) => writer.u8(value === null ? noneByte : value),
    (reader) => {
      const value = reader.u8();
      return value === noneByte ? null : value;
    },
  );
}

// ---------------------------------------------------------------- byte fields

/** Digests, signatures, authenticators, keys: a u8 length, then the bytes (a view of the input). */
export const shortBytes: FieldCodec<Uint8Array> = variable(
  (value) => 1 + value.length,
  (writer, value) => writer.shortBytes(value),
  (reader) => reader.shortBytes(),
);

/** Operations, results, state chunks: a u32 length, rejected above `lengthMax` before the bytes. */
export function longBytes(lengthMax: number, reason: DecodeReason): FieldCodec<Uint8Array> {
  return variable(
    (value) => 4 + value.length,
    (writer, value) => writer.longBytes(value),
    (reader) => reader.longBytes(lengthMax, reason),
  );
}

/** Printable ASCII with a u8 length (addresses); any other byte fails with `reason`. */
export function asciiText(reason: DecodeReason): FieldCodec<string> {
  const encoder = new TextEncoder();
  return variable(
    (value) => 1 + encoder.encode(value).length,
    (writer, value) => writer.shortBytes(encoder.encode(value)),
    (reader) => {
      const bytes = reader.shortBytes();
      let value = "";
      for (const byte of bytes) {
        if (byte < 0x20 || byte > 0x7e) throw new DecodeFailure(reason);
        value += String.fromCharCode(byte);
      }
      return value;
    },
  );
}

// ---------------------------------------------------------------- lists

export interface ListOptions {
  /** Width of the element count: 1 (u8) or 2 (u16). */
  countBytes: 1 | 2;
  /** Largest count accepted on decode, checked before any element is read. */
  countMax: number;
  /** Reason of the failure when the count exceeds countMax. */
  reason: DecodeReason;
}

/** A count, then that many elements. */
export function list<T>(element: FieldCodec<T>, options: ListOptions): FieldCodec<readonly T[]> {
  const { countBytes, countMax, reason } = options;
  assert(countMax < (countBytes === 1 ? SHORT_BYTES_LIMIT : COUNT_LIMIT), "list bound fits its count");
  const elementBytes = element.fixedBytes;
  return {
    fixedBytes: undefined,
    size:
      elementBytes === undefined
        ? (values) => {
            let size = countBytes;
            for (const value of values) size += element.size(value);
            return size;
          }
        : (values) => countBytes + values.length * elementBytes,
    write: (writer, values) => {
      if (countBytes === 1) writer.u8(values.length);
      else writer.u16(values.length);
      for (const value of values) element.write(writer, value);
    },
    read: (reader) => {
      const count = countBytes === 1 ? reader.u8() : reader.u16();
      if (count > countMax) throw new DecodeFailure(reason);
      const values: T[] = [];
      for (let index = 0; index < count; index++) values.push(element.read(reader));
      return values;
    },
  };
}

// ---------------------------------------------------------------- structs

/** Property names a struct may compile into code: plain identifiers, nothing else. */
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * The fields of T one after the other, in the order `fields` lists them. An optional field that
 * reads as undefined is left out of the result (a PRE-PREPARE without special has no property).
 *
 * The size, write and read functions are compiled from the field list, like fast-json-stringify
 * compiles a fastify response schema. A generic loop over the fields with computed property names
 * read a PREPARE's fields in about three times the time of hand-written reads (160 ns against
 * 50 ns), which the hot messages (PREPARE, COMMIT, REQUEST...) cannot afford; the compiled
 * functions are the hand-written ones, with one monomorphic call per field that V8 inlines. Only
 * the field names (checked identifiers) and constant widths enter the source; the field codecs
 * are passed in as arguments, never as text.
 */
export function struct<T extends object>(fields: StructFields<T>): FieldCodec<T> {
  const entries = Object.entries(fields as Record<string, FieldCodec<unknown>>).map(
    ([name, codec], index) => {
      assert(FIELD_NAME.test(name), `struct field name ${name} is an identifier`);
      return { name, codec, codecName: `f${index}`, valueName: `v${index}` };
    },
  );
  assert(entries.length > 0, "a struct has fields");
  const fixedEntries = entries.filter((entry) => entry.codec.fixedBytes !== undefined);
  const variableEntries = entries.filter((entry) => entry.codec.fixedBytes === undefined);
  const fixedBytes = fixedEntries.reduce((total, entry) => total + entry.codec.fixedBytes!, 0);
  assert(Number.isInteger(fixedBytes) && fixedBytes >= 0, "fixed widths add up to a byte count");
  const sizes = variableEntries.map((entry) => ` + ${entry.codecName}.size(value.${entry.name})`).join("");
  const writes = entries.map((entry) => `${entry.codecName}.write(writer, value.${entry.name});`).join(" ");
  const reads = entries
    .map((entry) => `const ${entry.valueName} = ${entry.codecName}.read(reader);`)
    .join(" ");
  const properties = entries
    .filter((entry) => entry.codec.optional !== true)
    .map((entry) => `${entry.name}: ${entry.valueName}`)
    .join(", ");
  const optionals = entries
    .filter((entry) => entry.codec.optional === true)
    .map((entry) => `if (${entry.valueName} !== undefined) value.${entry.name} = ${entry.valueName};`)
    .join(" ");
  const compile = new Function(
    ...entries.map((entry) => entry.codecName),
    `"use strict"; return {
      size: (value) => ${fixedBytes}${sizes},
      write: (writer, value) => { ${writes} },
      read: (reader) => { ${reads} const value = { ${properties} }; ${optionals} return value; },
    };`,
  ) as (...codecs: FieldCodec<unknown>[]) => Pick<FieldCodec<T>, "size" | "write" | "read">;
  const compiled = compile(...entries.map((entry) => entry.codec));
  return {
    fixedBytes: variableEntries.length === 0 ? fixedBytes : undefined,
    size: compiled.size,
    write: compiled.write,
    read: compiled.read,
  };
}

// ---------------------------------------------------------------- variants

/** Variants of a union keyed by `kind`, each with the codec of its fields. */
export type VariantCodecs<T extends { readonly kind: string }> = {
  readonly [K in T["kind"]]: FieldCodec<Extract<T, { readonly kind: K }>>;
};

/**
 * An optional union: a u8 that is 0 for undefined, else the 1-based position of the value's kind
 * in `variants`, then that variant's fields. An unknown byte fails with `reason`.
 */
export function optionalVariant<T extends { readonly kind: string }>(
  variants: VariantCodecs<T>,
  reason: DecodeReason,
): FieldCodec<T | undefined> {
  const kinds = Object.keys(variants) as T["kind"][];
  const codecs = kinds.map((kind) => variants[kind] as FieldCodec<T>);
  assert(kinds.length < SHORT_BYTES_LIMIT - 1, "variant bytes fit a u8 next to the none byte");
  const indexOf = (value: T): number => {
    const index = kinds.indexOf(value.kind);
    assert(index >= 0, `variant kind ${value.kind} is known`);
    return index;
  };
  return {
    fixedBytes: undefined,
    optional: true,
    size: (value) => (value === undefined ? 1 : 1 + codecs[indexOf(value)]!.size(value)),
    write: (writer, value) => {
      if (value === undefined) {
        writer.u8(0);
        return;
      }
      const index = indexOf(value);
      writer.u8(index + 1);
      codecs[index]!.write(writer, value);
    },
    read: (reader) => {
      const byte = reader.u8();
      if (byte === 0) return undefined;
      const codec = codecs[byte - 1];
      if (codec === undefined) throw new DecodeFailure(reason);
      return codec.read(reader);
    },
  };
}
