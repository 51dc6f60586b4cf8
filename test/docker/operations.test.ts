/**
 * Proves the operator's remaining testbed actions on a real Docker engine: a crashed run (its
 * controller died mid-way, leaving an incomplete set of containers) is swept by the next `up`,
 * while a complete testbed is reused; power off makes a node unreachable and
 * power on brings it back with its disk; the switch counts a port's packets and bytes; the node's
 * interactive shell answers commands over SSH on NIC3. How: an f=1 testbed with no standbys,
 * driven through the controller's API, the agents' diagnostic TCP sink and sender, and agentShell
 * with in-memory streams.
 */
import { PassThrough } from "node:stream";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentShell, defaultConfig, LABEL_TESTBED, Testbed } from "../../controller/index.js";

const NAME = "mbft-ops";
const config = defaultConfig({
  name: NAME,
  standby: 0,
  subnets: { nic1: "10.83.1.0/24", nic2: "10.83.2.0/24", nic3: "10.83.3.0/24" },
});
const docker = new Docker();
let testbed: Testbed;

async function containerIds(): Promise<string[]> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_TESTBED}=${NAME}`] },
  });
  return containers.map((container) => container.Id).sort();
}

beforeAll(async () => {
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`Docker is not reachable (${(error as Error).message}); run \`npm run setup\` first`);
  }
  // A run whose controller died mid-way: networks, volumes and some containers stay behind, one
  // node's container is missing.
  const crashed = await Testbed.open({ config });
  await crashed.up();
  crashed.stopFollowing();
  await docker.getContainer(crashed.containerName("n3")).remove({ force: true, v: false });
  testbed = await Testbed.open({ config });
}, 180_000);

afterAll(async () => {
  if (testbed !== undefined) await testbed.down();
}, 120_000);

describe("operations", () => {
  it("sweeps a crashed run's leftovers on the next up and starts fresh nodes", async () => {
    const before = await containerIds();
    expect(before.length).toBe(3);
    await testbed.up();
    const after = await containerIds();
    expect(after.length).toBe(4);
    expect(after.some((id) => before.includes(id))).toBe(false);
    // A complete testbed is reused as it is (the controller is a CLI: later commands find it).
    expect((await testbed.up()).reused).toBe(true);
    expect(await containerIds()).toEqual(after);
  });

  it("power off makes a node unreachable; power on brings it back with its disk", async () => {
    await testbed.exec("n2", "write /data/kept on-disk");
    await testbed.powerOff("n2");
    await expect(testbed.exec("n2", "status", 3000)).rejects.toBeDefined();
    await testbed.powerOn("n2");
    const reply = await testbed.exec<{ text: string }>("n2", "read /data/kept");
    expect(reply.value.text).toBe("on-disk");
  });

  it("counts a port's packets and bytes", async () => {
    const address = testbed.plan("n1").addresses.nic2;
    const before = (await testbed.switch.show()).find((port) => port.port === "n1/nic2");
    await testbed.exec("n1", `net-serve ${address} 7010`);
    const sent = await testbed.exec<{ ok: boolean }>("n0", `net-send ${address} 7010 200000 5000`);
    expect(sent.value.ok).toBe(true);
    const after = (await testbed.switch.show()).find((port) => port.port === "n1/nic2");
    expect(before).toBeDefined();
    expect(after).toBeDefined();
    // Frames to n1 leave the bridge through its veth: the port's output counter.
    expect(after!.output.bytes - before!.output.bytes).toBeGreaterThanOrEqual(200_000);
    expect(after!.output.packets).toBeGreaterThan(before!.output.packets);
  });

  it("the interactive shell answers commands over SSH and exits", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let text = "";
    output.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
    });
    const session = agentShell(await testbed.endpoint("n0"), { input, output });
    input.write("status\n");
    for (let waited = 0; !text.includes('"bootId"') && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    input.write("exit\n");
    await session;
    expect(text).toContain("node-agent shell on n0");
    expect(text).toContain('"bootId"');
  });
});
