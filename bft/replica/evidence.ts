/**
 * Solid evidence that a replica is faulty (paper section 3.4: on-demand migration "can also happen
 * when replicas have collected solid evidence that one or more replicas are faulty, such as a
 * lying primary"). Pure: a proof in, a verdict out; the replica core keeps the replay state.
 *
 * What counts as proof, and why. PRE-PREPAREs are MAC'd, so two conflicting ones prove nothing to
 * a third party, and signing them would cost every request. A NEW-VIEW is rare and now signed by
 * its primary's node, and it carries the signed VIEW-CHANGEs it was derived from. A correct
 * primary sends a NEW-VIEW only with 2f+1 well-formed VIEW-CHANGEs for its view from distinct
 * replicas and with exactly the PRE-PREPAREs the deterministic new-view decision (new-view.ts)
 * gives on them, so a signed NEW-VIEW that breaks any of these is a lie anyone can check alone:
 * the signature under the roster key of the node that runs the primary's id, then the same checks
 * Replica.verifyNewView makes. The enclosed VIEW-CHANGEs' own signatures play no part: the primary
 * signed them into its NEW-VIEW, and replica keys move with migration, so whether one verified
 * under the key its id had then cannot be judged later.
 *
 * Not proof here: two different signed NEW-VIEWs (or VIEW-CHANGEs) for one view from one replica.
 * Replicas restart without memory (api.ts), so a correct replica that crashed can sign twice.
 *
 * A NEW-VIEW is bound to its node through the current membership: the verdict holds only while
 * the node that signed it still runs the id (the offence belongs to that node). The roster key
 * outlives a node's sanitization, so a Byzantine node could sign a lie for a far future view and
 * serve it later against its own sanitized return to the same id; the replica core rejects proofs
 * for views at or below the one in which the id last moved, which stops replays of real proofs,
 * and the rest costs at most one extra on-demand round.
 */
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { SIGNATURE_BYTES } from "../limits.js";
import type { Evidence, NewView } from "../messages.js";
import { newViewSignedBytes } from "../migration/index.js";
import { type BatchBody, decideNewView, type NewViewDecision } from "./new-view.js";
import { primaryOf, quorumOf } from "./quorum.js";
import { type ViewChangeLimits, viewChangeProblem } from "./view-change.js";

/** How a NEW-VIEW departs from what its primary must send. */
export type NewViewFault =
  /** A VIEW-CHANGE for another view. */
  | "viewChangeView"
  /** Two VIEW-CHANGEs from one replica. */
  | "viewChangeSenderRepeated"
  /** A VIEW-CHANGE malformed for its sender's watermarks (viewChangeProblem). */
  | "viewChangeMalformed"
  /** Fewer than 2f+1 VIEW-CHANGEs. */
  | "viewChangeCount"
  /** The VIEW-CHANGEs do not decide the view: a correct primary waits for more. */
  | "undecided"
  /** The PRE-PREPAREs differ from the decision (a batch dropped, added or changed, or another checkpoint). */
  | "prePrepares";

export interface NewViewRules {
  readonly f: number;
  readonly limits: ViewChangeLimits;
  /** Digest of a batch body, as the replica core computes it (proposalDigest). */
  readonly batchDigest: (body: BatchBody) => Uint8Array;
}

export type NewViewCheck =
  | { readonly ok: true; readonly decision: NewViewDecision }
  | { readonly ok: false; readonly fault: NewViewFault };

/** The rules of Replica.verifyNewView, naming the one a NEW-VIEW breaks. Never throws on peer input. */
export function checkNewView(message: NewView, rules: NewViewRules): NewViewCheck {
  const senders = new Set<number>();
  for (const viewChange of message.viewChanges) {
    if (viewChange.newView !== message.view) return { ok: false, fault: "viewChangeView" };
    if (senders.has(viewChange.replicaId)) return { ok: false, fault: "viewChangeSenderRepeated" };
    if (viewChangeProblem(viewChange, rules.limits) !== null)
      return { ok: false, fault: "viewChangeMalformed" };
    senders.add(viewChange.replicaId);
  }
  if (senders.size < quorumOf(rules.f)) return { ok: false, fault: "viewChangeCount" };
  const decision = decideNewView({
    view: message.view,
    f: rules.f,
    logWindowSeqs: rules.limits.logWindowSeqs,
    viewChanges: message.viewChanges,
    batchDigest: rules.batchDigest,
  });
  if (decision === null) return { ok: false, fault: "undecided" };
  if (decision.batches.length !== message.prePrepares.length) return { ok: false, fault: "prePrepares" };
  const matches = decision.batches.every((batch, index) => {
    const prePrepare = message.prePrepares[index]!;
    return (
      prePrepare.view === message.view &&
      prePrepare.seq === batch.seq &&
      bytesEqual(prePrepare.digest, batch.digest)
    );
  });
  return matches ? { ok: true, decision } : { ok: false, fault: "prePrepares" };
}

/** Why a proof is refused. */
export type EvidenceRejection =
  /** The NEW-VIEW's author is not the primary of its view. */
  | "notPrimary"
  /** Another node runs the id now (or the proof names another node than the one that runs it). */
  | "offenderMoved"
  /** The offender's node is not in the roster. */
  | "unknownNode"
  /** The NEW-VIEW's signature does not verify under the offender node's roster key. */
  | "badSignature"
  /** The NEW-VIEW is what a correct primary sends: no proof of anything. */
  | "noFault";

export type EvidenceVerdict =
  | {
      readonly ok: true;
      readonly offenderId: number;
      readonly offenderNodeId: number;
      readonly fault: NewViewFault;
    }
  | { readonly ok: false; readonly reason: EvidenceRejection };

export interface EvidenceContext extends NewViewRules {
  /** The node running a logical replica id now (the replicated membership). */
  nodeOf(replicaId: number): number;
  /** A node's coprocessor key from the CM-provisioned roster, undefined for an unknown node. */
  publicKeyOf(nodeId: number): Uint8Array | undefined;
  /** Ed25519 verification. */
  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * Checks a proof from scratch, cheapest checks first: who the offender is and that its node still
 * runs it, the signature (so nothing a Byzantine accuser assembled from parts of valid messages
 * passes: the signature covers every field the decision reads), then the fault itself.
 */
export function verifyEvidence(evidence: Evidence, context: EvidenceContext): EvidenceVerdict {
  const newView = evidence.newView;
  const replicaCount = context.limits.replicaCount;
  const offenderId = newView.replicaId;
  if (offenderId >= replicaCount || offenderId !== primaryOf(newView.view, replicaCount))
    return { ok: false, reason: "notPrimary" };
  if (context.nodeOf(offenderId) !== evidence.offenderNodeId) return { ok: false, reason: "offenderMoved" };
  const publicKey = context.publicKeyOf(evidence.offenderNodeId);
  if (publicKey === undefined) return { ok: false, reason: "unknownNode" };
  if (newView.signature.length !== SIGNATURE_BYTES) return { ok: false, reason: "badSignature" };
  const { type: _type, signature, ...fields } = newView;
  if (!context.verify(publicKey, newViewSignedBytes(fields), signature))
    return { ok: false, reason: "badSignature" };
  const check = checkNewView(newView, context);
  if (check.ok) return { ok: false, reason: "noFault" };
  assert(offenderId < replicaCount, "the offender is a replica id");
  return { ok: true, offenderId, offenderNodeId: evidence.offenderNodeId, fault: check.fault };
}
