/**
 * Proves the codec's byte layout does not move: a change to codec code that is meant to keep the
 * format must keep every encoding byte for byte. How: one sample of every message type from
 * bft/wire/testing.ts, plus samples for the branches those do not reach (the join and leave special
 * entries, a VIEW-CHANGE batch with a special, a KEY-EXCHANGE from an active replica, an unknown
 * trigger that only the unchecked encoder writes, the VIEW-CHANGE signing bytes), are encoded and
 * compared as hex with golden/wire-codec.json, which was written from the encoder as it was before
 * the codec was folded into field codecs. Each golden encoding must also decode back to its sample.
 *
 * A deliberate layout change bumps CODEC_VERSION and rewrites the file:
 *   UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/wire-golden.test.ts
 * then review the diff before committing.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { InitMigration, Message, PrePrepare, ViewChange } from "../../bft/messages.js";
import {
  decodeMessage,
  encodeMessage,
  encodeMessageUnchecked,
  viewChangeSigningBytes,
  wireTesting,
} from "../../bft/wire/index.js";

const GOLDEN_PATH = new URL("./golden/wire-codec.json", import.meta.url);
const { sampleJoinRequest, sampleMessages, sampleMigrationPrePrepare, sampleViewChange } = wireTesting;

const samples = sampleMessages();
const viewChange = sampleViewChange(2);
const leaveRequest = samples.LeaveRequest as Extract<Message, { type: "LeaveRequest" }>;

const extraSamples: Record<string, Message> = {
  "PrePrepare/migration": sampleMigrationPrePrepare(131),
  "PrePrepare/join": {
    ...(samples.PrePrepare as PrePrepare),
    requests: [],
    special: { kind: "join", request: sampleJoinRequest(18), joinTimeMs: 123_456_789 },
  },
  "PrePrepare/leave": {
    ...(samples.PrePrepare as PrePrepare),
    requests: [],
    special: { kind: "leave", request: leaveRequest },
  },
  "ViewChange/special": {
    ...viewChange,
    batches: [
      ...viewChange.batches,
      { ...viewChange.batches[1]!, special: { kind: "leave", request: leaveRequest } },
    ],
  },
  "KeyExchange/replica": {
    ...(samples.KeyExchange as Extract<Message, { type: "KeyExchange" }>),
    replicaId: 2,
    peerCounter: 2 ** 50,
  },
  "OnDemandMigration/two": {
    ...(samples.OnDemandMigration as Extract<Message, { type: "OnDemandMigration" }>),
    replicaIds: [0, 3],
  },
};

/** Encodings that only the unchecked encoder writes; they are not expected to decode. */
const uncheckedSamples: Record<string, Message> = {
  "InitMigration/unknownTrigger": {
    ...(samples.InitMigration as InitMigration),
    trigger: "bogus" as InitMigration["trigger"],
  },
};

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

/** A plain Uint8Array, not a Buffer: decoded byte fields are views of it and must equal the samples'. */
function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

function currentEncodings(): Record<string, string> {
  const encodings: Record<string, string> = {};
  for (const [name, message] of Object.entries({ ...samples, ...extraSamples })) {
    encodings[name] = toHex(encodeMessage(message));
  }
  for (const [name, message] of Object.entries(uncheckedSamples)) {
    encodings[name] = toHex(encodeMessageUnchecked(message));
  }
  const { signature: _signature, ...fields } = viewChange satisfies ViewChange;
  encodings["ViewChange/signingBytes"] = toHex(viewChangeSigningBytes(fields));
  return encodings;
}

if (process.env.UPDATE_GOLDEN === "1") {
  writeFileSync(GOLDEN_PATH, `${JSON.stringify(currentEncodings(), null, 2)}\n`);
}
const golden = JSON.parse(readFileSync(GOLDEN_PATH, "utf8")) as Record<string, string>;
const encodings = currentEncodings();

describe("golden encodings", () => {
  it("cover every sample and nothing else", () => {
    expect(Object.keys(encodings).sort()).toEqual(Object.keys(golden).sort());
  });

  it.each(Object.keys(golden))("%s encodes to its golden bytes", (name) => {
    expect(encodings[name]).toBe(golden[name]);
  });

  it.each(Object.entries({ ...samples, ...extraSamples }))(
    "%s decodes from its golden bytes",
    (name, message) => {
      const result = decodeMessage(fromHex(golden[name]!));
      expect(result).toEqual({ ok: true, message });
    },
  );

  it("an unknown trigger encodes to a byte no decoder accepts", () => {
    const result = decodeMessage(fromHex(golden["InitMigration/unknownTrigger"]!));
    expect(result).toEqual({ ok: false, reason: "unknownKind" });
  });
});
