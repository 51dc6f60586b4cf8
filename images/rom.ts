/**
 * Builds the ROM: the runnable code every node mounts read-only at /rom. The project is TypeScript,
 * so each entry point is bundled by esbuild into one ESM file with its npm dependencies inlined;
 * nothing in the ROM resolves node_modules at run time. ssh2's optional native parts (cpu-features,
 * sshcrypto.node) stay external: ssh2 loads them in try/catch and falls back to node:crypto.
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { codeDigest } from "./code-digest.js";
import { imageErrors } from "./errors.js";

export interface RomEntry {
  /** Source file relative to the project root, e.g. node-agent/main.ts. */
  readonly source: string;
  /** Output relative to the ROM root, e.g. node-agent/main.js. */
  readonly target: string;
}

export interface BuiltRom {
  readonly directory: string;
  readonly codeDigest: string;
  readonly entries: readonly RomEntry[];
  readonly elapsedMs: number;
}

/** node-agent always; every bft/host/*-main.ts as dist/bft/host/*-main.js (the replica hosts). */
export async function romEntries(projectRoot: string): Promise<RomEntry[]> {
  const entries: RomEntry[] = [{ source: "node-agent/main.ts", target: "node-agent/main.js" }];
  const hostDirectory = join(projectRoot, "bft", "host");
  const names = await readdir(hostDirectory).catch(() => [] as string[]);
  for (const name of names.filter((file) => file.endsWith("-main.ts")).sort()) {
    entries.push({ source: `bft/host/${name}`, target: `dist/bft/host/${name.replace(/\.ts$/, ".js")}` });
  }
  return entries;
}

// ESM output that still lets bundled CommonJS packages use require(), __dirname and __filename.
const BANNER = [
  "import { createRequire as __mbftCreateRequire } from 'node:module';",
  "import { fileURLToPath as __mbftFileUrlToPath } from 'node:url';",
  "import { dirname as __mbftDirname } from 'node:path';",
  "const require = __mbftCreateRequire(import.meta.url);",
  "const __filename = __mbftFileUrlToPath(import.meta.url);",
  "const __dirname = __mbftDirname(__filename);",
].join("\n");

async function emptyDirectory(directory: string): Promise<void> {
  // The directory itself stays: running nodes bind-mount it, and replacing it would strand them.
  await mkdir(directory, { recursive: true });
  for (const name of await readdir(directory))
    await rm(join(directory, name), { recursive: true, force: true });
}

export async function buildRom(options: { projectRoot: string; directory: string }): Promise<BuiltRom> {
  const startMs = performance.now();
  const entries = await romEntries(options.projectRoot);
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (error) {
    throw imageErrors.romBuildFailed("esbuild is not installed", error);
  }
  await emptyDirectory(options.directory);
  for (const entry of entries) {
    try {
      await esbuild.build({
        entryPoints: [join(options.projectRoot, entry.source)],
        outfile: join(options.directory, entry.target),
        bundle: true,
        platform: "node",
        target: "node20",
        format: "esm",
        banner: { js: BANNER },
        external: ["cpu-features", "*.node", "esbuild"],
        logLevel: "silent",
        legalComments: "none",
      });
    } catch (error) {
      throw imageErrors.romBuildFailed(`${entry.source}: ${String((error as Error).message)}`, error);
    }
  }
  await writeFile(join(options.directory, "package.json"), '{ "type": "module" }\n');
  const digest = await codeDigest(options.directory);
  return {
    directory: options.directory,
    codeDigest: digest,
    entries,
    elapsedMs: Math.round(performance.now() - startMs),
  };
}
