/**
 * The signed key exchange (paper section 3.1, "the standby node then initiates a key exchange with
 * all active replicas"; section 2, key exchange messages are signed, all other traffic is MACed).
 * One table per node, shared by the standby core and the replica core the node later runs (a
 * promoted target keeps its keys). Pure: key pairs and the X25519/HKDF math come from the injected
 * KeyAgreement; results are effects (`send`, and `peerKey` for the host's SessionKeyStore).
 *
 *   initiator A                                      responder B
 *   KEY-EXCHANGE(A, c_A, to B, peerCounter 0, a) ─▶  verify; c_A above every initiation B saw from A
 *                                                   fresh b; K = HKDF(X25519(b, a), A, c_A, a, B, c_B, b)
 *                                                ◀─ KEY-EXCHANGE(B, c_B, to A, peerCounter c_A, b)
 *   verify; answers our pending initiation;
 *   K = HKDF(X25519(a, b), same info)
 *
 * Counters are the sender's coprocessor counter when it started exchanging (registration l for a
 * standby, a fresh increment at each replica boot): they only grow, so an initiation below the
 * highest seen from its node is stale, an identical one is a replay (answered again, idempotent:
 * the first answer may have been lost), and a different key under the same counter is rejected.
 * An answer must name our pending initiation's counter and us. Initiations are re-sent (same key)
 * by `maintain` until answered.
 *
 * Both ends of a pair may initiate at once (two replicas booting). The lower node id's initiation
 * wins: the higher node answers it and abandons its own, the lower one drops the higher one's.
 *
 * Trust: a node's signing key comes from the CM-provisioned roster (as for JOIN-REQUEST), never
 * from the message. Memory is bounded by the roster: state is kept only for roster nodes.
 */
import { assert } from "../assert.js";
import { bytesEqual } from "../bytes.js";
import { type KeyAgreement, type KeyAgreementKeyPair, PUBLIC_KEY_BYTES } from "../coprocessor/index.js";
import type { KeyExchange, Principal } from "../messages.js";
import type { RosterEntry } from "./join-registry.js";
import { KEY_AGREEMENT_KEY_BYTES, NODES_MAX } from "./limits.js";
import { keyExchangeKeyInfo, keyExchangeSignedBytes } from "./signing.js";

export interface KeyExchangeConfig {
  readonly nodeId: number;
  /** This node's coprocessor counter for its exchanges: at least 1, above any it used before. */
  readonly counter: number;
  readonly roster: readonly RosterEntry[];
  /** 3f+1: replica ids in messages are below it. */
  readonly replicaCount: number;
}

export interface KeyExchangeDeps {
  /** The coprocessor's Ed25519 signature. */
  sign(bytes: Uint8Array): Uint8Array;
  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean;
  readonly keyAgreement: KeyAgreement;
}

/** What a host needs to give a core so it can exchange keys. */
export interface KeyExchangeSetup {
  readonly counter: number;
  readonly keyAgreement: KeyAgreement;
}

export type KeyExchangeEffect =
  | { readonly kind: "send"; readonly to: Principal; readonly message: KeyExchange }
  /** Install (or, with null, remove) the MAC key shared with `nodeId` in the host's SessionKeyStore. */
  | { readonly kind: "peerKey"; readonly nodeId: number; readonly key: Uint8Array | null };

/** A peer node to hold a key with, and how to reach it (its replica id when it is a member). */
export interface KeyPeer {
  readonly nodeId: number;
  readonly to: Principal;
}

export const KEY_EXCHANGE_DROPS = [
  /** Fields out of range, or the frame's sender and the message disagree. */
  "malformed",
  /** Addressed to another node, or claiming to come from us. */
  "misaddressed",
  "unknownNode",
  "badSignature",
  /** An initiation below the highest counter seen from that node. */
  "stale",
  /** An initiation or answer we already processed (an initiation gets its answer again). */
  "replay",
  /** Same counter as a processed initiation but another key: only a faulty node does that. */
  "conflicting",
  /** The peer's initiation crossed ours and ours wins (lower node id). */
  "collision",
  /** An answer to no pending initiation of ours, or to an older one. */
  "unexpectedAnswer",
  /** The peer's X25519 key gives no usable shared secret (low-order point). */
  "badKey",
] as const;
export type KeyExchangeDrop = (typeof KEY_EXCHANGE_DROPS)[number];

interface Pending {
  to: Principal;
  readonly pair: KeyAgreementKeyPair;
  message: KeyExchange;
}

interface Answered {
  readonly counter: number;
  readonly peerKey: Uint8Array;
  /** Our key-agreement key in the answer, to answer a replay identically. */
  readonly ownKey: Uint8Array;
}

export class KeyExchangeTable {
  readonly config: KeyExchangeConfig;
  readonly drops = Object.fromEntries(KEY_EXCHANGE_DROPS.map((reason) => [reason, 0])) as Record<
    KeyExchangeDrop,
    number
  >;
  readonly #deps: KeyExchangeDeps;
  readonly #roster = new Map<number, Uint8Array>();
  /** Our initiations not yet answered, by peer node. */
  readonly #pending = new Map<number, Pending>();
  /** The latest initiation we answered, by initiating node (its counter bounds what comes next). */
  readonly #answered = new Map<number, Answered>();
  /**
   * Each finished initiation of ours: the peer's counter and key in its answer (to tell a replayed
   * answer, and an initiation the peer abandoned when it answered ours).
   */
  readonly #completed = new Map<number, { readonly counter: number; readonly peerKey: Uint8Array }>();
  /** Nodes we currently hold a MAC key with. */
  readonly #keyed = new Set<number>();

  constructor(config: KeyExchangeConfig, deps: KeyExchangeDeps) {
    assert(Number.isInteger(config.nodeId) && config.nodeId >= 0 && config.nodeId < NODES_MAX, "node id");
    assert(Number.isSafeInteger(config.counter) && config.counter >= 1, "key exchange counter is positive");
    assert(config.replicaCount >= 4, "3f+1 replicas");
    for (const entry of config.roster) {
      assert(entry.publicKey.length === PUBLIC_KEY_BYTES, "roster key is a raw Ed25519 key");
      this.#roster.set(entry.nodeId, entry.publicKey);
    }
    this.config = config;
    this.#deps = deps;
  }

  get counter(): number {
    return this.config.counter;
  }

  hasKey(nodeId: number): boolean {
    return this.#keyed.has(nodeId);
  }

  /**
   * Initiates with every peer we hold no key with and are not already waiting for, and re-sends
   * (same key) the initiations still pending; called at start, on membership changes and
   * periodically. `replicaId` is ours now (null on a standby).
   */
  maintain(peers: readonly KeyPeer[], replicaId: number | null): KeyExchangeEffect[] {
    const effects: KeyExchangeEffect[] = [];
    for (const peer of peers) {
      if (peer.nodeId === this.config.nodeId || !this.#roster.has(peer.nodeId)) continue;
      if (this.#keyed.has(peer.nodeId)) continue;
      let pending = this.#pending.get(peer.nodeId);
      if (pending === undefined) {
        const pair = this.#deps.keyAgreement.generateKeyPair();
        assert(pair.publicKey.length === KEY_AGREEMENT_KEY_BYTES, "X25519 public key is 32 bytes");
        pending = { to: peer.to, pair, message: this.#signed(peer.nodeId, 0, pair.publicKey, replicaId) };
        this.#pending.set(peer.nodeId, pending);
      } else {
        pending.to = peer.to;
        // Promoted since it was signed: the frame's sender is now our replica id.
        if (pending.message.replicaId !== replicaId)
          pending.message = this.#signed(peer.nodeId, 0, pending.pair.publicKey, replicaId);
      }
      effects.push({ kind: "send", to: pending.to, message: pending.message });
    }
    return effects;
  }

  /** Drops the key shared with `nodeId` (it re-joined after sanitization, or retired). */
  forget(nodeId: number): KeyExchangeEffect[] {
    this.#pending.delete(nodeId);
    this.#completed.delete(nodeId);
    if (!this.#keyed.delete(nodeId)) return [];
    return [{ kind: "peerKey", nodeId, key: null }];
  }

  /** A KEY-EXCHANGE whose frame the wire opened from `from`. `replicaId` is ours now. */
  onMessage(from: Principal, message: KeyExchange, replicaId: number | null): KeyExchangeEffect[] {
    const problem = this.#problem(from, message);
    if (problem !== undefined) return this.#drop(problem);
    return message.peerCounter === 0 ? this.#onInitiation(from, message, replicaId) : this.#onAnswer(message);
  }

  #problem(from: Principal, message: KeyExchange): KeyExchangeDrop | undefined {
    const senderMatches =
      from.kind === "node"
        ? from.id === message.nodeId && message.replicaId === null
        : from.kind === "replica" && message.replicaId === from.id;
    if (
      !senderMatches ||
      !Number.isSafeInteger(message.counter) ||
      message.counter < 1 ||
      !Number.isSafeInteger(message.peerCounter) ||
      message.peerCounter < 0 ||
      (message.replicaId !== null &&
        !(
          Number.isInteger(message.replicaId) &&
          message.replicaId >= 0 &&
          message.replicaId < this.config.replicaCount
        )) ||
      message.keyAgreementPublicKey.length !== KEY_AGREEMENT_KEY_BYTES
    )
      return "malformed";
    if (message.peerNodeId !== this.config.nodeId || message.nodeId === this.config.nodeId)
      return "misaddressed";
    const signer = this.#roster.get(message.nodeId);
    if (signer === undefined) return "unknownNode";
    const { type: _type, signature, ...fields } = message;
    if (!this.#deps.verify(signer, keyExchangeSignedBytes(fields), signature)) return "badSignature";
    return undefined;
  }

  #onInitiation(from: Principal, message: KeyExchange, replicaId: number | null): KeyExchangeEffect[] {
    const peer = message.nodeId;
    const answered = this.#answered.get(peer);
    if (answered !== undefined && message.counter < answered.counter) return this.#drop("stale");
    // The peer answered our initiation under this counter, so it abandoned its own (crossed
    // initiations): that one may still arrive, late, and must not replace the key.
    const completed = this.#completed.get(peer);
    if (completed !== undefined && message.counter <= completed.counter) return this.#drop("stale");
    if (answered !== undefined && message.counter === answered.counter) {
      if (!bytesEqual(answered.peerKey, message.keyAgreementPublicKey)) return this.#drop("conflicting");
      // Our answer may have been lost: send the same key again (no new key, nothing installed).
      this.drops.replay++;
      const answer = this.#signed(peer, message.counter, answered.ownKey, replicaId);
      return [{ kind: "send", to: from, message: answer }];
    }
    const pending = this.#pending.get(peer);
    if (pending !== undefined && this.config.nodeId < peer) {
      // Ours wins. The peer is up and exchanging now, so send ours at once rather than at the
      // next re-send: our earlier copy may have reached it before it could answer.
      this.drops.collision++;
      if (pending.message.replicaId !== replicaId)
        pending.message = this.#signed(peer, 0, pending.pair.publicKey, replicaId);
      return [{ kind: "send", to: from, message: pending.message }];
    }
    const pair = this.#deps.keyAgreement.generateKeyPair();
    const info = keyExchangeKeyInfo(
      { nodeId: peer, counter: message.counter, publicKey: message.keyAgreementPublicKey },
      { nodeId: this.config.nodeId, counter: this.config.counter, publicKey: pair.publicKey },
    );
    const key = this.#deps.keyAgreement.deriveKey(pair.privateKey, message.keyAgreementPublicKey, info);
    if (key === null) return this.#drop("badKey");
    this.#pending.delete(peer);
    this.#completed.delete(peer);
    this.#answered.set(peer, {
      counter: message.counter,
      peerKey: Uint8Array.from(message.keyAgreementPublicKey),
      ownKey: pair.publicKey,
    });
    this.#keyed.add(peer);
    const answer = this.#signed(peer, message.counter, pair.publicKey, replicaId);
    return [
      { kind: "peerKey", nodeId: peer, key },
      { kind: "send", to: from, message: answer },
    ];
  }

  #onAnswer(message: KeyExchange): KeyExchangeEffect[] {
    const peer = message.nodeId;
    const pending = this.#pending.get(peer);
    if (pending === undefined || message.peerCounter !== this.config.counter) {
      const completed = this.#completed.get(peer);
      const replayed =
        completed !== undefined &&
        message.peerCounter === this.config.counter &&
        bytesEqual(completed.peerKey, message.keyAgreementPublicKey);
      return this.#drop(replayed ? "replay" : "unexpectedAnswer");
    }
    const info = keyExchangeKeyInfo(
      { nodeId: this.config.nodeId, counter: this.config.counter, publicKey: pending.pair.publicKey },
      { nodeId: peer, counter: message.counter, publicKey: message.keyAgreementPublicKey },
    );
    const key = this.#deps.keyAgreement.deriveKey(
      pending.pair.privateKey,
      message.keyAgreementPublicKey,
      info,
    );
    if (key === null) return this.#drop("badKey");
    this.#pending.delete(peer);
    this.#completed.set(peer, {
      counter: message.counter,
      peerKey: Uint8Array.from(message.keyAgreementPublicKey),
    });
    this.#keyed.add(peer);
    return [{ kind: "peerKey", nodeId: peer, key }];
  }

  #signed(
    peerNodeId: number,
    peerCounter: number,
    publicKey: Uint8Array,
    replicaId: number | null,
  ): KeyExchange {
    const fields = {
      nodeId: this.config.nodeId,
      replicaId,
      counter: this.config.counter,
      peerNodeId,
      peerCounter,
      keyAgreementPublicKey: publicKey,
    };
    return { type: "KeyExchange", ...fields, signature: this.#deps.sign(keyExchangeSignedBytes(fields)) };
  }

  #drop(reason: KeyExchangeDrop): KeyExchangeEffect[] {
    this.drops[reason]++;
    return [];
  }
}
