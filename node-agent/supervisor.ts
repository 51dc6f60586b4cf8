/**
 * Supervision of the one protocol process a node runs: a replica or a standby. The process comes
 * from the ROM (`node /rom/<entry> --config <json>`), runs in its own process group (so stopping it
 * also stops anything it spawned), is restarted after a crash up to PROCESS_RESTARTS_MAX times, and
 * reaches the coprocessor through its IPC channel:
 *
 *   child -> agent  { kind: "coprocessor", id, op: "publicKey" | "sign" | "counter" |
 *                     "incrementCounter" | "quote", argument?: hex }
 *   agent -> child  { kind: "coprocessor", id, ok: true, result } | { kind: "coprocessor", id, ok: false, error }
 *
 * Byte values travel as hex; `quote` answers the hex fields of an AttestationQuote.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { assert } from "../bft/assert.js";
import type { Coprocessor } from "../bft/coprocessor/index.js";
import { HOST_NODE_FLAGS } from "../bft/host/node-flags.js";
import { quoteToJson } from "./coprocessor.js";
import { agentErrors } from "./errors.js";
import {
  PROCESS_LOG_LINES_MAX,
  PROCESS_RESTART_DELAY_MS,
  PROCESS_RESTARTS_MAX,
  PROCESS_STOP_GRACE_MS,
} from "./limits.js";

export type ProcessRole = "replica" | "standby";

export interface StartRequest {
  readonly role: ProcessRole;
  /** Path of the entry script relative to the ROM, e.g. dist/bft/host/replica-main.js. */
  readonly entry: string;
  /** Passed as `--config <json>`, with `node` (id and NIC addresses) added by the agent. */
  readonly config?: Record<string, unknown>;
}

export interface NodeIdentity {
  readonly nodeId: string;
  readonly nic1Address: string;
  readonly nic2Address: string;
  readonly nic3Address: string;
}

export interface ProcessStatus {
  readonly role: ProcessRole | null;
  readonly entry: string | null;
  readonly pid: number | null;
  readonly running: boolean;
  readonly restarts: number;
  readonly lastExit: { code: number | null; signal: string | null } | null;
  readonly logTail: readonly string[];
}

interface CoprocessorRequest {
  kind: "coprocessor";
  id: number;
  op: string;
  argument?: string;
}

export class Supervisor {
  readonly #romDirectory: string;
  readonly #identity: NodeIdentity;
  readonly #coprocessor: Coprocessor;
  #request: StartRequest | null = null;
  #child: ChildProcess | null = null;
  #restarts = 0;
  #stopping = false;
  #lastExit: ProcessStatus["lastExit"] = null;
  #log: string[] = [];

  constructor(options: { romDirectory: string; identity: NodeIdentity; coprocessor: Coprocessor }) {
    this.#romDirectory = options.romDirectory;
    this.#identity = options.identity;
    this.#coprocessor = options.coprocessor;
  }

  start(request: StartRequest): ProcessStatus {
    if (this.#child !== null) throw agentErrors.processRunning(this.#request?.role ?? "supervised");
    this.#resolveEntry(request.entry);
    this.#request = request;
    this.#restarts = 0;
    this.#stopping = false;
    this.#log = [];
    this.#spawn();
    return this.status();
  }

  async stop(): Promise<ProcessStatus> {
    const child = this.#child;
    this.#stopping = true;
    if (child !== null && child.pid !== undefined) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      killGroup(child.pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(child.pid ?? 0, "SIGKILL"), PROCESS_STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    this.#request = null;
    return this.status();
  }

  status(): ProcessStatus {
    return {
      role: this.#request?.role ?? null,
      entry: this.#request?.entry ?? null,
      pid: this.#child?.pid ?? null,
      running: this.#child !== null,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      logTail: this.#log.slice(-20),
    };
  }

  #resolveEntry(entry: string): string {
    const path = join(this.#romDirectory, entry);
    const inRom = (target: string) => target.startsWith(`${realpathSync(this.#romDirectory)}/`);
    if (!existsSync(path) || !statSync(path).isFile() || !inRom(realpathSync(path)))
      throw agentErrors.entryRefused(entry);
    return path;
  }

  #spawn(): void {
    const request = this.#request;
    assert(request !== null, "spawn needs a start request");
    const identity = this.#identity;
    const config = { ...request.config, node: { ...identity, role: request.role } };
    const child = spawn(
      process.execPath,
      [...HOST_NODE_FLAGS, this.#resolveEntry(request.entry), "--config", JSON.stringify(config)],
      {
        cwd: "/data",
        detached: true,
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        env: {
          ...process.env,
          MBFT_ROLE: request.role,
          MBFT_NODE_ID: identity.nodeId,
          MBFT_NIC1_ADDR: identity.nic1Address,
          MBFT_NIC2_ADDR: identity.nic2Address,
          MBFT_NIC3_ADDR: identity.nic3Address,
        },
      },
    );
    this.#child = child;
    const collect = (chunk: Buffer) => this.#appendLog(chunk.toString("utf8"));
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    child.on("message", (message) => this.#onMessage(child, message as CoprocessorRequest));
    child.on("error", (error) => this.#appendLog(`spawn error: ${error.message}\n`));
    child.on("exit", (code, signal) => this.#onExit(child, code, signal));
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    this.#child = null;
    this.#lastExit = { code, signal };
    if (this.#stopping || this.#request === null) return;
    if (this.#restarts >= PROCESS_RESTARTS_MAX) {
      this.#appendLog(`gave up after ${PROCESS_RESTARTS_MAX} restarts\n`);
      return;
    }
    this.#restarts += 1;
    setTimeout(() => {
      if (!this.#stopping && this.#child === null && this.#request !== null) this.#spawn();
    }, PROCESS_RESTART_DELAY_MS);
  }

  #appendLog(text: string): void {
    for (const line of text.split("\n")) if (line !== "") this.#log.push(line);
    if (this.#log.length > PROCESS_LOG_LINES_MAX)
      this.#log.splice(0, this.#log.length - PROCESS_LOG_LINES_MAX);
  }

  #onMessage(child: ChildProcess, message: CoprocessorRequest): void {
    // The child is untrusted input: a malformed request is answered with an error, never asserted.
    if (typeof message !== "object" || message === null || message.kind !== "coprocessor") return;
    try {
      child.send({ kind: "coprocessor", id: message.id, ok: true, result: this.#coprocessorCall(message) });
    } catch (error) {
      child.send({ kind: "coprocessor", id: message.id, ok: false, error: (error as Error).message });
    }
  }

  #coprocessorCall(message: CoprocessorRequest): unknown {
    const bytes = () => new Uint8Array(Buffer.from(String(message.argument ?? ""), "hex"));
    const hex = (value: Uint8Array) => Buffer.from(value).toString("hex");
    switch (message.op) {
      case "publicKey":
        return hex(this.#coprocessor.publicKey());
      case "sign":
        return hex(this.#coprocessor.sign(bytes()));
      case "counter":
        return this.#coprocessor.counter();
      case "incrementCounter":
        return this.#coprocessor.incrementCounter();
      case "quote":
        return quoteToJson(this.#coprocessor.quote(bytes()));
      default:
        throw new Error(`unknown coprocessor op ${String(message.op)}`);
    }
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
