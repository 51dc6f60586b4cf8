/**
 * The digest a PRE-PREPARE names: SHA-256 over the request count and the request digests in
 * order (PBFT section 4.2 with batching, section 6.1). The count prefix makes the encoding
 * unambiguous; the empty batch is the null request of a view change.
 */
import { assert } from "../assert.js";
import { DIGEST_BYTES, REQUEST_BATCH_MAX } from "../limits.js";
import type { Request } from "../messages.js";
import type { CoreDeps } from "./api.js";

const BATCH_DIGEST_TAG = 0x42; // "B": keeps batch digests apart from other digest domains.

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
