/**
 * The check every receiver of a MEMBERSHIP-CERTIFICATE runs before applying it (client, standby,
 * replica): signed by a CM replica whose public key the receiver was provisioned with, and naming
 * exactly one node for each of the n replica ids, in ascending id order. Whether it is newer than
 * what the receiver holds is the receiver's own rule (it compares `seq`). See docs/migration.md,
 * "Membership certificates".
 */
import type { MembershipCertificate } from "../messages.js";
import { membershipCertificateSignedBytes } from "./signing.js";

export type Verify = (publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array) => boolean;

export function membershipCertificateValid(
  message: MembershipCertificate,
  n: number,
  cmPublicKeys: readonly Uint8Array[],
  verify: Verify,
): boolean {
  const key = cmPublicKeys[message.cmId];
  if (key === undefined || message.members.length !== n) return false;
  if (!message.members.every((member, index) => member.replicaId === index)) return false;
  const nodeIds = new Set(message.members.map((member) => member.nodeId));
  if (nodeIds.size !== n) return false;
  const { type: _type, signature, ...fields } = message;
  return verify(key, membershipCertificateSignedBytes(fields), signature);
}
