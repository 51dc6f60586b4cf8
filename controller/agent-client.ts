/**
 * Talks to a node agent over SSH on NIC3 (the host owns each bridge's gateway address, so internal
 * networks are still reachable from the controller). One connection per command keeps failure
 * handling trivial; the handshake costs a few milliseconds on a bridge.
 */
import ssh2 from "ssh2";
import { testbedErrors } from "./errors.js";

const { Client } = ssh2;

export interface AgentEndpoint {
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly privateKey: string;
  /** The node's pinned host key (SSH wire form). */
  readonly hostKey: Buffer;
}

export interface AgentReply<T = unknown> {
  readonly exitCode: number;
  readonly value: T;
}

/** Milliseconds to wait for a TCP connect plus handshake. */
export const AGENT_CONNECT_TIMEOUT_MS = 3000;

function connect(endpoint: AgentEndpoint): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once("ready", () => resolve(client));
    client.once("error", (error) => reject(error));
    client.connect({
      host: endpoint.address,
      port: endpoint.port,
      username: "controller",
      privateKey: endpoint.privateKey,
      readyTimeout: AGENT_CONNECT_TIMEOUT_MS,
      hostVerifier: (key: Buffer) => key.equals(endpoint.hostKey),
    });
  });
}

/**
 * Keeps one SSH connection per node and opens a channel per command: the handshake (pure-JS
 * crypto on a node limited to one CPU) costs far more than a command. A connection that errors or
 * closes (reboot, disk swap, shutdown port) is dropped and the next command reconnects.
 */
export class AgentConnectionPool {
  readonly #connections = new Map<string, Promise<ssh2.Client>>();

  async exec<T = unknown>(
    endpoint: AgentEndpoint,
    command: string,
    timeoutMs = 30_000,
  ): Promise<AgentReply<T>> {
    const key = `${endpoint.node}@${endpoint.address}:${endpoint.port}`;
    let pending = this.#connections.get(key);
    if (pending === undefined) {
      pending = connect(endpoint);
      this.#connections.set(key, pending);
      pending.then(
        (client) => {
          const drop = () => {
            if (this.#connections.get(key) === pending) this.#connections.delete(key);
          };
          client.on("close", drop);
          client.on("error", drop);
        },
        () => this.#connections.delete(key),
      );
    }
    let client: ssh2.Client;
    try {
      client = await pending;
    } catch (error) {
      throw commandFailed(endpoint, command, error);
    }
    try {
      return await runOnClient<T>(client, command, timeoutMs);
    } catch (error) {
      this.#connections.delete(key);
      client.end();
      throw commandFailed(endpoint, command, error);
    }
  }

  /** Forgets a node's connection (after a power action its old connection is dead). */
  forget(node: string): void {
    for (const [key, pending] of this.#connections) {
      if (!key.startsWith(`${node}@`)) continue;
      this.#connections.delete(key);
      pending.then(
        (client) => client.end(),
        () => undefined,
      );
    }
  }

  close(): void {
    for (const pending of this.#connections.values())
      pending.then(
        (client) => client.end(),
        () => undefined,
      );
    this.#connections.clear();
  }
}

/** The error for a command that did not run (connection or transport failure), named by its verb. */
function commandFailed(endpoint: AgentEndpoint, command: string, error: unknown): Error {
  return testbedErrors.agentCommandFailed(
    endpoint.node,
    command.split(" ")[0] ?? command,
    (error as Error).message,
  );
}

/** Runs one agent command on a fresh connection; a transport failure throws, a command failure is in exitCode/value. */
export async function agentExec<T = unknown>(
  endpoint: AgentEndpoint,
  command: string,
  timeoutMs = 30_000,
): Promise<AgentReply<T>> {
  let client: ssh2.Client;
  try {
    client = await connect(endpoint);
  } catch (error) {
    throw commandFailed(endpoint, command, error);
  }
  try {
    return await runOnClient<T>(client, command, timeoutMs);
  } catch (error) {
    throw commandFailed(endpoint, command, error);
  } finally {
    client.end();
  }
}

function runOnClient<T>(client: ssh2.Client, command: string, timeoutMs: number): Promise<AgentReply<T>> {
  return new Promise<AgentReply<T>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer after ${timeoutMs}ms`)), timeoutMs);
    client.exec(command, (error, channel) => {
      if (error) {
        clearTimeout(timer);
        reject(error);
        return;
      }
      let stdout = "";
      let exitCode = -1;
      channel.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8");
      });
      channel.on("exit", (code: number | null) => {
        exitCode = code ?? -1;
      });
      channel.on("close", () => {
        clearTimeout(timer);
        try {
          resolve({ exitCode, value: JSON.parse(stdout) as T });
        } catch {
          reject(new Error(`unparseable answer: ${stdout.slice(0, 200)}`));
        }
      });
    });
  });
}

/** An interactive console: the agent's built-in shell, wired to the given streams. */
export async function agentShell(
  endpoint: AgentEndpoint,
  io: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream },
): Promise<void> {
  const client = await connect(endpoint);
  await new Promise<void>((resolve, reject) => {
    client.shell({ term: "dumb" }, (error, channel) => {
      if (error) return reject(error);
      io.input.pipe(channel);
      channel.pipe(io.output);
      channel.on("close", () => {
        io.input.unpipe(channel);
        resolve();
      });
    });
  });
  client.end();
}
