/**
 * A minimal, reproducible ustar writer: fixed mtime, uid and gid 0, entries in the caller's order.
 * Docker's build API takes the build context as a tar stream; writing it ourselves keeps the build
 * free of the docker CLI and makes the context digest a pure function of the file contents.
 */
import { assert } from "../bft/assert.js";

export type TarEntry =
  | { readonly kind: "file"; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly kind: "directory"; readonly path: string; readonly mode: number };

const BLOCK_BYTES = 512;
const NAME_BYTES_MAX = 100;
const PREFIX_BYTES_MAX = 155;

function writeString(header: Buffer, value: string, offset: number, length: number): void {
  const bytes = Buffer.from(value, "utf8");
  assert(bytes.length <= length, `tar field too long: ${value}`);
  bytes.copy(header, offset);
}

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  const text = value.toString(8).padStart(length - 1, "0");
  assert(text.length === length - 1, `tar number too large: ${value}`);
  writeString(header, text, offset, length - 1);
  header[offset + length - 1] = 0;
}

function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= NAME_BYTES_MAX) return { name: path, prefix: "" };
  const cut = path.lastIndexOf("/", PREFIX_BYTES_MAX);
  assert(cut > 0, `tar path too long: ${path}`);
  const name = path.slice(cut + 1);
  const prefix = path.slice(0, cut);
  assert(Buffer.byteLength(name) <= NAME_BYTES_MAX, `tar name too long: ${path}`);
  return { name, prefix };
}

function header(entry: TarEntry): Buffer {
  const block = Buffer.alloc(BLOCK_BYTES, 0);
  const path = entry.kind === "directory" && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
  const { name, prefix } = splitName(path);
  writeString(block, name, 0, NAME_BYTES_MAX);
  writeOctal(block, entry.mode, 100, 8);
  writeOctal(block, 0, 108, 8);
  writeOctal(block, 0, 116, 8);
  writeOctal(block, entry.kind === "file" ? entry.data.length : 0, 124, 12);
  writeOctal(block, 0, 136, 12);
  block.fill(0x20, 148, 156);
  block[156] = entry.kind === "file" ? 0x30 : 0x35;
  writeString(block, "ustar", 257, 6);
  writeString(block, "00", 263, 2);
  writeString(block, prefix, 345, PREFIX_BYTES_MAX);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  writeOctal(block, checksum, 148, 7);
  block[155] = 0x20;
  return block;
}

/** Serializes entries into one tar archive (with the two zero blocks that end it). */
export function tarPack(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    assert(!entry.path.startsWith("/"), `tar paths are relative: ${entry.path}`);
    parts.push(header(entry));
    if (entry.kind === "file") {
      parts.push(Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.length));
      const padding = (BLOCK_BYTES - (entry.data.length % BLOCK_BYTES)) % BLOCK_BYTES;
      if (padding > 0) parts.push(Buffer.alloc(padding, 0));
    }
  }
  parts.push(Buffer.alloc(BLOCK_BYTES * 2, 0));
  return Buffer.concat(parts);
}
