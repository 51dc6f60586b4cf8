/**
 * Proves the testbed's configuration checks and address plan, the node spec builder's invariants,
 * the ldd parser and the reproducible tar writer used for image contexts.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_RESOURCES } from "../../controller/config.js";
import {
  defaultConfig,
  NodeSpecBuilder,
  planNodes,
  switchChain,
  validateConfig,
} from "../../controller/index.js";
import { parseLdd, tarPack } from "../../images/index.js";

describe("config", () => {
  it("plans 3f+1 active then standby nodes, addresses from .10", () => {
    const plans = planNodes(defaultConfig({ f: 1, standby: 2 }));
    expect(plans.map((plan) => `${plan.node}:${plan.initialRole}`)).toEqual([
      "n0:active",
      "n1:active",
      "n2:active",
      "n3:active",
      "n4:standby",
      "n5:standby",
    ]);
    expect(plans[5]?.addresses).toEqual({ nic1: "10.77.1.15", nic2: "10.77.2.15", nic3: "10.77.3.15" });
    expect(switchChain("mbft")).toBe("MBFT-MBFT");
  });

  it.each([
    [{ name: "Bad" }, "name"],
    [{ f: 0 }, "f"],
    [{ standby: -1 }, "standby"],
    [{ subnets: { nic1: "10.0.0.0/16", nic2: "10.0.2.0/24", nic3: "10.0.3.0/24" } }, "subnets.nic1"],
    [{ subnets: { nic1: "10.0.2.0/24", nic2: "10.0.2.0/24", nic3: "10.0.3.0/24" } }, "subnets"],
  ])("rejects %o naming %s", (override, field) => {
    expect(() => validateConfig(defaultConfig(override))).toThrow(
      expect.objectContaining({ code: "TESTBED_BAD_CONFIG" }),
    );
    expect(() => validateConfig(defaultConfig(override))).toThrow(new RegExp(field.replace(".", "\\.")));
  });
});

describe("node spec builder", () => {
  it("builds a spec with a read-only ROM, three NICs and the coprocessor volume", () => {
    const spec = new NodeSpecBuilder("tb-n0")
      .withImage("mbft-node:abc")
      .withNics([
        { network: "tb-nic1", ipv4: "10.0.1.10" },
        { network: "tb-nic2", ipv4: "10.0.2.10" },
        { network: "tb-nic3", ipv4: "10.0.3.10" },
      ])
      .withCodeMount("/rom-src")
      .withCoprocessorVolume("tb-n0-coproc")
      .withMemoryTmpfs("/run/mem", 1024)
      .withResources(DEFAULT_RESOURCES)
      .build();
    expect(spec.binds).toContainEqual({ source: "/rom-src", target: "/rom", readOnly: true });
    expect(spec.volumes).toEqual([{ name: "tb-n0-coproc", target: "/coproc" }]);
    expect(spec.tmpfs["/run/mem"]).toContain("size=1024");
  });

  it("refuses a node without three NICs", () => {
    const builder = new NodeSpecBuilder("x")
      .withImage("i")
      .withCodeMount("/r")
      .withResources(DEFAULT_RESOURCES);
    expect(() => builder.build()).toThrow(/three NICs/);
  });
});

describe("image helpers", () => {
  it("parses ldd output", () => {
    const output = [
      "\tlinux-vdso.so.1 (0x00007ffd)",
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)",
    ].join("\n");
    expect(parseLdd(output)).toEqual(["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]);
  });

  it("writes a reproducible tar", () => {
    const entries = [
      { kind: "directory" as const, path: "a", mode: 0o755 },
      { kind: "file" as const, path: "a/b.txt", mode: 0o644, data: Buffer.from("hello") },
    ];
    const first = tarPack(entries);
    expect(first.equals(tarPack(entries))).toBe(true);
    expect(first.length % 512).toBe(0);
    expect(first.subarray(512 * 2, 512 * 2 + 5).toString()).toBe("hello");
  });
});
