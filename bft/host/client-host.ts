/**
 * Runs one client core in a real process over TCP: requests go to the replicas' client addresses
 * (NIC1 on a testbed node) and replies come back on the same connections. invoke() is the
 * closed-loop call the benchmarks and the testbed's end-to-end tests use.
 */
import { Client, type ClientConfig, type ClientEffect, defaultClientConfig } from "../client/index.js";
import type { Principal } from "../messages.js";
import { createTcpTransport, type TcpTransport } from "../transport/index.js";
import { createWire } from "./keys.js";
import type { ReplicaEndpoint } from "./replica-host.js";
import { TimerTable } from "./timers.js";

export interface ClientHostOptions {
  readonly clientId: number;
  readonly f: number;
  readonly clusterSecret: Uint8Array;
  readonly replicas: readonly ReplicaEndpoint[];
  readonly client?: Partial<Omit<ClientConfig, "clientId" | "f">>;
}

export interface Invocation {
  readonly result: Uint8Array;
  readonly latencyMs: number;
  readonly timestamp: number;
}

export interface ClientHost {
  readonly core: Client;
  readonly transport: TcpTransport;
  invoke(operation: Uint8Array): Promise<Invocation>;
  close(): Promise<void>;
}

export class ClientAbandonedError extends Error {
  readonly code = "CLIENT_ABANDONED";
}

export async function startClientHost(options: ClientHostOptions): Promise<ClientHost> {
  const self: Principal = { kind: "client", id: options.clientId };
  const n = 3 * options.f + 1;
  const wire = createWire({ clusterSecret: options.clusterSecret, self, f: options.f });
  const core = new Client(
    { ...defaultClientConfig(options.clientId, options.f), ...options.client },
    { authenticateRequest: (request) => wire.authenticateRequest(request) },
  );
  const peers = new Map(options.replicas.map((endpoint) => [`replica:${endpoint.id}`, endpoint.client]));
  const transport = await createTcpTransport({ self, peers });
  let pending: { resolve(value: Invocation): void; reject(error: Error): void } | undefined;
  const nowMs = () => performance.now();

  const run = (effects: ClientEffect[]): void => {
    for (const effect of effects) {
      switch (effect.kind) {
        case "send":
          transport.send(effect.to, wire.seal(effect.message, effect.to));
          break;
        case "broadcast": {
          const frame = wire.seal(effect.message, "replicas");
          for (let id = 0; id < n; id += 1) transport.send({ kind: "replica", id }, frame);
          break;
        }
        case "setTimer":
          timers.set(effect.timer, effect.afterMs);
          break;
        case "cancelTimer":
          timers.cancel(effect.timer);
          break;
        case "completed":
          pending?.resolve({
            result: effect.result,
            latencyMs: effect.latencyMs,
            timestamp: effect.timestamp,
          });
          pending = undefined;
          break;
        case "abandoned":
          pending?.reject(
            new ClientAbandonedError(
              `request ${effect.timestamp} got no result after the maximum retransmissions`,
            ),
          );
          pending = undefined;
          break;
      }
    }
  };
  const timers = new TimerTable<"retransmit">((timer) => run(core.step({ kind: "timer", timer }, nowMs())));
  transport.onFrame((frame) => {
    const opened = wire.open(frame);
    if (opened.ok) run(core.step({ kind: "message", from: opened.from, message: opened.message }, nowMs()));
  });

  return {
    core,
    transport,
    invoke(operation: Uint8Array): Promise<Invocation> {
      if (pending !== undefined)
        return Promise.reject(new Error("invoke() called while a request is outstanding"));
      return new Promise<Invocation>((resolve, reject) => {
        pending = { resolve, reject };
        run(core.submit(operation, nowMs()));
      });
    },
    async close() {
      timers.clear();
      pending?.reject(new Error("client closed"));
      pending = undefined;
      await transport.close();
    },
  };
}
