/**
 * `npm run images`: builds the code ROM and the node and etcd images. Prints one line per artifact;
 * unchanged images are reused (their tag is the digest of their build context).
 */
import { Command } from "commander";
import Docker from "dockerode";
import { buildImage, type ImageKind } from "./build.js";
import { ImageError } from "./errors.js";
import { projectRoot, romDirectory } from "./paths.js";
import { buildRom } from "./rom.js";

async function main(options: { force: boolean; only?: string }): Promise<void> {
  const root = projectRoot();
  const rom = await buildRom({ projectRoot: root, directory: romDirectory(root) });
  console.log(`rom    ${rom.directory}  digest ${rom.codeDigest.slice(0, 16)}  ${rom.elapsedMs} ms`);
  const docker = new Docker();
  const kinds: ImageKind[] = options.only === undefined ? ["node", "etcd"] : [options.only as ImageKind];
  for (const kind of kinds) {
    const image = await buildImage({ docker, kind, force: options.force });
    const what = image.built ? "built" : "up to date";
    const megabytes = (image.contextBytes / 1024 / 1024).toFixed(1);
    console.log(`image  ${image.tag}  ${what}  context ${megabytes} MiB  ${image.elapsedMs} ms`);
  }
}

const program = new Command()
  .name("images")
  .description("build the testbed ROM and images (no registry needed)")
  .option("--force", "rebuild even when an image with the same context digest exists", false)
  .option("--only <kind>", "build only one image: node or etcd")
  .option("--debug", "print stack traces", false)
  .action(async (options: { force: boolean; only?: string; debug: boolean }) => {
    try {
      await main(options);
    } catch (error) {
      if (error instanceof ImageError) {
        console.error(`error [${error.code}]: ${error.message}\n  hint: ${error.hint}`);
      } else {
        console.error(`error [IMAGE_UNEXPECTED]: ${(error as Error).message}`);
      }
      if (options.debug) console.error(error);
      process.exitCode = 1;
    }
  });

await program.parseAsync(process.argv);
