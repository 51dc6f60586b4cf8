/**
 * The agent's configuration: what the controller passes in the container's environment, validated
 * once at start. Paths can be overridden so the agent's parts also run on the host in tests.
 */
import { isIPv4 } from "node:net";
import { HISTORY_DIRECTORY } from "../bft/host/history-file.js";

/** The agent's `history` command reads only this directory (bft/host owns the path). */
export { HISTORY_DIRECTORY };

export interface AgentConfig {
  readonly nodeId: string;
  /** NIC1 client, NIC2 inter-pool, NIC3 management addresses of this node. */
  readonly nic1Address: string;
  readonly nic2Address: string;
  readonly nic3Address: string;
  readonly sshPort: number;
  /** The read-only code mount (ROM). */
  readonly romDirectory: string;
  /** The coprocessor volume: survives reboot and disk swap. */
  readonly coprocessorDirectory: string;
  /** Controller-delivered keys (host key, authorized controller key), mounted read-only. */
  readonly keysDirectory: string;
  /** Controller-owned hardware flags (e.g. `damaged`), mounted read-only. */
  readonly hardwareDirectory: string;
  /** Areas a remote command may read and write (memory, disk). */
  readonly fileAreas: readonly string[];
  /** Areas a remote command may only read. */
  readonly readOnlyAreas: readonly string[];
  /** Replica history files (JSON lines), readable page by page with the `history` command. */
  readonly historyDirectory: string;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new Error(`environment variable ${name} is required`);
  return value;
}

function address(env: NodeJS.ProcessEnv, name: string): string {
  const value = required(env, name);
  if (!isIPv4(value)) throw new Error(`${name}=${value} is not an IPv4 address`);
  return value;
}

export function agentConfigFromEnv(env: NodeJS.ProcessEnv): AgentConfig {
  const sshPort = Number(env.MBFT_SSH_PORT ?? "22");
  if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65535)
    throw new Error(`MBFT_SSH_PORT=${sshPort} is not a port`);
  return {
    nodeId: required(env, "MBFT_NODE_ID"),
    nic1Address: address(env, "MBFT_NIC1_ADDR"),
    nic2Address: address(env, "MBFT_NIC2_ADDR"),
    nic3Address: address(env, "MBFT_NIC3_ADDR"),
    sshPort,
    romDirectory: env.MBFT_ROM_DIR ?? "/rom",
    coprocessorDirectory: env.MBFT_COPROCESSOR_DIR ?? "/coproc",
    keysDirectory: env.MBFT_KEYS_DIR ?? "/etc/mbft",
    hardwareDirectory: env.MBFT_HARDWARE_DIR ?? "/hw",
    fileAreas: ["/data", "/tmp", "/run/mem", "/dev/shm"],
    readOnlyAreas: [env.MBFT_ROM_DIR ?? "/rom"],
    historyDirectory: env.MBFT_HISTORY_DIR ?? HISTORY_DIRECTORY,
  };
}
