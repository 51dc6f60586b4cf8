/** controller/: the testbed operator (provisioning, power actions, switch driving, CLI). */
export {
  AGENT_CONNECT_TIMEOUT_MS,
  AgentConnectionPool,
  type AgentEndpoint,
  type AgentReply,
  agentExec,
  agentShell,
} from "./agent-client.js";
export {
  type ClusterOptions,
  type ClusterReplica,
  REPLICA_CLIENT_PORT,
  REPLICA_ENTRY,
  REPLICA_PEER_PORT,
  REPLICA_START_TIMEOUT_MS,
  type StartedCluster,
  startCluster,
} from "./cluster.js";
export {
  CLIENT_HOST_BASE,
  CM_HOST_BASE,
  configDigest,
  DEFAULT_RESOURCES,
  defaultConfig,
  gatewayAddress,
  hostAddress,
  NODE_HOST_BASE,
  type NodePlan,
  type NodeResources,
  type NodeRole,
  planNodes,
  switchChain,
  type TestbedConfig,
  validateConfig,
} from "./config.js";
export {
  type ContainerSummary,
  type DockerClient,
  DockerodeClient,
  type NetworkSpec,
  type ResourceSummary,
} from "./docker-client.js";
export { TestbedError, testbedErrors } from "./errors.js";
export {
  LABEL_CONFIG,
  LABEL_NIC,
  LABEL_NODE,
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_TESTBED,
  labels,
  testbedFilter,
} from "./labels.js";
export { type BindMount, type ContainerSpec, type NicAttachment, NodeSpecBuilder } from "./node-spec.js";
export {
  type DownReport,
  type NodeStatus,
  type ProgressEvent,
  savedConfig,
  Testbed,
  type TestbedOptions,
  type UpReport,
} from "./testbed.js";
export { WAIT_POLL_MS, type WaitStrategy, waitForAll, waitForProbe } from "./wait.js";
