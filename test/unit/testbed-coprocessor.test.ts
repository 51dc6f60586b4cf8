/**
 * Proves the node coprocessor on a temporary volume: the key survives a reopen (reboot or disk
 * swap keep the volume), the counter is strictly monotonic and durable, quotes verify against the
 * code digest and fail against another, and no serialization leaks the private key. Also the code
 * digest changes with any byte or name of the ROM, and file commands refuse the coprocessor volume.
 */
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyQuote } from "../../bft/coprocessor/index.js";
import { codeDigest } from "../../images/index.js";
import { FileAreas, NodeCoprocessor } from "../../node-agent/index.js";

const digest = new Uint8Array(32).fill(7);

describe("NodeCoprocessor", () => {
  it("keeps key and counter across reopen, counting strictly up", async () => {
    const directory = await mkdtemp(join(tmpdir(), "coproc-"));
    const first = NodeCoprocessor.open({ directory, codeDigest: digest });
    expect(first.counter()).toBe(0);
    expect(first.incrementCounter()).toBe(1);
    expect(first.incrementCounter()).toBe(2);
    const reopened = NodeCoprocessor.open({ directory, codeDigest: digest });
    expect(reopened.publicKey()).toEqual(first.publicKey());
    expect(reopened.counter()).toBe(2);
    expect(reopened.incrementCounter()).toBe(3);
    expect(await readdir(directory)).not.toContain("counter.tmp");
  });

  it("signs, verifies, and quotes over the code digest", async () => {
    const directory = await mkdtemp(join(tmpdir(), "coproc-"));
    const coprocessor = NodeCoprocessor.open({ directory, codeDigest: digest });
    const message = new TextEncoder().encode("join-request");
    const signature = coprocessor.sign(message);
    expect(coprocessor.verify(coprocessor.publicKey(), message, signature)).toBe(true);
    const nonce = new Uint8Array(16).fill(1);
    const quote = coprocessor.quote(nonce);
    expect(verifyQuote(quote, { publicKey: coprocessor.publicKey(), codeDigest: digest, nonce })).toEqual({
      ok: true,
    });
    const other = new Uint8Array(32).fill(8);
    expect(verifyQuote(quote, { publicKey: coprocessor.publicKey(), codeDigest: other, nonce })).toEqual({
      ok: false,
      reason: "codeDigestMismatch",
    });
    const pem = await readFile(join(directory, "secret", "ed25519.pem"), "utf8");
    expect(JSON.stringify(coprocessor)).not.toContain(pem.split("\n")[1]);
    expect(JSON.stringify(quote)).not.toContain("PRIVATE");
  });

  it("refuses a corrupt counter", async () => {
    const directory = await mkdtemp(join(tmpdir(), "coproc-"));
    NodeCoprocessor.open({ directory, codeDigest: digest });
    await writeFile(join(directory, "counter"), "banana");
    expect(() => NodeCoprocessor.open({ directory, codeDigest: digest })).toThrow(
      expect.objectContaining({ code: "AGENT_COPROCESSOR_CORRUPT" }),
    );
  });
});

describe("code digest and file areas", () => {
  it("changes with content and with names", async () => {
    const rom = await mkdtemp(join(tmpdir(), "rom-"));
    await mkdir(join(rom, "node-agent"));
    await writeFile(join(rom, "node-agent", "main.js"), "console.log(1)");
    const before = await codeDigest(rom);
    expect(await codeDigest(rom)).toBe(before);
    await writeFile(join(rom, "node-agent", "main.js"), "console.log(2)");
    const changed = await codeDigest(rom);
    expect(changed).not.toBe(before);
    await writeFile(join(rom, "extra.js"), "");
    expect(await codeDigest(rom)).not.toBe(changed);
  });

  it("confines reads and writes to the memory and disk areas", async () => {
    const root = await mkdtemp(join(tmpdir(), "areas-"));
    const data = join(root, "data");
    const coproc = join(root, "coproc");
    await mkdir(data);
    await mkdir(coproc);
    await writeFile(join(coproc, "key"), "secret");
    const areas = new FileAreas({ readWrite: [data], readOnly: [] });
    await areas.write(join(data, "x"), "hello");
    expect(await areas.read(join(data, "x"))).toBe("hello");
    await expect(areas.read(join(coproc, "key"))).rejects.toMatchObject({ code: "AGENT_PATH_REFUSED" });
    await expect(areas.read(join(data, "..", "coproc", "key"))).rejects.toMatchObject({
      code: "AGENT_PATH_REFUSED",
    });
  });
});
