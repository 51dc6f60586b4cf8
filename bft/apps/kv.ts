/**
 * A key-value store whose state size can be set (1 to 100 MB), for state-transfer experiments.
 *
 * The state digest is incremental (an additive hash: the sum modulo 2^256 of SHA-256 over each
 * entry), so a checkpoint costs no pass over the whole state; only a state transfer serializes it.
 * Values are immutable once stored (a put stores a copy), so a checkpoint is a shallow copy of the
 * map that stays consistent while later operations run.
 */
import { createHash } from "node:crypto";
import { STATE_BYTES_MAX } from "../limits.js";
import type { Application, AppSnapshot } from "./app.js";

export interface KvOptions {
  /** Bytes of deterministic filler state present at start, 0..100 MB. */
  readonly stateBytes: number;
}

export const KV_STATE_BYTES_MAX = 100 * 1024 * 1024;
export const KV_KEY_BYTES_MAX = 1024;
const FILL_VALUE_BYTES = 64 * 1024;
const SNAPSHOT_VERSION = 1;
const DIGEST_WORDS = 8;

const OP_PUT = 1;
const OP_GET = 2;
const OP_DELETE = 3;

export const KV_OK = 0;
export const KV_NOT_FOUND = 1;
export const KV_BAD_OPERATION = 2;

export function kvPut(key: string, value: Uint8Array): Uint8Array {
  const keyBytes = Buffer.from(key, "utf8");
  return Buffer.concat([header(OP_PUT, keyBytes), value]);
}

export function kvGet(key: string): Uint8Array {
  return header(OP_GET, Buffer.from(key, "utf8"));
}

export function kvDelete(key: string): Uint8Array {
  return header(OP_DELETE, Buffer.from(key, "utf8"));
}

function header(op: number, key: Buffer): Buffer {
  const bytes = Buffer.alloc(3 + key.length);
  bytes.writeUInt8(op, 0);
  bytes.writeUInt16BE(key.length, 1);
  key.copy(bytes, 3);
  return bytes;
}

export function createKvApp(options: KvOptions): Application {
  if (
    !Number.isSafeInteger(options.stateBytes) ||
    options.stateBytes < 0 ||
    options.stateBytes > KV_STATE_BYTES_MAX
  ) {
    throw new Error(`stateBytes must be an integer in 0..${KV_STATE_BYTES_MAX}, got ${options.stateBytes}`);
  }
  let entries = new Map<string, Buffer>();
  let digest: Uint32Array = new Uint32Array(DIGEST_WORDS);
  let stateBytes = 0;

  const put = (key: string, value: Buffer): void => {
    const old = entries.get(key);
    if (old !== undefined) {
      subtractInto(digest, entryHash(key, old));
      stateBytes -= key.length + old.length;
    }
    entries.set(key, value);
    addInto(digest, entryHash(key, value));
    stateBytes += key.length + value.length;
  };

  for (let index = 0, filled = 0; filled < options.stateBytes; index += 1) {
    const key = `fill/${String(index).padStart(6, "0")}`;
    const size = Math.min(FILL_VALUE_BYTES, options.stateBytes - filled);
    put(key, Buffer.alloc(size).fill(createHash("sha256").update(key).digest()));
    filled += size;
  }

  return {
    execute(operation: Uint8Array): Uint8Array {
      const parsed = parseOperation(operation);
      if (parsed === undefined) return Buffer.from([KV_BAD_OPERATION]);
      const { op, key, value } = parsed;
      if (op === OP_GET) {
        const found = entries.get(key);
        return found === undefined
          ? Buffer.from([KV_NOT_FOUND])
          : Buffer.concat([Buffer.from([KV_OK]), found]);
      }
      if (op === OP_DELETE) {
        const old = entries.get(key);
        if (old === undefined) return Buffer.from([KV_NOT_FOUND]);
        subtractInto(digest, entryHash(key, old));
        stateBytes -= key.length + old.length;
        entries.delete(key);
        return Buffer.from([KV_OK]);
      }
      if (stateBytes + key.length + value.length > STATE_BYTES_MAX) return Buffer.from([KV_BAD_OPERATION]);
      put(key, Buffer.from(value));
      return Buffer.from([KV_OK]);
    },
    checkpoint(): AppSnapshot {
      const captured = new Map(entries);
      const capturedDigest = digestBytes(digest);
      const sizeBytes = snapshotSize(captured);
      let cached: Uint8Array | undefined;
      return {
        digest: capturedDigest,
        sizeBytes,
        bytes: () => {
          cached ??= encodeSnapshot(captured, sizeBytes);
          return cached;
        },
      };
    },
    restore(bytes: Uint8Array): boolean {
      const decoded = decodeSnapshot(bytes);
      if (decoded === undefined) return false;
      entries = decoded.entries;
      digest = decoded.digest;
      stateBytes = decoded.stateBytes;
      return true;
    },
    snapshotDigest(bytes: Uint8Array): Uint8Array | undefined {
      const decoded = decodeSnapshot(bytes);
      return decoded === undefined ? undefined : digestBytes(decoded.digest);
    },
  };
}

function parseOperation(operation: Uint8Array): { op: number; key: string; value: Uint8Array } | undefined {
  if (operation.length < 3) return undefined;
  const bytes = Buffer.from(operation.buffer, operation.byteOffset, operation.length);
  const op = bytes.readUInt8(0);
  const keyLength = bytes.readUInt16BE(1);
  if (keyLength > KV_KEY_BYTES_MAX || 3 + keyLength > bytes.length) return undefined;
  if (op !== OP_PUT && op !== OP_GET && op !== OP_DELETE) return undefined;
  if (op !== OP_PUT && bytes.length !== 3 + keyLength) return undefined;
  return { op, key: bytes.toString("latin1", 3, 3 + keyLength), value: bytes.subarray(3 + keyLength) };
}

function entryHash(key: string, value: Uint8Array): Uint32Array {
  const keyBytes = Buffer.from(key, "latin1");
  const length = Buffer.alloc(2);
  length.writeUInt16BE(keyBytes.length, 0);
  const hash = createHash("sha256").update(length).update(keyBytes).update(value).digest();
  const words = new Uint32Array(DIGEST_WORDS);
  for (let index = 0; index < DIGEST_WORDS; index += 1) words[index] = hash.readUInt32BE(index * 4);
  return words;
}

/** sum += term (mod 2^256), words big-endian (index 0 most significant). */
function addInto(sum: Uint32Array, term: Uint32Array): void {
  let carry = 0;
  for (let index = DIGEST_WORDS - 1; index >= 0; index -= 1) {
    const total = sum[index]! + term[index]! + carry;
    sum[index] = total >>> 0;
    carry = total > 0xffffffff ? 1 : 0;
  }
}

/** sum -= term (mod 2^256). */
function subtractInto(sum: Uint32Array, term: Uint32Array): void {
  let borrow = 0;
  for (let index = DIGEST_WORDS - 1; index >= 0; index -= 1) {
    const total = sum[index]! - term[index]! - borrow;
    sum[index] = total >>> 0;
    borrow = total < 0 ? 1 : 0;
  }
}

function digestBytes(sum: Uint32Array): Uint8Array {
  const bytes = Buffer.alloc(DIGEST_WORDS * 4);
  for (let index = 0; index < DIGEST_WORDS; index += 1) bytes.writeUInt32BE(sum[index]!, index * 4);
  return bytes;
}

function snapshotSize(entries: ReadonlyMap<string, Buffer>): number {
  let size = 5;
  for (const [key, value] of entries) size += 2 + Buffer.byteLength(key, "latin1") + 4 + value.length;
  return size;
}

/** Version, count, then entries sorted by key: a canonical encoding, equal on every correct replica. */
function encodeSnapshot(entries: ReadonlyMap<string, Buffer>, sizeBytes: number): Uint8Array {
  const bytes = Buffer.alloc(sizeBytes);
  bytes.writeUInt8(SNAPSHOT_VERSION, 0);
  bytes.writeUInt32BE(entries.size, 1);
  let offset = 5;
  for (const key of [...entries.keys()].sort()) {
    const value = entries.get(key)!;
    offset = bytes.writeUInt16BE(Buffer.byteLength(key, "latin1"), offset);
    offset += bytes.write(key, offset, "latin1");
    offset = bytes.writeUInt32BE(value.length, offset);
    offset += value.copy(bytes, offset);
  }
  return bytes;
}

interface DecodedSnapshot {
  entries: Map<string, Buffer>;
  digest: Uint32Array;
  stateBytes: number;
}

function decodeSnapshot(input: Uint8Array): DecodedSnapshot | undefined {
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.length);
  if (bytes.length < 5 || bytes.readUInt8(0) !== SNAPSHOT_VERSION) return undefined;
  const count = bytes.readUInt32BE(1);
  const entries = new Map<string, Buffer>();
  const digest = new Uint32Array(DIGEST_WORDS);
  let offset = 5;
  let stateBytes = 0;
  let previousKey: string | undefined;
  for (let index = 0; index < count; index += 1) {
    if (offset + 2 > bytes.length) return undefined;
    const keyLength = bytes.readUInt16BE(offset);
    if (keyLength > KV_KEY_BYTES_MAX || offset + 2 + keyLength + 4 > bytes.length) return undefined;
    const key = bytes.toString("latin1", offset + 2, offset + 2 + keyLength);
    offset += 2 + keyLength;
    const valueLength = bytes.readUInt32BE(offset);
    offset += 4;
    if (offset + valueLength > bytes.length) return undefined;
    // Strictly ascending keys: the encoding is canonical and has no duplicates.
    if (previousKey !== undefined && !(previousKey < key)) return undefined;
    previousKey = key;
    const value = Buffer.from(bytes.subarray(offset, offset + valueLength));
    offset += valueLength;
    entries.set(key, value);
    addInto(digest, entryHash(key, value));
    stateBytes += key.length + value.length;
  }
  if (offset !== bytes.length) return undefined;
  return { entries, digest, stateBytes };
}
