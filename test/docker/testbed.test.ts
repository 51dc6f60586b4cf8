/**
 * Proves the hardware emulation on a real Docker engine: an f=1 testbed (4 active + 2 standby
 * nodes) comes up within 15 s with three NICs per node; the switch shuts ports, partitions pairs
 * and shapes rate, and its rules survive reboot and disk swap; reboot clears memory but keeps the
 * disk; disk swap clears the disk but keeps the coprocessor; the ROM is read-only; the private key
 * is unreachable; quotes bind the code digest; damage fails probes until repair; teardown leaves
 * nothing behind. Network checks use the agents' diagnostic TCP sink and sender.
 */
import { execFileSync } from "node:child_process";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyQuote } from "../../bft/coprocessor/index.js";
import { defaultConfig, LABEL_TESTBED, Testbed } from "../../controller/index.js";
import { codeDigest } from "../../images/index.js";
import { type QuoteJson, quoteFromJson } from "../../node-agent/index.js";

const NAME = "mbft-dt";
const config = defaultConfig({
  name: NAME,
  subnets: { nic1: "10.81.1.0/24", nic2: "10.81.2.0/24", nic3: "10.81.3.0/24" },
});
const docker = new Docker();
let testbed: Testbed;
let upMs = 0;

interface SendResult {
  ok: boolean;
  elapsedMs: number;
  error?: string;
}

async function value<T>(node: string, command: string): Promise<T> {
  const reply = await testbed.exec<T>(node, command, 60_000);
  return reply.value;
}

async function send(
  from: string,
  to: string,
  nic: "nic1" | "nic2",
  port: number,
  bytes = 1000,
  timeoutMs = 1500,
) {
  const address = testbed.plan(to).addresses[nic];
  return value<SendResult>(from, `net-send ${address} ${port} ${bytes} ${timeoutMs}`);
}

async function serve(node: string, nic: "nic1" | "nic2", port: number): Promise<void> {
  await value(node, `net-serve ${testbed.plan(node).addresses[nic]} ${port}`);
}

beforeAll(async () => {
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`Docker is not reachable (${(error as Error).message}); run \`npm run setup\` first`);
  }
  testbed = await Testbed.open({ config });
  const startMs = performance.now();
  await testbed.up();
  upMs = performance.now() - startMs;
  console.log(`testbed up in ${Math.round(upMs)} ms`);
}, 120_000);

afterAll(async () => {
  if (testbed === undefined) return;
  const report = await testbed.down();
  console.log(`testbed down in ${report.elapsedMs} ms`);
}, 120_000);

describe("provisioning", () => {
  it("brings f=1 up within 15 s, each node with three NICs on the three subnets", async () => {
    expect(upMs).toBeLessThan(15_000);
    expect(testbed.nodes()).toHaveLength(6);
    for (const plan of testbed.nodes()) {
      const health = await value<{ healthy: boolean; nics: Array<{ address: string }> }>(plan.node, "health");
      expect(health.healthy).toBe(true);
      expect(health.nics.map((nic) => nic.address).sort()).toEqual(
        [plan.addresses.nic1, plan.addresses.nic2, plan.addresses.nic3].sort(),
      );
    }
  });

  it("mounts the code read-only and a second up is a no-op", async () => {
    const info = await docker.getContainer(testbed.containerName("n0")).inspect();
    const rom = info.Mounts.find((mount) => mount.Destination === "/rom");
    expect(rom?.RW).toBe(false);
    const refused = await testbed.exec<{ error: { code: string } }>("n0", "write /rom/evil.js x");
    expect(refused.value.error.code).toBe("AGENT_PATH_REFUSED");
    const again = await testbed.up();
    expect(again.reused).toBe(true);
  });

  it("starts standby nodes with their NIC1 port shut down", async () => {
    const ports = await testbed.switch.show();
    expect(ports.find((port) => port.port === "n4/nic1")?.status).toBe("disabled");
    expect(ports.find((port) => port.port === "n0/nic1")?.status).toBe("connected");
  });
});

describe("switch", () => {
  it("shutdown on a NIC1 port blocks TCP to it while NIC2 works; no shutdown restores it", async () => {
    await serve("n1", "nic1", 7001);
    await serve("n1", "nic2", 7002);
    expect((await send("n0", "n1", "nic1", 7001)).ok).toBe(true);
    await testbed.switch.shutdown("n1/nic1");
    expect((await send("n0", "n1", "nic1", 7001)).ok).toBe(false);
    expect((await send("n0", "n1", "nic2", 7002)).ok).toBe(true);
    await testbed.switch.noShutdown("n1/nic1");
    expect((await send("n0", "n1", "nic1", 7001)).ok).toBe(true);
    const counters = (await testbed.switch.show()).find((port) => port.port === "n1/nic1");
    expect(counters?.output.packets).toBeGreaterThan(0);
  });

  it("a partition blocks exactly the named pairs", async () => {
    await serve("n1", "nic2", 7002);
    await serve("n2", "nic2", 7002);
    await testbed.switch.partition({ name: "p1", groupA: ["n0/nic2"], groupB: ["n1/nic2"] });
    expect((await send("n0", "n1", "nic2", 7002)).ok).toBe(false);
    expect((await send("n0", "n2", "nic2", 7002)).ok).toBe(true);
    expect((await send("n3", "n1", "nic2", 7002)).ok).toBe(true);
    await testbed.switch.heal("p1");
    expect((await send("n0", "n1", "nic2", 7002)).ok).toBe(true);
  });

  it("shapes a port to 100 Mbit/s: 20 MB take 1.6 s +-20%", async () => {
    await serve("n1", "nic2", 7003);
    await testbed.switch.rateLimit("n1/nic2", "100mbit");
    const result = await send("n0", "n1", "nic2", 7003, 20_000_000, 20_000);
    await testbed.switch.rateLimit("n1/nic2", null);
    console.log(
      `20 MB at 100 Mbit/s: ${result.elapsedMs} ms = ${((20_000_000 * 8) / result.elapsedMs / 1000).toFixed(1)} Mbit/s`,
    );
    expect(result.ok).toBe(true);
    expect(result.elapsedMs).toBeGreaterThan(1280);
    expect(result.elapsedMs).toBeLessThan(1920);
  });

  it("rejects bad commands without changing anything", async () => {
    const before = JSON.stringify(testbed.switch.state);
    await expect(testbed.switch.shutdown("n9/nic1")).rejects.toMatchObject({ code: "SWITCH_UNKNOWN_PORT" });
    await expect(testbed.switch.rateLimit("n0/nic2", "fast")).rejects.toMatchObject({
      code: "SWITCH_BAD_RATE",
    });
    expect(JSON.stringify(testbed.switch.state)).toBe(before);
  });
});

describe("power actions", () => {
  it("reboot clears /run/mem and /dev/shm, keeps the disk, and the switch rules survive", async () => {
    await value("n2", "write /run/mem/secret in-memory");
    await value("n2", "write /dev/shm/segment shm");
    await value("n2", "write /data/file on-disk");
    const before = await value<{ bootId: string }>("n2", "status");
    await testbed.switch.shutdown("n2/nic1");
    const reboot = await testbed.reboot("n2");
    console.log(`reboot in ${reboot.elapsedMs} ms`);
    const after = await value<{ bootId: string }>("n2", "status");
    expect(after.bootId).not.toBe(before.bootId);
    expect((await testbed.exec("n2", "read /run/mem/secret")).exitCode).not.toBe(0);
    expect((await testbed.exec("n2", "read /dev/shm/segment")).exitCode).not.toBe(0);
    expect((await value<{ text: string }>("n2", "read /data/file")).text).toBe("on-disk");
    await serve("n2", "nic1", 7001);
    await serve("n2", "nic2", 7002);
    expect((await send("n0", "n2", "nic1", 7001)).ok).toBe(false);
    expect((await send("n0", "n2", "nic2", 7002)).ok).toBe(true);
    await testbed.switch.noShutdown("n2/nic1");
  });

  it("disk swap clears the disk, keeps coprocessor key and counter, addresses and switch rules", async () => {
    await value("n3", "write /data/file on-disk");
    await value("n3", "counter increment");
    const before = await value<{ coprocessor: { publicKey: string; counter: number } }>("n3", "status");
    await testbed.switch.shutdown("n3/nic1");
    const swap = await testbed.diskSwap("n3");
    console.log(`disk swap in ${swap.elapsedMs} ms`);
    const after = await value<{ coprocessor: { publicKey: string; counter: number }; nics: object }>(
      "n3",
      "status",
    );
    expect(after.coprocessor).toEqual(before.coprocessor);
    expect(after.coprocessor.counter).toBeGreaterThanOrEqual(1);
    expect((await testbed.exec("n3", "read /data/file")).exitCode).not.toBe(0);
    const sanitized = await value<{ diskClean: boolean; memoryClean: boolean }>("n3", "sanitize-check");
    expect(sanitized).toMatchObject({ diskClean: true, memoryClean: true });
    await serve("n3", "nic1", 7001);
    expect((await send("n0", "n3", "nic1", 7001)).ok).toBe(false);
    await testbed.switch.noShutdown("n3/nic1");
    expect((await send("n0", "n3", "nic1", 7001)).ok).toBe(true);
  });

  it("hardware damage fails probes until repair", async () => {
    await testbed.damage("n5");
    expect((await testbed.exec("n5", "health")).exitCode).toBe(1);
    expect(
      (await testbed.exec<{ error: { code: string } }>("n5", "attest 00112233445566778899aabbccddeeff")).value
        .error.code,
    ).toBe("AGENT_HARDWARE_DAMAGED");
    await testbed.repair("n5");
    expect((await testbed.exec("n5", "health")).exitCode).toBe(0);
  });
});

describe("coprocessor", () => {
  it("never exposes the private key through any command", async () => {
    for (const path of [
      "/coproc/secret/ed25519.pem",
      "/proc/1/root/coproc/secret/ed25519.pem",
      "/data/../coproc/secret/ed25519.pem",
      "/proc/1/environ",
    ]) {
      const reply = await testbed.exec<{ error: { code: string } }>("n0", `read ${path}`);
      expect(reply.value.error.code).toBe("AGENT_PATH_REFUSED");
    }
    expect((await testbed.exec<{ error: { code: string } }>("n0", "ls /coproc")).value.error.code).toBe(
      "AGENT_PATH_REFUSED",
    );
    for (const command of [
      "status",
      "health",
      "help",
      "sanitize-check",
      "attest 00112233445566778899aabbccddeeff",
    ]) {
      expect(JSON.stringify((await testbed.exec("n0", command)).value)).not.toMatch(/PRIVATE KEY/);
    }
  });

  it("quotes bind the nonce, the counter and the ROM digest", async () => {
    const nonce = "0123456789abcdef0123456789abcdef";
    const quote = quoteFromJson(await value<QuoteJson>("n0", `attest ${nonce}`));
    const romDigest = new Uint8Array(Buffer.from(await codeDigest(testbed.romDirectory), "hex"));
    const expected = {
      publicKey: quote.publicKey,
      codeDigest: romDigest,
      nonce: new Uint8Array(Buffer.from(nonce, "hex")),
    };
    expect(verifyQuote(quote, expected)).toEqual({ ok: true });
    const otherCode = Uint8Array.from(romDigest);
    otherCode[0] = (otherCode[0]! + 1) % 256;
    expect(verifyQuote(quote, { ...expected, codeDigest: otherCode })).toEqual({
      ok: false,
      reason: "codeDigestMismatch",
    });
    expect(verifyQuote({ ...quote, codeDigest: otherCode }, { ...expected, codeDigest: otherCode })).toEqual({
      ok: false,
      reason: "badSignature",
    });
  });
});

describe("teardown", () => {
  it("leaves no container, network, volume or rule behind", async () => {
    await testbed.down();
    const filter = { label: [`${LABEL_TESTBED}=${NAME}`] };
    expect(await docker.listContainers({ all: true, filters: filter })).toHaveLength(0);
    expect(await docker.listNetworks({ filters: filter })).toHaveLength(0);
    expect((await docker.listVolumes({ filters: filter })).Volumes).toHaveLength(0);
    const rules = execFileSync("iptables-save", ["-t", "filter"], { encoding: "utf8" });
    expect(rules).not.toContain("MBFT-MBFT-DT");
    expect(execFileSync("ip", ["-o", "link", "show", "type", "ifb"], { encoding: "utf8" })).not.toMatch(
      / mb[0-9a-f]{12}/,
    );
  });
});
