/**
 * Network diagnostics, like a switch's ping: the node image has no shell or tools, so the agent
 * itself can open a TCP sink on one of its addresses and send a measured stream to another node.
 * The sink reads exactly the announced byte count, then answers "ok", so the sender's elapsed time
 * covers the whole transfer through the switch (including any rate limit on the receiver's port).
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { assert } from "../bft/assert.js";
import { agentErrors } from "./errors.js";
import { DIAG_LISTENERS_MAX, DIAG_SEND_BYTES_MAX } from "./limits.js";

const HEADER_BYTES = 8;
const CHUNK_BYTES = 64 * 1024;

export interface SendResult {
  readonly ok: boolean;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly error?: string;
}

function serveConnection(socket: Socket): void {
  let expected = -1;
  let received = 0;
  let header = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    if (expected < 0) {
      header = Buffer.concat([header, chunk]);
      if (header.length < HEADER_BYTES) return;
      expected = Number(header.readBigUInt64BE(0));
      received = header.length - HEADER_BYTES;
    } else {
      received += chunk.length;
    }
    if (received >= expected) socket.end("ok");
  });
  socket.on("error", () => socket.destroy());
}

export class Diagnostics {
  readonly #listeners = new Map<string, Server>();

  async listen(address: string, port: number): Promise<void> {
    const key = `${address}:${port}`;
    if (this.#listeners.has(key)) return;
    if (this.#listeners.size >= DIAG_LISTENERS_MAX) {
      throw agentErrors.badArguments("net-serve", `at most ${DIAG_LISTENERS_MAX} listeners`);
    }
    const server = createServer(serveConnection);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, address, () => resolve());
    }).catch((error: Error) => {
      throw agentErrors.network(`cannot listen on ${key}: ${error.message}`);
    });
    this.#listeners.set(key, server);
  }

  async close(): Promise<void> {
    const servers = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  /** Sends `bytes` to a sink and waits for its "ok"; failure (timeout, refused) is a result. */
  send(options: {
    address: string;
    port: number;
    bytes: number;
    timeoutMs: number;
    source?: string;
  }): Promise<SendResult> {
    assert(
      options.bytes >= 0 && options.bytes <= DIAG_SEND_BYTES_MAX,
      "net-send size within DIAG_SEND_BYTES_MAX",
    );
    const startMs = performance.now();
    return new Promise((resolve) => {
      const elapsed = () => Math.round(performance.now() - startMs);
      const socket = connect({ host: options.address, port: options.port, localAddress: options.source });
      const timer = setTimeout(
        () => finish({ ok: false, error: `timeout after ${options.timeoutMs}ms` }),
        options.timeoutMs,
      );
      let reply = "";
      const finish = (result: { ok: boolean; error?: string }) => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ ...result, bytes: options.bytes, elapsedMs: elapsed() });
      };
      socket.on("connect", () => void writeStream(socket, options.bytes));
      socket.on("data", (chunk: Buffer) => {
        reply += chunk.toString();
      });
      socket.on("end", () =>
        finish(reply === "ok" ? { ok: true } : { ok: false, error: `sink replied "${reply}"` }),
      );
      socket.on("error", (error) => finish({ ok: false, error: error.message }));
    });
  }
}

async function writeStream(socket: Socket, bytes: number): Promise<void> {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeBigUInt64BE(BigInt(bytes));
  socket.write(header);
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x61);
  let left = bytes;
  while (left > 0 && !socket.destroyed) {
    const piece = left >= CHUNK_BYTES ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    if (!socket.write(piece)) await new Promise<void>((resolve) => socket.once("drain", () => resolve()));
  }
}
