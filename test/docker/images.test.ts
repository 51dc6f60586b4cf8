/**
 * Proves the images build without a registry, FROM scratch, reproducibly: a second build reuses
 * the digest-tagged image, and the etcd image (for the CM issue) starts and prints its version.
 */
import { PassThrough } from "node:stream";
import Docker from "dockerode";
import { beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../../images/index.js";

const docker = new Docker();

beforeAll(async () => {
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`Docker is not reachable (${(error as Error).message}); run \`npm run setup\` first`);
  }
});

describe("images", () => {
  it("builds the node image once and reuses it by content digest", async () => {
    const first = await buildImage({ docker, kind: "node" });
    const second = await buildImage({ docker, kind: "node" });
    expect(second.tag).toBe(first.tag);
    expect(second.built).toBe(false);
    const info = await docker.getImage(first.tag).inspect();
    expect(info.Config.Entrypoint).toEqual(["/usr/bin/node", "/rom/node-agent/main.js"]);
  });

  it("builds an etcd image that runs", async () => {
    const image = await buildImage({ docker, kind: "etcd" });
    const output = new PassThrough();
    let text = "";
    output.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    const [result] = await docker.run(image.tag, ["--version"], output, {
      HostConfig: { AutoRemove: true, NetworkMode: "none" },
      Labels: { "mbft.testbed": "mbft-images-test" },
    });
    expect((result as { StatusCode: number }).StatusCode).toBe(0);
    expect(text).toMatch(/etcd Version: \d+\.\d+/);
  });
});
