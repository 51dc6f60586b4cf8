import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { HOST_NODE_FLAGS, missingHostNodeFlags } from "../../bft/host/index.js";

describe("HOST_NODE_FLAGS", () => {
  it("are accepted by this node binary", () => {
    const run = spawnSync(process.execPath, [...HOST_NODE_FLAGS, "-e", "process.exit(0)"], {
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });

  it("missingHostNodeFlags names the flags a command line lacks", () => {
    expect(missingHostNodeFlags([])).toEqual([...HOST_NODE_FLAGS]);
    expect(missingHostNodeFlags(["--inspect", ...HOST_NODE_FLAGS])).toEqual([]);
  });
});
