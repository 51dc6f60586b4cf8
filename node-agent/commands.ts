/**
 * The agent's command table, shared by SSH exec requests and the interactive shell. Each command
 * answers one JSON value; typed errors become `{ error: { code, message, hint } }`. The table is the
 * whole management surface: nothing here returns the coprocessor's private key, and file commands
 * are confined to the memory and disk areas (see files.ts).
 */
import { randomUUID } from "node:crypto";
import { readdir } from "node:fs/promises";
import { isIPv4 } from "node:net";
import { isValidNonce } from "../bft/coprocessor/index.js";
import type { AgentConfig } from "./config.js";
import { type NodeCoprocessor, quoteToJson } from "./coprocessor.js";
import type { Diagnostics } from "./diag.js";
import { AgentError, agentErrors } from "./errors.js";
import { type FileAreas, readChunk } from "./files.js";
import { hardwareDamaged, probeHealth } from "./health.js";
import { COMMAND_BYTES_MAX, DIAG_SEND_BYTES_MAX, READ_BYTES_MAX } from "./limits.js";
import type { ProcessRole, Supervisor } from "./supervisor.js";

export interface CommandContext {
  readonly config: AgentConfig;
  readonly coprocessor: NodeCoprocessor;
  readonly supervisor: Supervisor;
  readonly files: FileAreas;
  readonly diagnostics: Diagnostics;
  /** Changes on every boot: a reboot is visible as a new bootId. */
  readonly bootId: string;
}

export interface CommandReply {
  readonly exitCode: number;
  readonly value: unknown;
}

type Handler = (context: CommandContext, argument: string) => Promise<unknown>;

interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  /** Commands that still answer on a node with damaged hardware (so the damage can be seen). */
  readonly worksWhenDamaged: boolean;
  readonly run: Handler;
}

export function newBootId(): string {
  return randomUUID();
}

function words(argument: string): string[] {
  return argument.split(/\s+/).filter((word) => word !== "");
}

function port(command: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw agentErrors.badArguments(command, `bad port ${text}`);
  return value;
}

function address(command: string, text: string | undefined): string {
  if (text === undefined || !isIPv4(text))
    throw agentErrors.badArguments(command, `bad IPv4 address ${text}`);
  return text;
}

async function status(context: CommandContext): Promise<unknown> {
  return {
    nodeId: context.config.nodeId,
    bootId: context.bootId,
    nics: {
      nic1: context.config.nic1Address,
      nic2: context.config.nic2Address,
      nic3: context.config.nic3Address,
    },
    hardwareDamaged: hardwareDamaged(context.config.hardwareDirectory),
    codeDigest: Buffer.from(context.coprocessor.codeDigest()).toString("hex"),
    coprocessor: context.coprocessor.toJSON(),
    process: context.supervisor.status(),
  };
}

function startRequest(command: string, role: ProcessRole, argument: string) {
  let parsed: unknown;
  try {
    parsed = JSON.parse(argument);
  } catch {
    throw agentErrors.badArguments(command, "expects a JSON object {entry, config}");
  }
  const request = parsed as { entry?: unknown; config?: unknown };
  if (typeof request !== "object" || request === null || typeof request.entry !== "string") {
    throw agentErrors.badArguments(command, "expects a JSON object with a string `entry`");
  }
  const config = typeof request.config === "object" && request.config !== null ? request.config : {};
  return { role, entry: request.entry, config: config as Record<string, unknown> };
}

/** `history`: the history files; `history <name> [offset]`: one page of one of them. */
async function history(context: CommandContext, argument: string): Promise<unknown> {
  const [name, offsetText] = words(argument);
  const directory = context.config.historyDirectory;
  if (name === undefined) {
    const names = await readdir(directory).catch(() => [] as string[]);
    return { directory, files: names.sort() };
  }
  const offset = Number(offsetText ?? "0");
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw agentErrors.badArguments("history", `bad offset ${offsetText}`);
  return readChunk({ directory, name, offset, bytesMax: READ_BYTES_MAX });
}

async function sanitizeCheck(context: CommandContext): Promise<unknown> {
  const leftovers = await context.files.leftovers();
  const memoryAreas = ["/run/mem", "/dev/shm"];
  const memoryClean = memoryAreas.every((area) => (leftovers[area] ?? []).length === 0);
  const diskClean = (leftovers["/data"] ?? []).length === 0;
  return {
    codeDigest: Buffer.from(context.coprocessor.codeDigest()).toString("hex"),
    memoryClean,
    diskClean,
    processRunning: context.supervisor.status().running,
    hardwareDamaged: hardwareDamaged(context.config.hardwareDirectory),
    leftovers,
  };
}

const COMMANDS: Record<string, CommandSpec> = {
  help: { usage: "help", summary: "list the commands", worksWhenDamaged: true, run: async () => helpText() },
  status: {
    usage: "status",
    summary: "node identity, code digest, coprocessor public part, process",
    worksWhenDamaged: true,
    run: status,
  },
  health: {
    usage: "health",
    summary: "cpu, memory, disk, NICs (exit code 1 when unhealthy)",
    worksWhenDamaged: true,
    run: (context) => probeHealth({ hardwareDirectory: context.config.hardwareDirectory, diskPath: "/" }),
  },
  attest: {
    usage: "attest <nonce-hex>",
    summary: "coprocessor quote over the nonce, the counter and the code digest",
    worksWhenDamaged: false,
    run: async (context, argument) => {
      const nonce = new Uint8Array(Buffer.from(argument.trim(), "hex"));
      if (!/^[0-9a-fA-F]*$/.test(argument.trim()) || !isValidNonce(nonce)) {
        throw agentErrors.badArguments("attest", "nonce must be 16..64 bytes of hex");
      }
      return quoteToJson(context.coprocessor.quote(nonce));
    },
  },
  counter: {
    usage: "counter [increment]",
    summary: "read (or durably increment) the coprocessor counter",
    worksWhenDamaged: false,
    run: async (context, argument) => {
      if (argument.trim() === "increment") return { counter: context.coprocessor.incrementCounter() };
      return { counter: context.coprocessor.counter() };
    },
  },
  "start-replica": {
    usage: "start-replica <json {entry, config}>",
    summary: "run `node /rom/<entry> --config <json>` as this node's replica",
    worksWhenDamaged: false,
    run: async (context, argument) =>
      context.supervisor.start(startRequest("start-replica", "replica", argument)),
  },
  "start-standby": {
    usage: "start-standby <json {entry, config}>",
    summary: "run `node /rom/<entry> --config <json>` as this node's standby process",
    worksWhenDamaged: false,
    run: async (context, argument) =>
      context.supervisor.start(startRequest("start-standby", "standby", argument)),
  },
  stop: {
    usage: "stop",
    summary: "stop the replica or standby process",
    worksWhenDamaged: true,
    run: (context) => context.supervisor.stop(),
  },
  "sanitize-check": {
    usage: "sanitize-check",
    summary: "is memory and disk clean and the code the pristine one",
    worksWhenDamaged: true,
    run: sanitizeCheck,
  },
  read: {
    usage: "read <path>",
    summary: "read a file in /data, /tmp, /run/mem, /dev/shm or /rom",
    worksWhenDamaged: false,
    run: async (context, argument) => ({ text: await context.files.read(argument.trim()) }),
  },
  write: {
    usage: "write <path> <text>",
    summary: "write a file in /data, /tmp, /run/mem or /dev/shm",
    worksWhenDamaged: false,
    run: async (context, argument) => {
      const [path] = words(argument);
      if (path === undefined) throw agentErrors.badArguments("write", "needs a path");
      const text = argument.trimStart().slice(path.length).replace(/^ /, "");
      await context.files.write(path, text);
      return { written: path, bytes: Buffer.byteLength(text) };
    },
  },
  history: {
    usage: "history [<name> [offset]]",
    summary: "list replica history files, or read one from a byte offset (whole lines, 64 KiB a call)",
    worksWhenDamaged: false,
    run: history,
  },
  ls: {
    usage: "ls <directory>",
    summary: "list a directory in the readable areas",
    worksWhenDamaged: false,
    run: async (context, argument) => ({ entries: await context.files.list(argument.trim() || "/data") }),
  },
  "net-serve": {
    usage: "net-serve <address> <port>",
    summary: "open a diagnostic TCP sink on one of this node's addresses",
    worksWhenDamaged: false,
    run: async (context, argument) => {
      const [host, portText] = words(argument);
      await context.diagnostics.listen(address("net-serve", host), port("net-serve", portText));
      return { listening: `${host}:${portText}` };
    },
  },
  "net-send": {
    usage: "net-send <address> <port> <bytes> [timeoutMs]",
    summary: "send bytes to a diagnostic sink and time the transfer",
    worksWhenDamaged: false,
    run: async (context, argument) => {
      const [host, portText, bytesText, timeoutText] = words(argument);
      const bytes = Number(bytesText);
      const timeoutMs = Number(timeoutText ?? "5000");
      if (!Number.isInteger(bytes) || bytes < 0 || bytes > DIAG_SEND_BYTES_MAX) {
        throw agentErrors.badArguments("net-send", `bytes must be 0..${DIAG_SEND_BYTES_MAX}`);
      }
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
        throw agentErrors.badArguments("net-send", "bad timeoutMs");
      return context.diagnostics.send({
        address: address("net-send", host),
        port: port("net-send", portText),
        bytes,
        timeoutMs,
      });
    },
  },
};

function helpText(): unknown {
  return Object.values(COMMANDS).map((spec) => `${spec.usage.padEnd(48)} ${spec.summary}`);
}

function failure(error: unknown): CommandReply {
  if (error instanceof AgentError) {
    return { exitCode: 2, value: { error: { code: error.code, message: error.message, hint: error.hint } } };
  }
  // Anything else is reported without its stack: the caller is remote.
  return {
    exitCode: 3,
    value: {
      error: { code: "AGENT_INTERNAL", message: (error as Error).message, hint: "see the node's log" },
    },
  };
}

/** Runs one command line. Never throws. */
export async function runCommand(context: CommandContext, line: string): Promise<CommandReply> {
  try {
    if (Buffer.byteLength(line) > COMMAND_BYTES_MAX)
      throw agentErrors.badArguments("command", `longer than ${COMMAND_BYTES_MAX} bytes`);
    const trimmed = line.trim();
    const name = trimmed.split(/\s+/, 1)[0] ?? "";
    const spec = COMMANDS[name];
    if (spec === undefined || !Object.hasOwn(COMMANDS, name)) throw agentErrors.unknownCommand(name);
    if (!spec.worksWhenDamaged && hardwareDamaged(context.config.hardwareDirectory)) {
      throw agentErrors.hardwareDamaged(context.config.nodeId);
    }
    const value = await spec.run(context, trimmed.slice(name.length).trim());
    const unhealthy = name === "health" && (value as { healthy: boolean }).healthy === false;
    return { exitCode: unhealthy ? 1 : 0, value };
  } catch (error) {
    return failure(error);
  }
}
