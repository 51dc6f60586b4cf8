/**
 * File access for remote commands, confined to the node's memory and disk areas (and read-only
 * access to the ROM). The coprocessor volume, the key mount and /proc are outside every area, so no
 * command can read the coprocessor's private key. Paths are resolved with realpath first, so
 * symlinks and `..` cannot step outside an area.
 */
import { mkdir, open, readdir, readFile, realpath, stat, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { agentErrors } from "./errors.js";
import { READ_BYTES_MAX } from "./limits.js";

function within(path: string, areas: readonly string[]): boolean {
  return areas.some((area) => path === area || path.startsWith(`${area}/`));
}

/** The real path of `path` (or of its nearest existing parent, for a file not yet written). */
async function realTarget(path: string): Promise<string> {
  const absolute = resolve("/", path);
  try {
    return await realpath(absolute);
  } catch {
    const parent = await realpath(dirname(absolute)).catch(() => dirname(absolute));
    return `${parent}/${absolute.slice(dirname(absolute).length + 1)}`;
  }
}

export class FileAreas {
  readonly #readWrite: readonly string[];
  readonly #readOnly: readonly string[];

  constructor(options: { readWrite: readonly string[]; readOnly: readonly string[] }) {
    this.#readWrite = options.readWrite;
    this.#readOnly = options.readOnly;
  }

  async read(path: string): Promise<string> {
    const target = await realTarget(path);
    if (!within(target, [...this.#readWrite, ...this.#readOnly])) throw agentErrors.pathRefused(path);
    const data = await readFile(target);
    return data.subarray(0, READ_BYTES_MAX).toString("utf8");
  }

  async write(path: string, text: string): Promise<void> {
    const target = await realTarget(path);
    if (!within(target, this.#readWrite)) throw agentErrors.pathRefused(path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, text);
  }

  async list(path: string): Promise<string[]> {
    const target = await realTarget(path);
    if (!within(target, [...this.#readWrite, ...this.#readOnly])) throw agentErrors.pathRefused(path);
    const entries = await readdir(target, { withFileTypes: true });
    return entries.map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name)).sort();
  }

  /** Names in every read-write area: what a sanitized node must not hold. */
  async leftovers(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const area of this.#readWrite) {
      const names = await readdir(area).catch(() => [] as string[]);
      out[area] = names.sort();
    }
    return out;
  }
}

export interface FileChunk {
  readonly name: string;
  readonly offset: number;
  /** Whole lines only, unless one line is longer than a chunk. */
  readonly text: string;
  readonly nextOffset: number;
  readonly totalBytes: number;
  readonly done: boolean;
}

/** A plain file name: no separators, no leading dot (so no `..`). */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Reads up to `bytesMax` bytes of `directory/name` from `offset`, cut after the last newline so a
 * caller paging through a JSON-lines file never sees half a line (a chunk without any newline is
 * returned whole). Confined to `directory`: the name is a plain file name and the real path must
 * stay inside, so a symlink planted there cannot lead elsewhere.
 */
export async function readChunk(options: {
  directory: string;
  name: string;
  offset: number;
  bytesMax: number;
}): Promise<FileChunk> {
  const { directory, name, offset, bytesMax } = options;
  if (!FILE_NAME.test(name)) throw agentErrors.pathRefused(name);
  const root = await realpath(directory).catch(() => resolve(directory));
  const target = await realTarget(`${root}/${name}`);
  if (!within(target, [root]) || target === root) throw agentErrors.pathRefused(name);
  const totalBytes = (await stat(target)).size;
  const start = Math.min(offset, totalBytes);
  const buffer = Buffer.alloc(Math.min(bytesMax, totalBytes - start));
  const handle = await open(target, "r");
  try {
    await handle.read(buffer, 0, buffer.length, start);
  } finally {
    await handle.close();
  }
  const atEnd = start + buffer.length >= totalBytes;
  const lastNewline = buffer.lastIndexOf(0x0a);
  const length = atEnd || lastNewline < 0 ? buffer.length : lastNewline + 1;
  const nextOffset = start + length;
  return {
    name,
    offset: start,
    text: buffer.subarray(0, length).toString("utf8"),
    nextOffset,
    totalBytes,
    done: nextOffset >= totalBytes,
  };
}
