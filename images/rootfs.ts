/**
 * Collects a dynamically linked binary and exactly the shared libraries `ldd` lists for it (plus the
 * dynamic loader) into tar entries, so an image FROM scratch can run it. Symlinks are resolved and
 * stored as regular files at the path the loader asks for, which keeps the image layout trivial.
 */
import { execFile } from "node:child_process";
import { readFile, realpath, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { imageErrors } from "./errors.js";
import type { TarEntry } from "./tar.js";

const execFileAsync = promisify(execFile);

/** Parses `ldd` output into absolute library paths (the vdso has no file and is skipped). */
export function parseLdd(output: string): string[] {
  const paths = new Set<string>();
  for (const line of output.split("\n")) {
    const arrow = /=>\s+(\/\S+)\s+\(/.exec(line);
    if (arrow?.[1] !== undefined) {
      paths.add(arrow[1]);
      continue;
    }
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    if (bare?.[1] !== undefined) paths.add(bare[1]);
  }
  return [...paths].sort();
}

export async function sharedLibraries(binaryPath: string): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync("ldd", [binaryPath], { encoding: "utf8" });
    return parseLdd(stdout);
  } catch (error) {
    // ldd exits non-zero for static binaries ("not a dynamic executable"): they need nothing.
    const text = String((error as { stdout?: string; stderr?: string }).stderr ?? "");
    if (text.includes("not a dynamic executable")) return [];
    throw imageErrors.lddFailed(binaryPath, error);
  }
}

async function fileEntry(sourcePath: string, targetPath: string): Promise<TarEntry> {
  let data: Buffer;
  try {
    data = await readFile(await realpath(sourcePath));
  } catch (error) {
    throw imageErrors.binaryMissing(sourcePath, error);
  }
  const mode = (await stat(sourcePath)).mode & 0o777;
  return { kind: "file", path: targetPath.replace(/^\/+/, ""), mode, data };
}

function parentDirectories(paths: readonly string[]): string[] {
  const directories = new Set<string>();
  for (const path of paths) {
    const parts = path.split("/");
    for (let index = 1; index < parts.length; index += 1) directories.add(parts.slice(0, index).join("/"));
  }
  return [...directories].sort();
}

/** The binary at `targetPath` plus its libraries, with every parent directory listed first. */
export async function binaryWithLibraries(options: {
  sourcePath: string;
  targetPath: string;
  prefix: string;
}): Promise<TarEntry[]> {
  const libraries = await sharedLibraries(options.sourcePath);
  const files = [await fileEntry(options.sourcePath, options.targetPath)];
  for (const library of libraries) files.push(await fileEntry(library, library));
  const withPrefix = files.map((file) => ({ ...file, path: `${options.prefix}${file.path}` }));
  const directories = parentDirectories(withPrefix.map((file) => file.path))
    .filter((path) => path !== options.prefix.replace(/\/$/, ""))
    .map((path): TarEntry => ({ kind: "directory", path, mode: 0o755 }));
  return [...directories, ...withPrefix.sort((a, b) => a.path.localeCompare(b.path))];
}
