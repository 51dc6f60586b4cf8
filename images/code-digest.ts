/**
 * The digest of a code mount (the node's read-only memory): SHA-256 over every regular file, in
 * sorted path order, each framed by its relative path and byte length so that moving bytes between
 * files or renaming one changes the digest. Node-agent computes it at boot over /rom; the controller
 * computes it over the host directory it mounts, and the two must agree.
 */
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { assert } from "../bft/assert.js";

/** A ROM holds a few bundles; a runaway tree (e.g. node_modules mounted by mistake) is refused. */
export const ROM_FILES_MAX = 10_000;

async function listFiles(root: string, relative: string, out: string[]): Promise<void> {
  const entries = await readdir(join(root, relative), { withFileTypes: true });
  for (const entry of entries) {
    const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) await listFiles(root, path, out);
    else out.push(path);
    assert(out.length <= ROM_FILES_MAX, `code mount ${root} holds more than ${ROM_FILES_MAX} files`);
  }
}

export async function codeDigest(root: string): Promise<string> {
  const files: string[] = [];
  await listFiles(root, "", files);
  files.sort();
  const hash = createHash("sha256");
  for (const path of files) {
    const full = join(root, path);
    const info = await lstat(full);
    const data = info.isSymbolicLink()
      ? Buffer.from(`symlink:${await readlink(full)}`)
      : await readFile(full);
    hash.update(`${path}\0${data.length}\0`);
    hash.update(data);
  }
  return hash.digest("hex");
}
