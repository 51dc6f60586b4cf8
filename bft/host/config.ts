/**
 * A replica process's configuration file, validated once at start with a clear message per bad
 * value. The same file drives a local process (benchmarks) and a replica on a testbed node.
 */
import { readFileSync } from "node:fs";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { defaultReplicaConfig, type ReplicaConfig, validateReplicaConfig } from "../replica/index.js";
import { KeyMaterialSchema } from "./keys.js";

const Address = Type.Object(
  { host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 0, maximum: 65535 }) },
  { additionalProperties: false },
);

export const ReplicaProcessConfigSchema = Type.Object(
  {
    f: Type.Integer({ minimum: 1, maximum: 3 }),
    replicaId: Type.Integer({ minimum: 0, maximum: 9 }),
    /**
     * This replica's keys, dealt by the cluster's launcher (bft/host/keys.ts dealHostKeys): no
     * replica holds the cluster secret, so none can MAC or sign as another principal.
     */
    keys: KeyMaterialSchema,
    app: Type.Object(
      {
        app: Type.Union([Type.Literal("echo"), Type.Literal("kv")]),
        busyWaitMs: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })),
        stateBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 * 1024 * 1024 })),
      },
      { additionalProperties: false },
    ),
    replicas: Type.Array(
      Type.Object(
        { id: Type.Integer({ minimum: 0, maximum: 9 }), peer: Address, client: Address },
        { additionalProperties: false },
      ),
      { minItems: 4, maxItems: 10 },
    ),
    /** Overrides of the core's defaults (timeouts, batching). */
    core: Type.Optional(
      Type.Object(
        {
          checkpointIntervalSeqs: Type.Optional(Type.Integer()),
          logWindowSeqs: Type.Optional(Type.Integer()),
          batchSizeMax: Type.Optional(Type.Integer()),
          batchInflightMax: Type.Optional(Type.Integer()),
          /** The replica host proposes once per event-loop turn unless this is false. */
          proposeAtTurnEnd: Type.Optional(Type.Boolean()),
          viewChangeTimeoutMs: Type.Optional(Type.Integer()),
          statusIntervalMs: Type.Optional(Type.Integer()),
        },
        { additionalProperties: false },
      ),
    ),
    /** Where to append history records (JSON lines); none when absent. */
    historyPath: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * The node's identity, added by the node agent's supervisor when it starts the process on a
     * testbed node (node-agent/supervisor.ts). When present, this replica's endpoints must be the
     * node's own NICs: agreement on NIC2, clients on NIC1 (DESIGN.md section 2).
     */
    node: Type.Optional(
      Type.Object(
        {
          nodeId: Type.String({ minLength: 1 }),
          nic1Address: Type.String({ minLength: 1 }),
          nic2Address: Type.String({ minLength: 1 }),
          nic3Address: Type.String({ minLength: 1 }),
          role: Type.Union([Type.Literal("replica"), Type.Literal("standby")]),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ReplicaProcessConfig = Static<typeof ReplicaProcessConfigSchema>;

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export function parseReplicaProcessConfig(value: unknown, source: string): ReplicaProcessConfig {
  if (!Value.Check(ReplicaProcessConfigSchema, value)) {
    const problems = [...Value.Errors(ReplicaProcessConfigSchema, value)]
      .slice(0, 5)
      .map((error) => `${error.path || "/"}: ${error.message}`);
    throw new ConfigError(`${source}: ${problems.join("; ")}`, "see bft/host/config.ts for the schema");
  }
  const n = 3 * value.f + 1;
  const ids = value.replicas.map((endpoint) => endpoint.id).sort((a, b) => a - b);
  if (ids.length !== n || ids.some((id, index) => id !== index)) {
    throw new ConfigError(
      `${source}: replicas must list ids 0..${n - 1} exactly once for f=${value.f}`,
      "one entry per replica",
    );
  }
  if (value.replicaId >= n)
    throw new ConfigError(
      `${source}: replicaId ${value.replicaId} is not below n=${n}`,
      "replica ids are 0..3f",
    );
  const { self, replicaPublicKeys } = value.keys;
  if (self.kind !== "replica" || self.id !== value.replicaId || replicaPublicKeys.length !== n)
    throw new ConfigError(
      `${source}: keys are for ${self.kind} ${self.id} with ${replicaPublicKeys.length} replica keys, not replica ${value.replicaId} of n=${n}`,
      "deal this replica's keys with dealHostKeys for its id and f",
    );
  checkNodeAddresses(value, source);
  try {
    coreConfigOf(value);
  } catch (error) {
    throw new ConfigError(`${source}: ${(error as Error).message}`, "fix the core overrides");
  }
  return value;
}

function checkNodeAddresses(value: ReplicaProcessConfig, source: string): void {
  if (value.node === undefined) return;
  const me = value.replicas.find((endpoint) => endpoint.id === value.replicaId);
  if (me === undefined) return; // Unreachable: the ids were checked to be 0..n-1.
  const { nodeId, nic1Address, nic2Address } = value.node;
  if (me.peer.host !== nic2Address) {
    throw new ConfigError(
      `${source}: replica ${value.replicaId} on node ${nodeId} has agreement host ${me.peer.host}, not its NIC2 address ${nic2Address}`,
      "agreement traffic uses NIC2 (DESIGN.md section 2)",
    );
  }
  if (me.client.host !== nic1Address) {
    throw new ConfigError(
      `${source}: replica ${value.replicaId} on node ${nodeId} has client host ${me.client.host}, not its NIC1 address ${nic1Address}`,
      "clients use NIC1 (DESIGN.md section 2)",
    );
  }
}

/**
 * `--config` takes a file path or the JSON text itself: the node agent passes the configuration
 * inline (`node /rom/<entry> --config <json>`), local runs pass a file. A JSON object starts with
 * `{`, which no sensible path does.
 */
export function loadReplicaProcessConfig(pathOrJson: string): ReplicaProcessConfig {
  const inline = pathOrJson.trimStart().startsWith("{");
  const source = inline ? "--config (inline JSON)" : pathOrJson;
  let text = pathOrJson;
  if (!inline) {
    try {
      text = readFileSync(pathOrJson, "utf8");
    } catch (error) {
      throw new ConfigError(
        `cannot read config ${pathOrJson}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        "pass --config <file.json> or --config '<json>'",
      );
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${(error as Error).message}`, "check the syntax");
  }
  return parseReplicaProcessConfig(value, source);
}

export function coreConfigOf(config: ReplicaProcessConfig): ReplicaConfig {
  return validateReplicaConfig({ ...defaultReplicaConfig(config.f, config.replicaId), ...config.core });
}
