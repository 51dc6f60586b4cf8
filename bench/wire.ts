/**
 * Micro-benchmark of the wire layer: seal and open of a 1 KiB client request, and of a 64-request
 * PRE-PREPARE broadcast to 4 replicas; then the codec alone (encode and decode, no MACs) for the
 * messages of the normal case, so a codec change shows up without the crypto around it.
 * Prints CSV (operation, ops/s) on stdout.
 *
 *   npx tsx bench/wire.ts [durationMs per operation, default 1000]
 */
import { createHash } from "node:crypto";
import type { Message, PrePrepare, Principal, Request } from "../bft/messages.js";
import {
  createDerivedKeyRing,
  decodeMessage,
  deriveSigningKeyPair,
  encodeMessage,
  Wire,
} from "../bft/wire/index.js";

const REPLICA_COUNT = 4;
const OPERATION_BYTES = 1024;
const BATCH_REQUESTS = 64;
const durationMs = Number(process.argv[2] ?? 1000);

const clusterSecret = new Uint8Array(32).fill(7);
const publicKeys = Array.from(
  { length: REPLICA_COUNT },
  (_, id) => deriveSigningKeyPair(clusterSecret, id).publicKey,
);

function wireFor(self: Principal): Wire {
  return new Wire({
    self,
    n: REPLICA_COUNT,
    keys: createDerivedKeyRing({ clusterSecret, self }),
    replicaPublicKeys: publicKeys,
    ...(self.kind === "replica"
      ? { signing: { privateKey: deriveSigningKeyPair(clusterSecret, self.id).privateKey } }
      : {}),
  });
}

const client = wireFor({ kind: "client", id: 1 });
const primary = wireFor({ kind: "replica", id: 0 });
const backup = wireFor({ kind: "replica", id: 1 });

function makeRequest(timestamp: number): Request {
  const body = {
    type: "Request" as const,
    clientId: 1,
    timestamp,
    operation: new Uint8Array(OPERATION_BYTES).fill(timestamp),
  };
  return { ...body, auth: client.authenticateRequest(body) };
}

const request = makeRequest(1);
const requests = Array.from({ length: BATCH_REQUESTS }, (_, index) => makeRequest(index + 1));
const prePrepare: PrePrepare = {
  type: "PrePrepare",
  view: 0,
  seq: 1,
  digest: createHash("sha256").update("batch").digest(),
  requests,
};
const requestFrame = client.seal(request, { kind: "replica", id: 0 });
const prePrepareFrame = primary.seal(prePrepare, "replicas");

function measure(operation: string, run: () => unknown): void {
  for (let warm = 0; warm < 200; warm++) run();
  let count = 0;
  const start = performance.now();
  let elapsedMs = 0;
  while (elapsedMs < durationMs) {
    for (let index = 0; index < 50; index++) run();
    count += 50;
    elapsedMs = performance.now() - start;
  }
  console.log(`${operation},${Math.round((count * 1000) / elapsedMs)}`);
}

function mustOpen(wire: Wire, frame: Uint8Array): Message {
  const result = wire.open(frame);
  if (!result.ok) throw new Error(`bench frame rejected: ${result.reason}`);
  return result.message;
}

console.log("operation,ops_per_s");
measure("authenticate_request_1KiB", () => client.authenticateRequest({ ...request }));
measure("seal_request_1KiB", () => client.seal(request, { kind: "replica", id: 0 }));
measure("open_request_1KiB", () => mustOpen(primary, requestFrame));
measure("seal_preprepare_64x1KiB_broadcast", () => primary.seal(prePrepare, "replicas"));
measure("open_preprepare_64x1KiB", () => mustOpen(backup, prePrepareFrame));
measure("seal_prepare_broadcast", () =>
  backup.seal({ type: "Prepare", view: 0, seq: 1, digest: prePrepare.digest, replicaId: 1 }, "replicas"),
);

const prepare: Message = { type: "Prepare", view: 0, seq: 1, digest: prePrepare.digest, replicaId: 1 };
const codecSamples: [string, Message][] = [
  ["request_1KiB", request],
  [
    "reply_64B",
    { type: "Reply", view: 0, timestamp: 1, clientId: 1, replicaId: 0, result: new Uint8Array(64) },
  ],
  ["preprepare_64x1KiB", prePrepare],
  ["prepare", prepare],
  ["commit", { ...prepare, type: "Commit" }],
];
for (const [name, message] of codecSamples) {
  const bytes = encodeMessage(message);
  measure(`encode_${name}`, () => encodeMessage(message));
  measure(`decode_${name}`, () => {
    if (!decodeMessage(bytes).ok) throw new Error(`bench ${name} rejected`);
  });
}
