/**
 * File access for remote commands, confined to the node's memory and disk areas (and read-only
 * access to the ROM). The coprocessor volume, the key mount and /proc are outside every area, so no
 * command can read the coprocessor's private key. Paths are resolved with realpath first, so
 * symlinks and `..` cannot step outside an area.
 */
import { mkdir, readdir, readFile, realpath, writeFile } from "node:fs/promises";
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
