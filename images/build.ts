/**
 * Builds the testbed's images without any registry: FROM scratch, a root file system assembled
 * from this machine's binaries, sent to the engine as a tar stream we write ourselves. Each image
 * is tagged with the SHA-256 of its build context, so an unchanged context is never rebuilt.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type Docker from "dockerode";
import { imageErrors } from "./errors.js";
import { binaryWithLibraries } from "./rootfs.js";
import { type TarEntry, tarPack } from "./tar.js";

export const IMAGE_LABEL_OWNER = "mbft.owner";
export const IMAGE_OWNER = "migrate-bft";
const ROOTFS = "rootfs/";
const DIGEST_TAG_CHARS = 16;

export type ImageKind = "node" | "etcd";

export interface BuiltImage {
  readonly kind: ImageKind;
  /** repository:tag, the tag being the first 16 hex digits of the context digest. */
  readonly tag: string;
  readonly contextDigest: string;
  readonly contextBytes: number;
  /** False when an image with this digest already existed. */
  readonly built: boolean;
  readonly elapsedMs: number;
}

interface ImageRecipe {
  readonly repository: string;
  readonly rootfs: TarEntry[];
  readonly dockerfile: string;
}

function directories(paths: readonly string[], mode = 0o755): TarEntry[] {
  return paths.map((path) => ({ kind: "directory", path: `${ROOTFS}${path}`, mode }));
}

function textFile(path: string, text: string): TarEntry {
  return { kind: "file", path: `${ROOTFS}${path}`, mode: 0o644, data: Buffer.from(text) };
}

async function nodeRecipe(nodeBinaryPath: string): Promise<ImageRecipe> {
  const binary = await binaryWithLibraries({
    sourcePath: nodeBinaryPath,
    targetPath: "/usr/bin/node",
    prefix: ROOTFS,
  });
  // Mount points and the node's "disk" (/data, the writable layer) exist in the image so that a
  // disk swap brings them back empty. /run/mem is the tmpfs that emulates volatile memory.
  const skeleton: TarEntry[] = [
    ...directories(["etc", "rom", "coproc", "hw", "etc/mbft", "run", "run/mem", "data", "var"]),
    ...directories(["tmp"], 0o1777),
    textFile("etc/passwd", "root:x:0:0:root:/data:/usr/bin/node\n"),
    textFile("etc/group", "root:x:0:\n"),
  ];
  const dockerfile = [
    "FROM scratch",
    `COPY ${ROOTFS} /`,
    "ENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu",
    "WORKDIR /data",
    'ENTRYPOINT ["/usr/bin/node", "/rom/node-agent/main.js"]',
    "",
  ].join("\n");
  return { repository: "mbft-node", rootfs: [...skeleton, ...binary], dockerfile };
}

async function etcdRecipe(etcdBinaryPath: string): Promise<ImageRecipe> {
  const binary = await binaryWithLibraries({
    sourcePath: etcdBinaryPath,
    targetPath: "/usr/bin/etcd",
    prefix: ROOTFS,
  });
  const skeleton: TarEntry[] = [
    ...directories(["etc", "var", "var/lib", "var/lib/etcd"]),
    ...directories(["tmp"], 0o1777),
  ];
  const dockerfile = [
    "FROM scratch",
    `COPY ${ROOTFS} /`,
    "ENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu",
    'ENTRYPOINT ["/usr/bin/etcd"]',
    "",
  ].join("\n");
  return { repository: "mbft-etcd", rootfs: [...skeleton, ...binary], dockerfile };
}

function dedupe(entries: readonly TarEntry[]): TarEntry[] {
  const seen = new Map<string, TarEntry>();
  for (const entry of entries) if (!seen.has(entry.path)) seen.set(entry.path, entry);
  return [...seen.values()].sort((a, b) => a.path.localeCompare(b.path));
}

function context(recipe: ImageRecipe): { tar: Buffer; digest: string } {
  const entries: TarEntry[] = [
    { kind: "file", path: "Dockerfile", mode: 0o644, data: Buffer.from(recipe.dockerfile) },
    { kind: "directory", path: ROOTFS.replace(/\/$/, ""), mode: 0o755 },
    ...dedupe(recipe.rootfs),
  ];
  const tar = tarPack(entries);
  return { tar, digest: createHash("sha256").update(tar).digest("hex") };
}

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

async function buildContext(docker: Docker, tar: Buffer, tag: string, labels: Record<string, string>) {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(Readable.from([tar]), {
      t: tag,
      labels,
      rm: true,
      forcerm: true,
      version: "1",
    });
  } catch (error) {
    throw imageErrors.buildFailed(tag, String((error as Error).message), error);
  }
  const output = await new Promise<Array<{ error?: string; stream?: string }>>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, result: Array<{ error?: string }>) =>
      error ? reject(error) : resolve(result),
    );
  }).catch((error: unknown) => {
    throw imageErrors.buildFailed(tag, String((error as Error).message), error);
  });
  const failure = output.find((line) => line.error !== undefined);
  if (failure?.error !== undefined) throw imageErrors.buildFailed(tag, failure.error);
}

export interface BuildImageOptions {
  readonly docker: Docker;
  readonly kind: ImageKind;
  /** Host binary to package: `process.execPath` for node, /usr/bin/etcd for etcd. */
  readonly binaryPath?: string;
  /** Rebuild even if an image with this digest exists. */
  readonly force?: boolean;
}

export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const startMs = performance.now();
  const recipe =
    options.kind === "node"
      ? await nodeRecipe(options.binaryPath ?? process.execPath)
      : await etcdRecipe(options.binaryPath ?? "/usr/bin/etcd");
  const { tar, digest } = context(recipe);
  const tag = `${recipe.repository}:${digest.slice(0, DIGEST_TAG_CHARS)}`;
  const exists = !options.force && (await imageExists(options.docker, tag));
  if (!exists) {
    const labels = {
      [IMAGE_LABEL_OWNER]: IMAGE_OWNER,
      "mbft.image": options.kind,
      "mbft.context-digest": digest,
    };
    await buildContext(options.docker, tar, tag, labels);
  }
  return {
    kind: options.kind,
    tag,
    contextDigest: digest,
    contextBytes: tar.length,
    built: !exists,
    elapsedMs: Math.round(performance.now() - startMs),
  };
}
