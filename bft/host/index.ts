/**
 * Process hosts: run a replica or clients in a real process over TCP (loopback for benchmarks,
 * NIC1/NIC2 addresses on a testbed node). The process entry is replica-main.ts.
 */
export {
  CLIENT_POOL_SIZE_MAX,
  ClientAbandonedError,
  type ClientHost,
  type ClientHostOptions,
  type ClientPool,
  type ClientPoolOptions,
  type ClientSession,
  type Invocation,
  startClientHost,
  startClientPool,
} from "./client-host.js";
export {
  ConfigError,
  coreConfigOf,
  loadReplicaProcessConfig,
  parseReplicaProcessConfig,
  type ReplicaProcessConfig,
  ReplicaProcessConfigSchema,
} from "./config.js";
export {
  HISTORY_DIRECTORY,
  HistoryFileError,
  parseReplicaHistory,
  recordLine,
  startedLine,
} from "./history-file.js";
export {
  clusterSecretFrom,
  createWire,
  dealHostKeys,
  type KeyMaterialJson,
  KeyMaterialSchema,
  keyMaterialJson,
  keyMaterialOf,
} from "./keys.js";
export { HOST_NODE_FLAGS, missingHostNodeFlags } from "./node-flags.js";
export {
  type HostLogger,
  type ReplicaEndpoint,
  type ReplicaHost,
  type ReplicaHostOptions,
  startReplicaHost,
} from "./replica-host.js";
