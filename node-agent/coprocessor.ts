/**
 * The node's secure coprocessor, emulated over a per-node Docker volume that survives reboot and
 * disk swap. The Ed25519 key pair is generated here, on the node, on first boot; the private key is
 * kept in `<volume>/secret/` (mode 0600) and no command or API ever reads it back: it lives in this
 * module's private fields only. The counter (the `l` of JOIN-REQUEST) is written with the
 * write-temp, fsync, rename, fsync-directory sequence before incrementCounter() returns, so a crash
 * at any point leaves either the old or the new value, never a torn one, and never goes backwards.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { assert } from "../bft/assert.js";
import { type AttestationQuote, Ed25519Coprocessor, ed25519RawPublicKey } from "../bft/coprocessor/index.js";
import { agentErrors } from "./errors.js";

const SECRET_DIRECTORY = "secret";
const PRIVATE_KEY_FILE = "ed25519.pem";
const PUBLIC_KEY_FILE = "public/ed25519.raw.hex";
const COUNTER_FILE = "counter";

function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Durable replace: the file holds either the old or the new content after any crash. */
function writeDurable(path: string, directory: string, content: string, mode: number): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, "w", mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  fsyncDirectory(directory);
}

function loadOrCreateKey(directory: string): KeyObject {
  const secretDirectory = join(directory, SECRET_DIRECTORY);
  const keyPath = join(secretDirectory, PRIVATE_KEY_FILE);
  if (existsSync(keyPath)) {
    try {
      return createPrivateKey(readFileSync(keyPath));
    } catch (error) {
      throw agentErrors.coprocessorCorrupt(`private key unreadable (${(error as Error).message})`);
    }
  }
  mkdirSync(secretDirectory, { recursive: true, mode: 0o700 });
  mkdirSync(join(directory, "public"), { recursive: true, mode: 0o755 });
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  writeDurable(keyPath, secretDirectory, pem, 0o600);
  const publicHex = Buffer.from(ed25519RawPublicKey(privateKey)).toString("hex");
  writeDurable(join(directory, PUBLIC_KEY_FILE), join(directory, "public"), `${publicHex}\n`, 0o644);
  return privateKey;
}

function loadCounter(directory: string): number {
  const path = join(directory, COUNTER_FILE);
  if (!existsSync(path)) return 0;
  const text = readFileSync(path, "utf8").trim();
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
    throw agentErrors.coprocessorCorrupt(`counter file holds "${text}"`);
  return value;
}

export class NodeCoprocessor extends Ed25519Coprocessor {
  readonly #directory: string;
  readonly #codeDigest: Uint8Array;
  #counter: number;

  private constructor(options: {
    directory: string;
    privateKey: KeyObject;
    counter: number;
    codeDigest: Uint8Array;
  }) {
    super(options.privateKey);
    this.#directory = options.directory;
    this.#counter = options.counter;
    this.#codeDigest = options.codeDigest;
  }

  /** Opens the coprocessor volume, generating the key pair on first boot. */
  static open(options: { directory: string; codeDigest: Uint8Array }): NodeCoprocessor {
    assert(options.codeDigest.length === 32, "code digest is a SHA-256");
    mkdirSync(options.directory, { recursive: true });
    const privateKey = loadOrCreateKey(options.directory);
    const counter = loadCounter(options.directory);
    return new NodeCoprocessor({
      directory: options.directory,
      privateKey,
      counter,
      codeDigest: options.codeDigest,
    });
  }

  counter(): number {
    return this.#counter;
  }

  incrementCounter(): number {
    const next = this.#counter + 1;
    assert(Number.isSafeInteger(next), "coprocessor counter stays a safe integer");
    writeDurable(join(this.#directory, COUNTER_FILE), this.#directory, `${next}\n`, 0o644);
    this.#counter = next;
    return next;
  }

  codeDigest(): Uint8Array {
    return Uint8Array.from(this.#codeDigest);
  }

  /** Never serialize the coprocessor: only its public parts may leave it. */
  toJSON(): object {
    return { publicKey: Buffer.from(this.publicKey()).toString("hex"), counter: this.#counter };
  }
}

/** A quote as JSON-safe hex fields, for commands and the controller. */
export interface QuoteJson {
  readonly nonce: string;
  readonly counter: number;
  readonly codeDigest: string;
  readonly publicKey: string;
  readonly signature: string;
}

export function quoteToJson(quote: AttestationQuote): QuoteJson {
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
  return {
    nonce: hex(quote.nonce),
    counter: quote.counter,
    codeDigest: hex(quote.codeDigest),
    publicKey: hex(quote.publicKey),
    signature: hex(quote.signature),
  };
}

export function quoteFromJson(json: QuoteJson): AttestationQuote {
  const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
  return {
    nonce: bytes(json.nonce),
    counter: json.counter,
    codeDigest: bytes(json.codeDigest),
    publicKey: bytes(json.publicKey),
    signature: bytes(json.signature),
  };
}
