/** node-agent/: the first process of every testbed node. */
export { bootAgent, type RunningAgent } from "./agent.js";
export { type CommandContext, type CommandReply, runCommand } from "./commands.js";
export { type AgentConfig, agentConfigFromEnv, HISTORY_DIRECTORY } from "./config.js";
export { NodeCoprocessor, type QuoteJson, quoteFromJson, quoteToJson } from "./coprocessor.js";
export { AgentError, agentErrors } from "./errors.js";
export { FileAreas, type FileChunk, readChunk } from "./files.js";
export { type Health, probeHealth } from "./health.js";
export { AUTHORIZED_KEY_FILE, HOST_KEY_FILE } from "./ssh-server.js";
export { type ProcessRole, type ProcessStatus, type StartRequest, Supervisor } from "./supervisor.js";
