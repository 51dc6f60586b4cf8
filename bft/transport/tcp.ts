/**
 * TCP transport: length-prefixed frames (u32 big-endian length, then the frame) over plain TCP.
 *
 * - Outbound: one connection per peer that has an address, opened lazily on the first send,
 *   reconnected with doubling backoff (reconnectBackoffMsMin..Max) while frames wait for it.
 * - Inbound: the first frame on a connection is a hello naming the connecting principal. A
 *   principal without an address (a client has no listening port) is answered on the connection it
 *   opened, so replies to clients go back over the client's own connection.
 * - Frames are opaque here: the wire layer authenticates them. The hello is not authenticated, so a
 *   false hello can at worst divert frames meant for the named principal; it cannot forge any.
 * - Every frame is delivered with its origin (the connection). bind(principal, origin) routes a
 *   principal without an address over that connection, so one connection can carry many clients
 *   (a client gateway); the host binds only after the wire authenticated the principal's frame.
 * - Every queue is bounded; frames that do not fit are dropped and counted, never thrown about.
 */
import net from "node:net";
import { assert } from "../assert.js";
import type { Principal } from "../messages.js";
import { FrameSplitter } from "./frame-splitter.js";
import {
  FRAME_BYTES_MAX,
  FRAME_PREFIX_BYTES,
  TCP_LIMITS_DEFAULT,
  type TcpLimits,
  tcpLimitsProblem,
} from "./limits.js";
import { SocketWriter } from "./socket-writer.js";
import { type FrameOrigin, principalKey, type RoutingTransport } from "./transport.js";

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}
export type PeerResolver = (peer: Principal) => PeerAddress | undefined;

/** pino-compatible subset. */
export interface TransportLogger {
  debug(fields: Record<string, unknown>, event: string): void;
  warn(fields: Record<string, unknown>, event: string): void;
}

export interface TcpTransportOptions {
  readonly self: Principal;
  /** Where to accept connections (port 0 picks a free one); clients leave it out. */
  readonly listen?: PeerAddress;
  /** Addresses by principalKey, or a function; setPeer/removePeer override either at run time. */
  readonly peers: ReadonlyMap<string, PeerAddress> | PeerResolver;
  readonly log?: TransportLogger;
  readonly limits?: Partial<TcpLimits>;
}

export interface TcpCounters {
  framesIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
  framesDroppedQueueFull: number;
  /** No address and no inbound connection for the receiver. */
  framesDroppedNoRoute: number;
  /** Sent after close(), queued when a peer was removed, or left queued at close(). */
  framesDroppedClosed: number;
  /** Received before onFrame registered a handler. */
  framesDroppedNoHandler: number;
  /** bind() calls refused because routesMax principals were bound already. */
  bindsRefused: number;
  /** Outbound connection attempts after the first one to a peer. */
  reconnects: number;
  connectionsAccepted: number;
  /** Inbound or outbound connections closed for a bad hello, a late hello or an oversized frame. */
  connectionsRejected: number;
}

export interface TcpTransport extends RoutingTransport {
  readonly self: Principal;
  /** The bound address (with the real port when listen.port was 0); undefined without listen. */
  readonly address: PeerAddress | undefined;
  readonly counters: Readonly<TcpCounters>;
  /** Adds or changes a peer's address; a connection to an old address is closed. */
  setPeer(peer: Principal, address: PeerAddress): void;
  /** Forgets a peer's address, closes the connection to it and drops frames queued for it. */
  removePeer(peer: Principal): void;
}

/** Hello: version u8, principal kind u8 (0 replica, 1 client), principal id u32. */
export const HELLO_BYTES = 6;
const HELLO_VERSION = 1;

export function encodeHello(principal: Principal): Uint8Array {
  const hello = new Uint8Array(HELLO_BYTES);
  const view = new DataView(hello.buffer);
  view.setUint8(0, HELLO_VERSION);
  view.setUint8(1, principal.kind === "replica" ? 0 : 1);
  view.setUint32(2, principal.id);
  return hello;
}

export function decodeHello(bytes: Uint8Array): Principal | undefined {
  if (bytes.length !== HELLO_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(0) !== HELLO_VERSION) return undefined;
  const kindByte = view.getUint8(1);
  if (kindByte > 1) return undefined;
  return { kind: kindByte === 0 ? "replica" : "client", id: view.getUint32(2) };
}

function withPrefix(frame: Uint8Array): Buffer {
  const bytes = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + frame.length);
  bytes.writeUInt32BE(frame.length, 0);
  bytes.set(frame, FRAME_PREFIX_BYTES);
  return bytes;
}

const silentLog: TransportLogger = { debug: () => {}, warn: () => {} };

/** Creates a transport; resolves once it listens (when `listen` is given). */
export async function createTcpTransport(options: TcpTransportOptions): Promise<TcpTransport> {
  const limits: TcpLimits = { ...TCP_LIMITS_DEFAULT, ...options.limits };
  const problem = tcpLimitsProblem(limits);
  if (problem !== undefined) throw new Error(`invalid TCP transport limits: ${problem}`);
  const transport = new TcpTransportImpl(options, limits);
  if (options.listen !== undefined) await transport.listen(options.listen);
  return transport;
}

/** An accepted connection; it is the FrameOrigin of the frames that arrive on it. */
class Inbound implements FrameOrigin {
  declare readonly originBrand: "FrameOrigin";
  principal: Principal | undefined = undefined;
  /** Keys of the principals routed over this connection (its hello's and bound ones). */
  readonly routed = new Set<string>();
  closed = false;

  constructor(
    readonly owner: TcpTransportImpl,
    readonly socket: net.Socket,
    readonly writer: SocketWriter,
  ) {}
}

class TcpTransportImpl implements TcpTransport {
  readonly self: Principal;
  readonly counters: TcpCounters = {
    framesIn: 0,
    bytesIn: 0,
    framesOut: 0,
    bytesOut: 0,
    framesDroppedQueueFull: 0,
    framesDroppedNoRoute: 0,
    framesDroppedClosed: 0,
    framesDroppedNoHandler: 0,
    bindsRefused: 0,
    reconnects: 0,
    connectionsAccepted: 0,
    connectionsRejected: 0,
  };
  address: PeerAddress | undefined;
  readonly limits: TcpLimits;
  readonly log: TransportLogger;
  readonly hello: Buffer;
  closed = false;
  private handler: ((frame: Uint8Array, origin: FrameOrigin) => void) | undefined;
  private server: net.Server | undefined;
  private readonly basePeers: PeerResolver;
  /** Run-time overrides: an address, or null for a removed peer. */
  private readonly peerOverrides = new Map<string, PeerAddress | null>();
  private readonly outbound = new Map<string, OutboundPeer>();
  private readonly inbound = new Map<string, Inbound>();
  private readonly sockets = new Set<net.Socket>();

  constructor(options: TcpTransportOptions, limits: TcpLimits) {
    assert(Number.isInteger(options.self.id) && options.self.id >= 0, "transport owner id is valid");
    this.self = { kind: options.self.kind, id: options.self.id };
    this.limits = limits;
    this.log = options.log ?? silentLog;
    this.hello = withPrefix(encodeHello(this.self));
    const peers = options.peers;
    if (typeof peers === "function") this.basePeers = peers;
    else {
      const copy = new Map(peers);
      this.basePeers = (peer) => copy.get(principalKey(peer));
    }
  }

  listen(address: PeerAddress): Promise<void> {
    assert(this.server === undefined, "listen once");
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    server.maxConnections = this.limits.inboundConnectionsMax;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
        server.off("error", reject);
        server.on("error", (error) => this.log.warn({ err: error }, "tcp server error"));
        const bound = server.address();
        assert(bound !== null && typeof bound === "object", "server bound to a TCP address");
        this.address = { host: bound.address, port: bound.port };
        resolve();
      });
    });
  }

  onFrame(handler: (frame: Uint8Array, origin: FrameOrigin) => void): void {
    assert(this.handler === undefined, "a single frame handler");
    this.handler = handler;
  }

  bind(principal: Principal, origin: FrameOrigin): void {
    // Frames from an outbound connection (we dialled the peer) need no binding: the peer has an
    // address. A closed connection is not routed to again, nor another transport's connection.
    if (!(origin instanceof Inbound) || origin.owner !== this || origin.closed || this.closed) return;
    const key = principalKey(principal);
    const current = this.inbound.get(key);
    if (current === origin) return;
    if (current === undefined && this.inbound.size >= this.limits.routesMax) {
      this.counters.bindsRefused += 1;
      return;
    }
    current?.routed.delete(key);
    origin.routed.add(key);
    this.inbound.set(key, origin);
  }

  resolve(peer: Principal): PeerAddress | undefined {
    const override = this.peerOverrides.get(principalKey(peer));
    if (override === null) return undefined;
    return override ?? this.basePeers(peer);
  }

  send(to: Principal, frame: Uint8Array): void {
    assert(frame.length <= FRAME_BYTES_MAX, "sent frame within FRAME_BYTES_MAX");
    if (this.closed) {
      this.counters.framesDroppedClosed += 1;
      return;
    }
    const key = principalKey(to);
    if (this.resolve(to) !== undefined) {
      let peer = this.outbound.get(key);
      if (peer === undefined) {
        peer = new OutboundPeer(this, to);
        this.outbound.set(key, peer);
      }
      peer.send(frame);
      return;
    }
    const inbound = this.inbound.get(key);
    if (inbound !== undefined) inbound.writer.enqueue(frame);
    else this.counters.framesDroppedNoRoute += 1;
  }

  setPeer(peer: Principal, address: PeerAddress): void {
    const key = principalKey(peer);
    const previous = this.resolve(peer);
    this.peerOverrides.set(key, { host: address.host, port: address.port });
    if (previous !== undefined && (previous.host !== address.host || previous.port !== address.port)) {
      this.outbound.get(key)?.reset();
    }
  }

  removePeer(peer: Principal): void {
    const key = principalKey(peer);
    this.peerOverrides.set(key, null);
    const outbound = this.outbound.get(key);
    if (outbound === undefined) return;
    this.outbound.delete(key);
    this.counters.framesDroppedClosed += outbound.close();
  }

  /** A socket exists from creation to its "close" event; close() waits for all of them. */
  track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  deliver(frame: Uint8Array, origin: FrameOrigin): void {
    this.counters.framesIn += 1;
    this.counters.bytesIn += frame.length + FRAME_PREFIX_BYTES;
    if (this.handler === undefined) this.counters.framesDroppedNoHandler += 1;
    else this.handler(frame, origin);
  }

  reject(socket: net.Socket, reason: string, fields: Record<string, unknown>): void {
    this.counters.connectionsRejected += 1;
    this.log.debug({ ...fields, reason, self: principalKey(this.self) }, "tcp connection rejected");
    socket.destroy();
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.counters.connectionsAccepted += 1;
    this.track(socket);
    socket.setNoDelay(true);
    const connection = new Inbound(this, socket, new SocketWriter(this.limits, this.counters));
    connection.writer.attach(socket);
    const helloTimer = setTimeout(
      () => this.reject(socket, "helloTimeout", { remote: socket.remoteAddress }),
      this.limits.helloTimeoutMs,
    );
    const splitter = new FrameSplitter(FRAME_BYTES_MAX, (frame) => {
      if (connection.principal !== undefined) return this.deliver(frame, connection);
      const principal = decodeHello(frame);
      if (principal === undefined) return this.reject(socket, "badHello", { remote: socket.remoteAddress });
      clearTimeout(helloTimer);
      connection.principal = principal;
      // The latest connection of a principal wins: a restarted client's old socket may linger.
      const key = principalKey(principal);
      this.inbound.get(key)?.routed.delete(key);
      connection.routed.add(key);
      this.inbound.set(key, connection);
    });
    socket.on("data", (chunk: Buffer) => {
      if (!splitter.push(chunk)) this.reject(socket, "frameTooLarge", { remote: socket.remoteAddress });
    });
    socket.on("error", (error) => this.log.debug({ err: error.message }, "tcp inbound error"));
    socket.once("close", () => {
      clearTimeout(helloTimer);
      splitter.stop();
      connection.writer.detach();
      this.counters.framesDroppedClosed += connection.writer.clear();
      connection.closed = true;
      for (const key of connection.routed) if (this.inbound.get(key) === connection) this.inbound.delete(key);
      connection.routed.clear();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.outbound.values()) this.counters.framesDroppedClosed += peer.close();
    this.outbound.clear();
    for (const connection of new Set(this.inbound.values())) connection.writer.flush();
    const serverClosed = new Promise<void>((resolve) => {
      if (this.server === undefined) resolve();
      else this.server.close(() => resolve());
    });
    const socketsClosed = [...this.sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.closed) return resolve();
          socket.once("close", () => resolve());
          socket.end();
          setTimeout(() => socket.destroy(), this.limits.closeTimeoutMs).unref();
        }),
    );
    await Promise.all([serverClosed, ...socketsClosed]);
  }
}

/** The connection to one peer that has an address; the FrameOrigin of the frames it receives. */
class OutboundPeer implements FrameOrigin {
  declare readonly originBrand: "FrameOrigin";
  private state: "idle" | "connecting" | "open" | "backoff" = "idle";
  private socket: net.Socket | undefined;
  private attemptCount = 0;
  private failureCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly writer: SocketWriter;

  constructor(
    private readonly transport: TcpTransportImpl,
    private readonly peer: Principal,
  ) {
    this.writer = new SocketWriter(transport.limits, transport.counters);
  }

  send(frame: Uint8Array): void {
    assert(!this.closed, "no sends to a closed peer connection");
    this.writer.enqueue(frame);
    if (this.state === "idle") this.connect();
  }

  private connect(): void {
    assert(this.socket === undefined && !this.closed, "connect from idle");
    const address = this.transport.resolve(this.peer);
    if (address === undefined) {
      this.transport.counters.framesDroppedNoRoute += this.writer.clear();
      this.state = "idle";
      return;
    }
    if (this.attemptCount > 0) this.transport.counters.reconnects += 1;
    this.attemptCount += 1;
    this.state = "connecting";
    const socket = net.connect({ host: address.host, port: address.port, noDelay: true });
    this.socket = socket;
    this.transport.track(socket);
    socket.setTimeout(this.transport.limits.connectTimeoutMs);
    socket.once("connect", () => this.onConnected(socket));
    socket.on("timeout", () => socket.destroy());
    // Replies to a client come back on the connection it opened.
    const splitter = new FrameSplitter(FRAME_BYTES_MAX, (frame) => this.transport.deliver(frame, this));
    socket.on("data", (chunk: Buffer) => {
      if (!splitter.push(chunk)) {
        this.transport.reject(socket, "frameTooLarge", { peer: principalKey(this.peer) });
      }
    });
    socket.on("error", (error) =>
      this.transport.log.debug({ peer: principalKey(this.peer), err: error.message }, "tcp outbound error"),
    );
    socket.once("close", () => this.onClosed(socket));
  }

  private onConnected(socket: net.Socket): void {
    socket.setTimeout(0);
    this.state = "open";
    this.failureCount = 0;
    socket.write(this.transport.hello);
    this.writer.attach(socket);
  }

  private onClosed(socket: net.Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.writer.detach();
    if (this.closed || this.transport.closed) {
      this.state = "idle";
      return;
    }
    const delayMs = Math.min(
      this.transport.limits.reconnectBackoffMsMin * 2 ** Math.min(this.failureCount, 30),
      this.transport.limits.reconnectBackoffMsMax,
    );
    this.failureCount += 1;
    this.state = "backoff";
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.state = "idle";
      if (this.writer.queuedFrameCount > 0) this.connect();
    }, delayMs);
  }

  /** Drops the connection (e.g. the address changed); queued frames wait for the next one. */
  reset(): void {
    this.socket?.destroy();
  }

  /** Ends the connection for good; returns the number of queued frames dropped. */
  close(): number {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.writer.flush();
    const socket = this.socket;
    if (socket !== undefined && this.state === "open") socket.end();
    else socket?.destroy();
    return this.writer.clear();
  }
}
