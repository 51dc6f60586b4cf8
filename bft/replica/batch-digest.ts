/**
 * The digest a PRE-PREPARE names: SHA-256 over the request count and the request digests in
 * order (PBFT section 4.2 with batching, section 6.1). The count prefix makes the encoding
 * unambiguous; the empty batch is the null request of a view change.
 */
import { assert } from "../assert.js";
import { DIGEST_BYTES, REQUEST_BATCH_MAX } from "../limits.js";
import type { OrderedSpecial, Request } from "../messages.js";
import { orderedSpecialBytes } from "../migration/index.js";
import type { CoreDeps } from "./api.js";

const BATCH_DIGEST_TAG = 0x42; // "B": keeps batch digests apart from other digest domains.
const SPECIAL_DIGEST_TAG = 0x53; // "S": a special entry never digests like a batch.

export function batchDigest(
  requestDigests: readonly Uint8Array[],
  deps: Pick<CoreDeps, "digest">,
): Uint8Array {
  assert(requestDigests.length <= REQUEST_BATCH_MAX, "batch within REQUEST_BATCH_MAX");
  const buffer = new Uint8Array(5 + requestDigests.length * DIGEST_BYTES);
  buffer[0] = BATCH_DIGEST_TAG;
  new DataView(buffer.buffer).setUint32(1, requestDigests.length);
  let offset = 5;
  for (const digest of requestDigests) {
    assert(digest.length === DIGEST_BYTES, "request digest length");
    buffer.set(digest, offset);
    offset += DIGEST_BYTES;
  }
  const out = deps.digest(buffer);
  assert(out.length === DIGEST_BYTES, "batch digest length");
  return out;
}

export function batchDigestOfRequests(
  requests: readonly Request[],
  deps: Pick<CoreDeps, "digest" | "requestDigest">,
): Uint8Array {
  assert(requests.length <= REQUEST_BATCH_MAX, "batch within REQUEST_BATCH_MAX");
  return batchDigest(
    requests.map((request) => deps.requestDigest(request)),
    deps,
  );
}

/** Digest of a special ordered entry (MIGRATION-REQUEST, JOIN-REQUEST, LEAVE-REQUEST). */
export function specialDigest(special: OrderedSpecial, deps: Pick<CoreDeps, "digest">): Uint8Array {
  const body = orderedSpecialBytes(special);
  const buffer = new Uint8Array(1 + body.length);
  buffer[0] = SPECIAL_DIGEST_TAG;
  buffer.set(body, 1);
  const out = deps.digest(buffer);
  assert(out.length === DIGEST_BYTES, "special digest length");
  return out;
}

/** The digest a PRE-PREPARE (or a VIEW-CHANGE batch) names: of its special entry, else of its requests. */
export function proposalDigest(
  proposal: { readonly requests: readonly Request[]; readonly special?: OrderedSpecial | undefined },
  deps: Pick<CoreDeps, "digest" | "requestDigest">,
): Uint8Array {
  if (proposal.special === undefined) return batchDigestOfRequests(proposal.requests, deps);
  return specialDigest(proposal.special, deps);
}
