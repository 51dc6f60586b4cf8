/**
 * Proves the TCP transport moves frames intact and survives misbehaving peers. How: real
 * transports on 127.0.0.1 with ephemeral ports exchange frames in order, a 4 MiB frame arrives
 * byte for byte, a raw socket that announces an oversized frame or a bad hello is disconnected
 * while the transport keeps serving others, a replica answers a client (which has no listening
 * port) over the client's own connection, a sender reconnects after its peer restarts on the same
 * port, and unroutable, over-queue and after-close sends are dropped and counted, never thrown.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Principal } from "../../bft/messages.js";
import {
  createTcpTransport,
  encodeHello,
  FrameSplitter,
  type PeerAddress,
  principalKey,
  type TcpTransport,
  type TcpTransportOptions,
} from "../../bft/transport/index.js";

const HOST = "127.0.0.1";
const replica = (id: number): Principal => ({ kind: "replica", id });
const client = (id: number): Principal => ({ kind: "client", id });

const open: TcpTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((transport) => transport.close()));
});

/** Addresses shared by every transport of a test, filled in as they start listening. */
function directory(): Map<string, PeerAddress> {
  return new Map();
}

async function start(
  self: Principal,
  addresses: Map<string, PeerAddress>,
  options: Partial<TcpTransportOptions> = {},
): Promise<{ transport: TcpTransport; frames: Uint8Array[] }> {
  const transport = await createTcpTransport({
    self,
    ...(self.kind === "replica"
      ? { listen: { host: HOST, port: addresses.get(principalKey(self))?.port ?? 0 } }
      : {}),
    peers: (peer) => addresses.get(principalKey(peer)),
    limits: { reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 50 },
    ...options,
  });
  open.push(transport);
  if (transport.address !== undefined) addresses.set(principalKey(self), transport.address);
  const frames: Uint8Array[] = [];
  transport.onFrame((frame) => frames.push(Uint8Array.from(frame)));
  return { transport, frames };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met after ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const frameOf = (index: number, length = 32): Uint8Array => new Uint8Array(length).fill(index & 0xff);

describe("tcp transport", () => {
  it("two replicas exchange frames in order, both ways", async () => {
    const addresses = directory();
    const a = await start(replica(0), addresses);
    const b = await start(replica(1), addresses);
    expect(a.transport.address?.host).toBe(HOST);
    for (let index = 0; index < 1000; index++)
      a.transport.send(replica(1), frameOf(index, 1 + (index % 300)));
    b.transport.send(replica(0), frameOf(99));
    await until(() => b.frames.length === 1000 && a.frames.length === 1);
    const mismatched = b.frames.filter(
      (frame, index) => Buffer.compare(frame, frameOf(index, 1 + (index % 300))) !== 0,
    );
    expect(mismatched).toHaveLength(0);
    expect(a.frames[0]).toEqual(frameOf(99));
    expect(a.transport.counters.framesOut).toBe(1000);
    expect(b.transport.counters.framesIn).toBe(1000);
  });

  it("a 4 MiB frame arrives intact", async () => {
    const addresses = directory();
    const a = await start(replica(0), addresses);
    const b = await start(replica(1), addresses);
    const big = new Uint8Array(4 * 1024 * 1024);
    for (let index = 0; index < big.length; index++) big[index] = (index * 2654435761) >>> 24;
    a.transport.send(replica(1), big);
    a.transport.send(replica(1), frameOf(1));
    await until(() => b.frames.length === 2);
    const hash = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
    expect(b.frames[0]!.length).toBe(big.length);
    expect(hash(b.frames[0]!)).toBe(hash(big));
    expect(b.frames[1]).toEqual(frameOf(1));
  });

  it("a replica answers a client over the client's own connection", async () => {
    const addresses = directory();
    const server = await start(replica(0), addresses);
    const user = await start(client(7), addresses);
    expect(user.transport.address).toBeUndefined();
    user.transport.send(replica(0), frameOf(1));
    await until(() => server.frames.length === 1);
    server.transport.send(client(7), frameOf(2));
    await until(() => user.frames.length === 1);
    expect(user.frames[0]).toEqual(frameOf(2));
    server.transport.send(client(8), frameOf(3));
    expect(server.transport.counters.framesDroppedNoRoute).toBe(1);
  });

  it("closes a connection that announces an oversized frame, and keeps serving", async () => {
    const addresses = directory();
    const server = await start(replica(0), addresses);
    const address = server.transport.address!;
    const raw = net.connect({ host: address.host, port: address.port });
    const closed = new Promise<void>((resolve) => raw.once("close", () => resolve()));
    raw.on("error", () => {});
    const hello = encodeHello(client(5));
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(hello.length);
    raw.write(Buffer.concat([prefix, hello, Buffer.from([0xff, 0xff, 0xff, 0xff])]));
    await closed;
    expect(server.transport.counters.connectionsRejected).toBe(1);
    expect(server.frames).toHaveLength(0);
    const other = await start(replica(1), addresses);
    other.transport.send(replica(0), frameOf(4));
    await until(() => server.frames.length === 1);
  });

  it("closes a connection whose first frame is not a hello", async () => {
    const addresses = directory();
    const server = await start(replica(0), addresses);
    const raw = net.connect({ host: HOST, port: server.transport.address!.port });
    raw.on("error", () => {});
    const closed = new Promise<void>((resolve) => raw.once("close", () => resolve()));
    raw.write(Buffer.from([0, 0, 0, 3, 1, 2, 3]));
    await closed;
    expect(server.transport.counters.connectionsRejected).toBe(1);
  });

  it("reconnects after the peer restarts on the same port", async () => {
    const addresses = directory();
    const a = await start(replica(0), addresses);
    const first = await start(replica(1), addresses);
    a.transport.send(replica(1), frameOf(1));
    await until(() => first.frames.length === 1);
    await first.transport.close();
    const second = await start(replica(1), addresses);
    // Best effort: frames written into the dying connection may be lost, so keep sending.
    await until(() => {
      a.transport.send(replica(1), frameOf(2));
      return second.frames.length > 0;
    });
    expect(second.frames[0]).toEqual(frameOf(2));
    expect(a.transport.counters.reconnects).toBeGreaterThanOrEqual(1);
  });

  it("bounds the queue of an unreachable peer and drops the excess", async () => {
    const addresses = directory();
    const a = await start(replica(0), addresses, {
      limits: { sendQueueFramesMax: 10, reconnectBackoffMsMin: 1000 },
    });
    const unused = net.createServer();
    await new Promise<void>((resolve) => unused.listen(0, HOST, () => resolve()));
    const port = (unused.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => unused.close(() => resolve()));
    a.transport.setPeer(replica(3), { host: HOST, port });
    for (let index = 0; index < 25; index++) a.transport.send(replica(3), frameOf(index));
    expect(a.transport.counters.framesDroppedQueueFull).toBe(15);
    a.transport.removePeer(replica(3));
    a.transport.send(replica(3), frameOf(1));
    expect(a.transport.counters.framesDroppedNoRoute).toBe(1);
  });

  it("setPeer moves a peer to a new address", async () => {
    const addresses = directory();
    const a = await start(replica(0), addresses);
    const b = await start(replica(1), addresses);
    a.transport.send(replica(1), frameOf(1));
    await until(() => b.frames.length === 1);
    const moved = await start(replica(2), directory(), { self: replica(2) });
    a.transport.setPeer(replica(1), moved.transport.address!);
    await until(() => {
      a.transport.send(replica(1), frameOf(2));
      return moved.frames.length > 0;
    });
  });

  it("close() resolves, then sends are dropped and counted", async () => {
    const addresses = directory();
    const a = await start(replica(0), addresses);
    const b = await start(replica(1), addresses);
    a.transport.send(replica(1), frameOf(1));
    await until(() => b.frames.length === 1);
    await Promise.all([a.transport.close(), b.transport.close()]);
    a.transport.send(replica(1), frameOf(2));
    expect(a.transport.counters.framesDroppedClosed).toBeGreaterThanOrEqual(1);
  });

  it("rejects invalid limits with the value in the message", async () => {
    await expect(
      createTcpTransport({ self: replica(0), peers: new Map(), limits: { sendQueueFramesMax: 0 } }),
    ).rejects.toThrow("sendQueueFramesMax must be a positive integer, got 0");
  });
});

describe("frame splitter", () => {
  it("reassembles frames cut at every byte boundary", () => {
    const frames = [frameOf(1, 0), frameOf(2, 5), frameOf(3, 300), frameOf(4, 1)];
    const stream = Buffer.concat(
      frames.flatMap((frame) => {
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(frame.length);
        return [prefix, Buffer.from(frame)];
      }),
    );
    for (const step of [1, 2, 3, 7, 64, stream.length]) {
      const received: Uint8Array[] = [];
      const splitter = new FrameSplitter(1024, (frame) => received.push(Uint8Array.from(frame)));
      for (let offset = 0; offset < stream.length; offset += step) {
        expect(splitter.push(stream.subarray(offset, offset + step))).toBe(true);
      }
      expect(received).toEqual(frames);
    }
  });

  it("refuses a length prefix above its limit", () => {
    const splitter = new FrameSplitter(16, () => {});
    expect(splitter.push(Buffer.from([0, 0, 0, 17]))).toBe(false);
  });
});
