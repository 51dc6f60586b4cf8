/**
 * Typed operating errors of the image builder. Each has a stable code and a hint for the operator.
 */
import { OperatingError, type OperatingErrorOptions } from "../common/index.js";

export class ImageError extends OperatingError {
  override readonly name = "ImageError";

  constructor(options: OperatingErrorOptions) {
    super(options, 500);
  }
}

export const imageErrors = {
  binaryMissing: (path: string, cause?: unknown) =>
    new ImageError({
      code: "IMAGE_BINARY_MISSING",
      message: `binary ${path} not found on this machine`,
      hint: "run `npm run setup` to install what the testbed needs",
      cause,
    }),
  lddFailed: (path: string, cause?: unknown) =>
    new ImageError({
      code: "IMAGE_LDD_FAILED",
      message: `ldd could not list the shared libraries of ${path}`,
      hint: "ldd (libc-bin) must be installed; a statically linked binary needs no libraries",
      cause,
    }),
  buildFailed: (tag: string, detail: string, cause?: unknown) =>
    new ImageError({
      code: "IMAGE_BUILD_FAILED",
      message: `docker build of ${tag} failed: ${detail}`,
      hint: "check that dockerd runs (`npm run setup`) and see the build output with --debug",
      cause,
    }),
  romBuildFailed: (detail: string, cause?: unknown) =>
    new ImageError({
      code: "IMAGE_ROM_BUILD_FAILED",
      message: `building the code ROM failed: ${detail}`,
      hint: "run `npx tsc -p tsconfig.json --noEmit` to see type errors; esbuild must be installed",
      cause,
    }),
};
