/** Where build artifacts live: under the project's gitignored .testbed/ directory. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root, found from this file's location (images/ sits directly under it). */
export function projectRoot(): string {
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

export function romDirectory(root: string = projectRoot()): string {
  return join(root, ".testbed", "rom");
}
