/** images/: building the testbed's images and the code ROM without any registry. */
export {
  type BuildImageOptions,
  type BuiltImage,
  buildImage,
  IMAGE_LABEL_OWNER,
  IMAGE_OWNER,
  type ImageKind,
} from "./build.js";
export { codeDigest, ROM_FILES_MAX } from "./code-digest.js";
export { ImageError, imageErrors } from "./errors.js";
export { projectRoot, romDirectory } from "./paths.js";
export { type BuiltRom, buildRom, type RomEntry, romEntries } from "./rom.js";
export { parseLdd, sharedLibraries } from "./rootfs.js";
export { type TarEntry, tarPack } from "./tar.js";
