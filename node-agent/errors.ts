/**
 * Typed operating errors of the node agent. Commands answer them as `error [CODE]: message` plus
 * the hint; they never carry a stack trace over SSH.
 */
import { OperatingError, type OperatingErrorOptions } from "../common/index.js";

export class AgentError extends OperatingError {
  override readonly name = "AgentError";

  constructor(options: OperatingErrorOptions) {
    super(options, 400);
  }
}

export const agentErrors = {
  unknownCommand: (name: string) =>
    new AgentError({
      code: "AGENT_UNKNOWN_COMMAND",
      message: `unknown command ${name}`,
      hint: "`help` lists the commands",
    }),
  badArguments: (command: string, detail: string) =>
    new AgentError({
      code: "AGENT_BAD_ARGUMENTS",
      message: `${command}: ${detail}`,
      hint: "`help` shows the usage",
    }),
  pathRefused: (path: string) =>
    new AgentError({
      code: "AGENT_PATH_REFUSED",
      message: `path ${path} is outside the readable areas`,
      hint: "files can be read and written only under /data, /tmp, /run/mem and /dev/shm (and read under /rom)",
      statusCode: 403,
    }),
  hardwareDamaged: (nodeId: string) =>
    new AgentError({
      code: "AGENT_HARDWARE_DAMAGED",
      message: `node ${nodeId} has damaged hardware`,
      hint: "an administrator must run `testbed node repair <node>`",
      statusCode: 503,
    }),
  processRunning: (role: string) =>
    new AgentError({
      code: "AGENT_PROCESS_RUNNING",
      message: `a ${role} process is already running`,
      hint: "`stop` it first",
      statusCode: 409,
    }),
  entryRefused: (entry: string) =>
    new AgentError({
      code: "AGENT_ENTRY_REFUSED",
      message: `entry ${entry} is not a file in the code mount`,
      hint: "give a path relative to /rom, e.g. dist/bft/host/replica-main.js",
    }),
  coprocessorCorrupt: (detail: string) =>
    new AgentError({
      code: "AGENT_COPROCESSOR_CORRUPT",
      message: `the coprocessor volume is unusable: ${detail}`,
      hint: "the node must be repaired: its coprocessor state cannot be trusted",
      statusCode: 500,
    }),
  network: (detail: string) =>
    new AgentError({
      code: "AGENT_NETWORK",
      message: detail,
      hint: "check the switch: `testbed switch show`",
    }),
};
