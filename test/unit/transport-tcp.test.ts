/**
 * Proves the TCP transport moves frames intact and survives misbehaving peers. How: real
 * transports on 127.0.0.1 with ephemeral ports exchange frames in order, a 4 MiB frame arrives
 * byte for byte, a raw socket that announces an oversized frame or a bad hello is disconnected
 * while the transport keeps serving others, a replica answers a client (which has no listening
 * port) over the client's own connection, a sender reconnects after its peer restarts on the same
 * port, and unroutable, over-queue and after-close sends are dropped and counted, never thrown.
 * Routing: a gateway connection whose hello names one client carries frames of others; once bound
 * to the frame's origin, replies to each reach the gateway, the latest bind wins, a closed
 * connection's routes are forgotten, and binds beyond routesMax are refused and counted. Writes:
 * small frames coalesced into one buffer and large ones written by reference keep their order.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Principal } from "../../bft/messages.js";
import {
  COALESCE_BYTES_MAX,
  createTcpTransport,
  encodeHello,
  type FrameOrigin,
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

describe("tcp transport routing (client gateway)", () => {
  /** A replica transport that records each frame with the connection it came on. */
  async function server(limits: TcpTransportOptions["limits"] = {}) {
    const transport = await createTcpTransport({
      self: replica(0),
      listen: { host: HOST, port: 0 },
      peers: new Map(),
      limits,
    });
    open.push(transport);
    const received: { frame: Uint8Array; origin: FrameOrigin }[] = [];
    transport.onFrame((frame, origin) => received.push({ frame: Uint8Array.from(frame), origin }));
    return { transport, received };
  }

  async function gateway(self: Principal, address: PeerAddress) {
    const transport = await createTcpTransport({ self, peers: new Map([["replica:0", address]]) });
    open.push(transport);
    const frames: Uint8Array[] = [];
    transport.onFrame((frame) => frames.push(Uint8Array.from(frame)));
    return { transport, frames };
  }

  it("answers every client bound to a gateway connection over that connection", async () => {
    const replicaSide = await server();
    const gate = await gateway(client(1), replicaSide.transport.address!);
    // Client 2 has no connection of its own: its frame travels over client 1's.
    gate.transport.send(replica(0), frameOf(2));
    await until(() => replicaSide.received.length === 1);
    replicaSide.transport.send(client(2), frameOf(20));
    expect(replicaSide.transport.counters.framesDroppedNoRoute).toBe(1);
    replicaSide.transport.bind(client(2), replicaSide.received[0]!.origin);
    replicaSide.transport.send(client(2), frameOf(21));
    replicaSide.transport.send(client(1), frameOf(11));
    await until(() => gate.frames.length === 2);
    expect(gate.frames).toEqual([frameOf(21), frameOf(11)]);
  });

  it("routes to the latest bound connection and forgets a closed connection's routes", async () => {
    const replicaSide = await server();
    const first = await gateway(client(1), replicaSide.transport.address!);
    const second = await gateway(client(100), replicaSide.transport.address!);
    first.transport.send(replica(0), frameOf(1));
    await until(() => replicaSide.received.length === 1);
    second.transport.send(replica(0), frameOf(2));
    await until(() => replicaSide.received.length === 2);
    const [fromFirst, fromSecond] = replicaSide.received.map((entry) => entry.origin);
    replicaSide.transport.bind(client(5), fromFirst!);
    replicaSide.transport.bind(client(5), fromSecond!);
    replicaSide.transport.send(client(5), frameOf(5));
    await until(() => second.frames.length === 1);
    expect(first.frames).toHaveLength(0);
    await second.transport.close();
    await until(() => {
      replicaSide.transport.send(client(5), frameOf(6));
      return replicaSide.transport.counters.framesDroppedNoRoute > 0;
    });
    // A closed connection is not bound again; the first connection still serves its hello.
    replicaSide.transport.bind(client(5), fromSecond!);
    const dropped = replicaSide.transport.counters.framesDroppedNoRoute;
    replicaSide.transport.send(client(5), frameOf(7));
    expect(replicaSide.transport.counters.framesDroppedNoRoute).toBe(dropped + 1);
    replicaSide.transport.send(client(1), frameOf(8));
    await until(() => first.frames.length === 1);
    expect(first.frames[0]).toEqual(frameOf(8));
  });

  it("refuses binds beyond routesMax and counts them", async () => {
    const replicaSide = await server({ routesMax: 2 });
    const gate = await gateway(client(1), replicaSide.transport.address!);
    gate.transport.send(replica(0), frameOf(1));
    await until(() => replicaSide.received.length === 1);
    const origin = replicaSide.received[0]!.origin;
    replicaSide.transport.bind(client(2), origin);
    replicaSide.transport.bind(client(3), origin);
    expect(replicaSide.transport.counters.bindsRefused).toBe(1);
    replicaSide.transport.bind(client(2), origin);
    expect(replicaSide.transport.counters.bindsRefused).toBe(1);
  });

  it("keeps order across coalesced small frames and large frames written by reference", async () => {
    const addresses = directory();
    const a = await start(replica(0), addresses);
    const b = await start(replica(1), addresses);
    const sizes = [1, 100, COALESCE_BYTES_MAX, COALESCE_BYTES_MAX + 1, 7, 300_000, 0, 5, 64 * 1024];
    const sent = sizes.map((size, index) => frameOf(index + 1, size));
    for (const frame of sent) a.transport.send(replica(1), frame);
    await until(() => b.frames.length === sent.length);
    expect(b.frames.map((frame, index) => Buffer.compare(frame, sent[index]!))).toEqual(sent.map(() => 0));
    expect(a.transport.counters.bytesOut).toBe(sizes.reduce((sum, size) => sum + size + 4, 0));
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
