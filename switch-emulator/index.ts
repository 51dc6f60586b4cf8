/** switch-emulator/: the testbed's managed switch (iptables + tc on the bridge ports). */
export { SwitchError, switchErrors } from "./errors.js";
export {
  DockerPortResolver,
  type InterfaceInfo,
  matchHostVeth,
  type PortResolver,
  readInterfaces,
} from "./port-map.js";
export {
  accountingComment,
  type Bindings,
  type Counter,
  ifbName,
  parseCounters,
  parseQdiscs,
  planShaping,
  planTeardownShaping,
  type QdiscSnapshot,
  renderChain,
  type TcStep,
  tbfBurstBytes,
} from "./rules.js";
export { type CommandResult, type CommandRunner, hostRunner } from "./runner.js";
export {
  addPartition,
  definePorts,
  emptyState,
  healPartition,
  NIC_NAMES,
  type NicName,
  noShutdownPort,
  type Partition,
  type PortConfig,
  type PortDefinition,
  parsePortName,
  parseRate,
  portKey,
  RATE_MBIT_MAX,
  RATE_MBIT_MIN,
  type SwitchState,
  setRate,
  shutdownPort,
  validateState,
} from "./state.js";
export { HOOK_CHAIN, type PortStatus, removeChain, SwitchEmulator, type SwitchOptions } from "./switch.js";
