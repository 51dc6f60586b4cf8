/**
 * A PBFT cluster on the testbed's active nodes: replica i runs on node n<i>, agreement on its NIC2
 * address, clients on its NIC1 address (DESIGN.md section 2). The controller builds each replica's
 * configuration (bft/host/config.ts) and hands it to the node agent with `start-replica`; the agent
 * adds the node's identity and runs `node /rom/dist/bft/host/replica-main.js --config <json>`.
 *
 * Each replica records its history on its node's disk (HISTORY_DIRECTORY of bft/host); `history()`
 * fetches the files back through the agents and turns them into checker events.
 */
import { randomBytes } from "node:crypto";
import type { HistoryEvent } from "../bft/checker/index.js";
import {
  clusterSecretFrom,
  dealHostKeys,
  HISTORY_DIRECTORY,
  keyMaterialJson,
  parseReplicaHistory,
  type ReplicaProcessConfig,
} from "../bft/host/index.js";
import type { KeyMaterial } from "../bft/wire/index.js";
import { testbedErrors } from "./errors.js";
import type { Testbed } from "./testbed.js";
import { WAIT_POLL_MS } from "./wait.js";

/** The replica process in the ROM (images/rom.ts bundles every bft/host/*-main.ts there). */
export const REPLICA_ENTRY = "dist/bft/host/replica-main.js";
/** Agreement port, bound on NIC2 only. */
export const REPLICA_PEER_PORT = 7100;
/** Client port, bound on NIC1 only. */
export const REPLICA_CLIENT_PORT = 7200;
/** Milliseconds a replica may take from `start-replica` to listening. */
export const REPLICA_START_TIMEOUT_MS = 15_000;
/** Pages of a history file fetched at most (64 KiB each): 64 MiB, far above any test run. */
const HISTORY_PAGES_MAX = 1024;

export interface ClusterOptions {
  /** Defaults to the testbed's f; the testbed must have 3f+1 active nodes. */
  readonly f?: number;
  readonly app: ReplicaProcessConfig["app"];
  /** Overrides of the replica core's defaults, e.g. a short viewChangeTimeoutMs. */
  readonly core?: ReplicaProcessConfig["core"];
  /**
   * The secret this controller deals every principal's keys from (it stays here: each replica
   * gets only its own keys). Defaults to a fresh random secret.
   */
  readonly clusterSecret?: string;
  readonly peerPort?: number;
  readonly clientPort?: number;
  /** Record each replica's history on its node's disk (default true). */
  readonly recordHistory?: boolean;
  readonly startTimeoutMs?: number;
}

export interface ClusterReplica {
  readonly id: number;
  readonly node: string;
  /** Agreement address: the node's NIC2. */
  readonly peer: { readonly host: string; readonly port: number };
  /** Client address: the node's NIC1. */
  readonly client: { readonly host: string; readonly port: number };
  /** File name in the node's history directory, or null when not recording. */
  readonly historyName: string | null;
}

export interface StartedCluster {
  readonly f: number;
  /** A client's keys with this cluster's replicas, dealt by the controller. */
  clientKeys(clientId: number): KeyMaterial;
  readonly replicas: readonly ClusterReplica[];
  /** Each replica's history file as checker events (replicaStarted, executed, ...), in file order. */
  history(replicaId: number): Promise<HistoryEvent[]>;
  /** Stops every replica (the agents answer on NIC3, so this works whatever the switch does). */
  stop(): Promise<void>;
}

interface SupervisedStatus {
  readonly running: boolean;
  readonly restarts: number;
  readonly lastExit: unknown;
  readonly logTail: readonly string[];
}

/** Starts replica i on active node n<i> for i in 0..3f and waits until each one listens. */
export async function startCluster(testbed: Testbed, options: ClusterOptions): Promise<StartedCluster> {
  const f = options.f ?? testbed.config.f;
  const n = 3 * f + 1;
  const active = testbed.nodes().filter((plan) => plan.initialRole === "active");
  if (!Number.isInteger(f) || f < 1 || active.length < n)
    throw testbedErrors.badConfig("f", `${f} needs ${n} active nodes; the testbed has ${active.length}`);
  const clusterSecret = clusterSecretFrom(options.clusterSecret ?? randomBytes(16).toString("hex"));
  const runTag = randomBytes(4).toString("hex");
  const replicas: ClusterReplica[] = active.slice(0, n).map((plan, id) => ({
    id,
    node: plan.node,
    peer: { host: plan.addresses.nic2, port: options.peerPort ?? REPLICA_PEER_PORT },
    client: { host: plan.addresses.nic1, port: options.clientPort ?? REPLICA_CLIENT_PORT },
    historyName: options.recordHistory === false ? null : `replica-${id}-${runTag}.jsonl`,
  }));
  const endpoints = replicas.map(({ id, peer, client }) => ({ id, peer, client }));
  const cluster: StartedCluster = {
    f,
    clientKeys: (clientId) => dealHostKeys(clusterSecret, { kind: "client", id: clientId }, f),
    replicas,
    history: (replicaId) => readHistory(testbed, replicas[replicaId]),
    stop: async () => {
      await Promise.all(replicas.map((replica) => testbed.exec(replica.node, "stop", 10_000)));
    },
  };
  try {
    await Promise.all(
      replicas.map(async (replica) => {
        const config: ReplicaProcessConfig = {
          f,
          replicaId: replica.id,
          keys: keyMaterialJson(dealHostKeys(clusterSecret, { kind: "replica", id: replica.id }, f)),
          app: options.app,
          replicas: endpoints,
          ...(options.core === undefined ? {} : { core: options.core }),
          ...(replica.historyName === null
            ? {}
            : { historyPath: `${HISTORY_DIRECTORY}/${replica.historyName}` }),
        };
        const reply = await testbed.exec<{ error?: { message: string } }>(
          replica.node,
          `start-replica ${JSON.stringify({ entry: REPLICA_ENTRY, config })}`,
        );
        if (reply.exitCode !== 0)
          throw testbedErrors.replicaNotStarted(replica.node, reply.value.error?.message ?? "no answer");
        await waitListening(testbed, replica.node, options.startTimeoutMs ?? REPLICA_START_TIMEOUT_MS);
      }),
    );
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    throw error;
  }
  return cluster;
}

/** Until the replica logged "replica started" (it listens on both addresses by then). */
async function waitListening(testbed: Testbed, node: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let tail: readonly string[] = [];
  while (performance.now() < deadline) {
    const reply = await testbed.exec<{ process: SupervisedStatus }>(node, "status", 5000);
    const status = reply.value.process;
    tail = status.logTail;
    if (status.lastExit !== null || status.restarts > 0)
      throw testbedErrors.replicaNotStarted(node, `it exited: ${tail.slice(-3).join(" | ") || "no output"}`);
    if (status.running && tail.some((line) => line.includes('"msg":"replica started"'))) return;
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
  throw testbedErrors.replicaNotStarted(
    node,
    `not listening after ${timeoutMs}ms: ${tail.slice(-3).join(" | ") || "no output"}`,
  );
}

interface HistoryPage {
  readonly text: string;
  readonly nextOffset: number;
  readonly done: boolean;
  readonly error?: { message: string };
}

async function readHistory(testbed: Testbed, replica: ClusterReplica | undefined): Promise<HistoryEvent[]> {
  if (replica === undefined || replica.historyName === null)
    throw testbedErrors.badConfig("recordHistory", "is off or the replica id is unknown");
  let text = "";
  let offset = 0;
  for (let page = 0; page < HISTORY_PAGES_MAX; page += 1) {
    const reply = await testbed.exec<HistoryPage>(replica.node, `history ${replica.historyName} ${offset}`);
    if (reply.exitCode !== 0)
      throw testbedErrors.agentCommandFailed(replica.node, "history", reply.value.error?.message ?? "?");
    text += reply.value.text;
    if (reply.value.done) return parseReplicaHistory(text, replica.id);
    offset = reply.value.nextOffset;
  }
  throw testbedErrors.agentCommandFailed(replica.node, "history", `longer than ${HISTORY_PAGES_MAX} pages`);
}
