/**
 * Proves the binary codec is lossless, canonical and strict. How: a table round-trips one sample
 * of every message type (decode(encode(m)) equals m, the size is computed exactly, re-encoding
 * gives the same bytes); a second table builds one violation of every bound with the unchecked
 * encoder or by patching bytes and expects its stable reason code; fast-check feeds random bytes,
 * mutated encodings and random valid messages, and checks decodeMessage never throws and that any
 * accepted input re-encodes to exactly the same bytes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../bft/assert.js";
import {
  DIGEST_BYTES,
  LOG_WINDOW_SEQS,
  MAC_BYTES,
  MESSAGE_BYTES_MAX,
  OPERATION_BYTES_MAX,
  REPLICAS_MAX,
  REQUEST_BATCH_MAX,
  RESULT_BYTES_MAX,
  SIGNATURE_BYTES,
  STATE_BYTES_MAX,
  STATE_CHUNK_BYTES_MAX,
} from "../../bft/limits.js";
import type { Message, NewView, PrePrepare, Request, ViewChange } from "../../bft/messages.js";
import { CODEC_VERSION } from "../../bft/wire/bounds.js";
import {
  DECODE_REASONS,
  type DecodeReason,
  decodeMessage,
  encodedSize,
  encodeMessage,
  encodeMessageUnchecked,
  fitsInFrame,
  MESSAGE_TAGS,
  wireBounds,
  wireTesting,
} from "../../bft/wire/index.js";

const { filledBytes, sampleMessages, samplePrePrepare, sampleRequest, sampleViewChange } = wireTesting;
const samples = sampleMessages();

function decodeOk(bytes: Uint8Array): Message {
  const result = decodeMessage(bytes);
  if (!result.ok) throw new Error(`expected a message, got ${result.reason}`);
  return result.message;
}

function reasonOf(bytes: Uint8Array): DecodeReason | "ok" {
  const result = decodeMessage(bytes);
  return result.ok ? "ok" : result.reason;
}

describe("round trip", () => {
  it.each(Object.entries(samples))("%s decodes to what was encoded", (_type, message) => {
    const bytes = encodeMessage(message);
    expect(bytes.length).toBe(encodedSize(message));
    const decoded = decodeOk(bytes);
    expect(decoded).toEqual(message);
    expect(encodeMessage(decoded)).toEqual(bytes);
  });

  it("every message type has a sample", () => {
    expect(Object.keys(samples).sort()).toEqual(Object.keys(MESSAGE_TAGS).sort());
  });

  it("decoded byte fields are views of the input, not copies", () => {
    const bytes = encodeMessage(samples.Request);
    const decoded = decodeOk(bytes) as Request;
    expect(decoded.operation.buffer).toBe(bytes.buffer);
  });

  it("carries the largest safe integer and the largest batch of the largest operations", () => {
    const requests = Array.from({ length: REQUEST_BATCH_MAX }, (_, index) => ({
      ...sampleRequest(index, Number.MAX_SAFE_INTEGER, OPERATION_BYTES_MAX),
      auth: filledBytes(REPLICAS_MAX * MAC_BYTES, index),
    }));
    const message: PrePrepare = { ...samplePrePrepare(Number.MAX_SAFE_INTEGER, 0), requests };
    expect(fitsInFrame(message)).toBe(true);
    const bytes = encodeMessage(message);
    const decoded = decodeOk(bytes) as PrePrepare;
    // Compare through the canonical encoding: deep equality on 4 MiB of arrays is slow.
    expect(Buffer.compare(encodeMessage(decoded), bytes)).toBe(0);
    expect(decoded.seq).toBe(Number.MAX_SAFE_INTEGER);
    expect(decoded.requests).toHaveLength(REQUEST_BATCH_MAX);
  });
});

/** Patches the u64 at `offset` to the raw words given. */
function patchU64(bytes: Uint8Array, offset: number, high: number, low: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  const view = new DataView(copy.buffer);
  view.setUint32(offset, high);
  view.setUint32(offset + 4, low);
  return copy;
}

const request = samples.Request as Request;
const prePrepare = samples.PrePrepare as PrePrepare;
const viewChange = samples.ViewChange as ViewChange;
const newView = samples.NewView as NewView;
const digest = filledBytes(DIGEST_BYTES, 1);
const entries = (count: number) => Array.from({ length: count }, (_, seq) => ({ seq, view: 1, digest }));

const violations: [string, () => Uint8Array, DecodeReason][] = [
  ["input above MESSAGE_BYTES_MAX", () => new Uint8Array(MESSAGE_BYTES_MAX + 1), "messageTooLarge"],
  ["empty input", () => new Uint8Array(0), "truncated"],
  ["last byte cut", () => encodeMessage(prePrepare).subarray(0, encodedSize(prePrepare) - 1), "truncated"],
  ["a trailing byte", () => Uint8Array.from([...encodeMessage(samples.Prepare), 0]), "trailingBytes"],
  [
    "unknown version",
    () => Uint8Array.from([9, ...encodeMessage(samples.Prepare).subarray(1)]),
    "unknownVersion",
  ],
  [
    "unknown type tag",
    () => Uint8Array.from([CODEC_VERSION, 99, ...encodeMessage(samples.Prepare).subarray(2)]),
    "unknownType",
  ],
  [
    "the view-change signing tag",
    () => Uint8Array.from([CODEC_VERSION, 0x87, ...encodeMessage(viewChange).subarray(2)]),
    "unknownType",
  ],
  [
    "seq = 2^53",
    () => encodeMessageUnchecked({ ...samples.Prepare, seq: 2 ** 53 } as Message),
    "integerUnsafe",
  ],
  [
    "view = 2^64 - 1",
    () => patchU64(encodeMessage(samples.Prepare), 2, 0xffffffff, 0xffffffff),
    "integerUnsafe",
  ],
  ["timestamp >= 2^53", () => patchU64(encodeMessage(request), 6, 2 ** 21, 0), "integerUnsafe"],
  [
    "digest of 31 bytes",
    () => encodeMessageUnchecked({ ...samples.Commit, digest: digest.subarray(1) } as Message),
    "digestLength",
  ],
  [
    "digest of 33 bytes",
    () => encodeMessageUnchecked({ ...samples.Commit, digest: new Uint8Array(33) } as Message),
    "digestLength",
  ],
  [
    "empty state digest",
    () => encodeMessageUnchecked({ ...samples.Checkpoint, stateDigest: new Uint8Array(0) } as Message),
    "digestLength",
  ],
  [
    "entry digest in a P set",
    () =>
      encodeMessageUnchecked({ ...viewChange, prepared: [{ seq: 1, view: 1, digest: new Uint8Array(8) }] }),
    "digestLength",
  ],
  [
    "signature of 63 bytes",
    () => encodeMessageUnchecked({ ...viewChange, signature: new Uint8Array(SIGNATURE_BYTES - 1) }),
    "signatureLength",
  ],
  [
    "absent signature",
    () => encodeMessageUnchecked({ ...viewChange, signature: new Uint8Array(0) }),
    "signatureLength",
  ],
  [
    "authenticator not a multiple of MAC_BYTES",
    () => encodeMessageUnchecked({ ...request, auth: new Uint8Array(MAC_BYTES + 1) }),
    "authLength",
  ],
  [
    "authenticator with REPLICAS_MAX + 1 MACs",
    () => encodeMessageUnchecked({ ...request, auth: new Uint8Array((REPLICAS_MAX + 1) * MAC_BYTES) }),
    "authLength",
  ],
  [
    "replica id = REPLICAS_MAX",
    () => encodeMessageUnchecked({ ...samples.Prepare, replicaId: REPLICAS_MAX } as Message),
    "replicaIdRange",
  ],
  [
    "replica id of a nested view change",
    () => encodeMessageUnchecked({ ...newView, viewChanges: [{ ...viewChange, replicaId: 200 }] }),
    "replicaIdRange",
  ],
  [
    "operation of OPERATION_BYTES_MAX + 1",
    () => encodeMessageUnchecked({ ...request, operation: new Uint8Array(OPERATION_BYTES_MAX + 1) }),
    "operationTooLarge",
  ],
  [
    "result of RESULT_BYTES_MAX + 1",
    () =>
      encodeMessageUnchecked({ ...samples.Reply, result: new Uint8Array(RESULT_BYTES_MAX + 1) } as Message),
    "resultTooLarge",
  ],
  [
    "REQUEST_BATCH_MAX + 1 requests in a PRE-PREPARE",
    () => encodeMessageUnchecked(samplePrePrepare(1, REQUEST_BATCH_MAX + 1)),
    "batchTooLarge",
  ],
  [
    "REQUEST_BATCH_MAX + 1 requests in a VIEW-CHANGE batch",
    () =>
      encodeMessageUnchecked({
        ...viewChange,
        batches: [{ digest, requests: samplePrePrepare(1, REQUEST_BATCH_MAX + 1).requests }],
      }),
    "batchTooLarge",
  ],
  [
    "a P set above 2 * LOG_WINDOW_SEQS",
    () => encodeMessageUnchecked({ ...viewChange, prepared: entries(2 * LOG_WINDOW_SEQS + 1) }),
    "countTooLarge",
  ],
  [
    "a Q set above 2 * LOG_WINDOW_SEQS (two digests per seq)",
    () => encodeMessageUnchecked({ ...viewChange, prePrepared: entries(2 * LOG_WINDOW_SEQS + 1) }),
    "countTooLarge",
  ],
  [
    "too many checkpoint claims",
    () =>
      encodeMessageUnchecked({
        ...viewChange,
        checkpoints: Array.from({ length: wireBounds.CHECKPOINT_CLAIMS_MAX + 1 }, (_, seq) => ({
          seq,
          stateDigest: digest,
        })),
      }),
    "countTooLarge",
  ],
  [
    "too many batches",
    () =>
      encodeMessageUnchecked({
        ...viewChange,
        batches: Array.from({ length: wireBounds.VIEW_CHANGE_BATCHES_MAX + 1 }, () => ({
          digest,
          requests: [],
        })),
      }),
    "countTooLarge",
  ],
  [
    "REPLICAS_MAX + 1 view changes in a NEW-VIEW",
    () =>
      encodeMessageUnchecked({
        ...newView,
        viewChanges: Array.from({ length: REPLICAS_MAX + 1 }, (_, id) => sampleViewChange(id % REPLICAS_MAX)),
      }),
    "countTooLarge",
  ],
  [
    "LOG_WINDOW_SEQS + 1 pre-prepares in a NEW-VIEW",
    () =>
      encodeMessageUnchecked({
        ...newView,
        prePrepares: Array.from({ length: LOG_WINDOW_SEQS + 1 }, (_, seq) => samplePrePrepare(seq, 0)),
      }),
    "countTooLarge",
  ],
  [
    "a count of 65535 with nothing behind it",
    () =>
      Uint8Array.from([
        ...encodeMessage({ ...viewChange, checkpoints: [], prepared: [] }).subarray(0, 18),
        0xff,
        0xff,
      ]),
    "countTooLarge",
  ],
  [
    "a state chunk above STATE_CHUNK_BYTES_MAX",
    () =>
      encodeMessageUnchecked({
        ...samples.StateChunk,
        totalBytes: STATE_BYTES_MAX,
        bytes: new Uint8Array(STATE_CHUNK_BYTES_MAX + 1),
      } as Message),
    "chunkTooLarge",
  ],
  [
    "chunk index = chunk count",
    () => encodeMessageUnchecked({ ...samples.StateChunk, chunkIndex: 3, chunkCount: 3 } as Message),
    "chunkRange",
  ],
  [
    "zero chunks",
    () => encodeMessageUnchecked({ ...samples.StateChunk, chunkIndex: 0, chunkCount: 0 } as Message),
    "chunkRange",
  ],
  [
    "state above STATE_BYTES_MAX",
    () => encodeMessageUnchecked({ ...samples.StateChunk, totalBytes: STATE_BYTES_MAX + 1 } as Message),
    "chunkRange",
  ],
  [
    "chunk longer than the state",
    () => encodeMessageUnchecked({ ...samples.StateChunk, totalBytes: 10 } as Message),
    "chunkRange",
  ],
  [
    "fetch of a chunk past the last",
    () =>
      encodeMessageUnchecked({ ...samples.FetchState, chunkIndex: wireBounds.STATE_CHUNKS_MAX } as Message),
    "chunkRange",
  ],
];

describe("bounds", () => {
  it.each(violations)("rejects %s", (_name, build, reason) => {
    expect(reasonOf(build())).toBe(reason);
  });

  it("the checked encoder refuses what the decoder rejects", () => {
    expect(() => encodeMessage({ ...request, operation: new Uint8Array(OPERATION_BYTES_MAX + 1) })).toThrow(
      AssertionError,
    );
    expect(() => encodeMessage({ ...samples.Prepare, seq: 2 ** 53 } as Message)).toThrow(AssertionError);
    expect(() => encodeMessage({ ...samples.Prepare, seq: -1 } as Message)).toThrow(AssertionError);
    expect(() => encodeMessage({ ...samples.Prepare, seq: 1.5 } as Message)).toThrow(AssertionError);
    expect(() => encodeMessage({ ...samples.Commit, digest: new Uint8Array(31) } as Message)).toThrow(
      AssertionError,
    );
  });
});

describe("properties", () => {
  const knownReasons = new Set<string>(DECODE_REASONS);

  /** Accepted input must be canonical: it re-encodes to exactly the same bytes. */
  function checkDecode(bytes: Uint8Array): void {
    const result = decodeMessage(bytes);
    if (result.ok) expect(encodeMessage(result.message)).toEqual(bytes);
    else expect(knownReasons.has(result.reason)).toBe(true);
  }

  it("random bytes never throw and are rejected or canonical", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => checkDecode(bytes)),
      { numRuns: 2000 },
    );
  });

  it("random bytes behind a valid header never throw", () => {
    const header = fc.tuple(fc.constant(1), fc.integer({ min: 1, max: 11 }));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 512 }), ([version, tag], tail) =>
        checkDecode(Uint8Array.from([version, tag, ...tail])),
      ),
      { numRuns: 3000 },
    );
  });

  it("mutated encodings never throw and are rejected or canonical", () => {
    const encodings = Object.values(samples).map((message) => encodeMessage(message));
    const mutation = fc.record({
      which: fc.nat({ max: encodings.length - 1 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      cut: fc.option(fc.nat()),
    });
    fc.assert(
      fc.property(mutation, ({ which, flips, cut }) => {
        const original = encodings[which]!;
        let bytes = Uint8Array.from(original);
        for (const [position, mask] of flips) bytes[position % bytes.length]! ^= mask;
        if (cut !== null) bytes = bytes.subarray(0, cut % (bytes.length + 1));
        checkDecode(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  const safe = fc.maxSafeNat();
  const digestArb = fc.uint8Array({ minLength: DIGEST_BYTES, maxLength: DIGEST_BYTES });
  const replicaId = fc.nat({ max: REPLICAS_MAX - 1 });
  const requestArb: fc.Arbitrary<Request> = fc.record({
    type: fc.constant("Request" as const),
    clientId: fc.nat({ max: 2 ** 32 - 1 }),
    timestamp: safe,
    operation: fc.uint8Array({ maxLength: 64 }),
    auth: fc.nat({ max: REPLICAS_MAX }).map((count) => filledBytes(count * MAC_BYTES, count)),
  });
  const prePrepareArb: fc.Arbitrary<PrePrepare> = fc.record({
    type: fc.constant("PrePrepare" as const),
    view: safe,
    seq: safe,
    digest: digestArb,
    requests: fc.array(requestArb, { maxLength: 4 }),
  });
  const entryArb = fc.record({ seq: safe, view: safe, digest: digestArb });
  const viewChangeArb: fc.Arbitrary<ViewChange> = fc.record({
    type: fc.constant("ViewChange" as const),
    newView: safe,
    stableSeq: safe,
    checkpoints: fc.array(fc.record({ seq: safe, stateDigest: digestArb }), { maxLength: 3 }),
    prepared: fc.array(entryArb, { maxLength: 3 }),
    prePrepared: fc.array(entryArb, { maxLength: 3 }),
    batches: fc.array(fc.record({ digest: digestArb, requests: fc.array(requestArb, { maxLength: 2 }) }), {
      maxLength: 2,
    }),
    replicaId,
    signature: fc.uint8Array({ minLength: SIGNATURE_BYTES, maxLength: SIGNATURE_BYTES }),
  });
  const messageArb: fc.Arbitrary<Message> = fc.oneof(
    requestArb,
    prePrepareArb,
    viewChangeArb,
    fc.record({
      type: fc.constant("NewView" as const),
      view: safe,
      viewChanges: fc.array(viewChangeArb, { maxLength: 2 }),
      prePrepares: fc.array(prePrepareArb, { maxLength: 2 }),
      replicaId,
      signature: fc
        .constantFrom(0, SIGNATURE_BYTES)
        .chain((length) => fc.uint8Array({ minLength: length, maxLength: length })),
    }),
    fc.record({
      type: fc.constantFrom("Prepare" as const, "Commit" as const),
      view: safe,
      seq: safe,
      digest: digestArb,
      replicaId,
    }),
    fc.record({
      type: fc.constant("Reply" as const),
      view: safe,
      timestamp: safe,
      clientId: fc.nat({ max: 2 ** 32 - 1 }),
      replicaId,
      result: fc.uint8Array({ maxLength: 64 }),
    }),
    fc.record({
      type: fc.constant("Status" as const),
      view: safe,
      viewActive: fc.boolean(),
      lastExecutedSeq: safe,
      stableSeq: safe,
      replicaId,
    }),
  );

  it("random valid messages round-trip", () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const bytes = encodeMessage(message);
        expect(bytes.length).toBe(encodedSize(message));
        expect(decodeOk(bytes)).toEqual(message);
      }),
      { numRuns: 1000 },
    );
  });
});
