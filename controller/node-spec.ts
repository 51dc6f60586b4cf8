/**
 * A node's container as plain data, made with a builder in the testcontainers style: each `withX`
 * sets one part and returns the builder; `build()` validates and returns the spec. The same spec
 * recreates the node on a disk swap, so the coprocessor volume, addresses and name stay the same.
 */
import { assert } from "../bft/assert.js";
import type { NodeResources } from "./config.js";

export interface NicAttachment {
  readonly network: string;
  readonly ipv4: string;
}

export interface BindMount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface ContainerSpec {
  readonly name: string;
  readonly image: string;
  readonly hostname: string;
  readonly env: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly binds: readonly BindMount[];
  readonly volumes: ReadonlyArray<{ readonly name: string; readonly target: string }>;
  readonly tmpfs: Readonly<Record<string, string>>;
  readonly resources: NodeResources;
  /** In NIC order: nic1, nic2, nic3. */
  readonly nics: readonly NicAttachment[];
}

export class NodeSpecBuilder {
  #name: string;
  #image = "";
  #env: Record<string, string> = {};
  #labels: Record<string, string> = {};
  #binds: BindMount[] = [];
  #volumes: Array<{ name: string; target: string }> = [];
  #tmpfs: Record<string, string> = {};
  #resources: NodeResources | null = null;
  #nics: NicAttachment[] = [];

  constructor(name: string) {
    this.#name = name;
  }

  withImage(image: string): this {
    this.#image = image;
    return this;
  }

  withEnv(env: Record<string, string>): this {
    this.#env = { ...this.#env, ...env };
    return this;
  }

  withLabels(labels: Record<string, string>): this {
    this.#labels = { ...this.#labels, ...labels };
    return this;
  }

  /** NIC1, NIC2, NIC3 in that order, each a network and a static address. */
  withNics(nics: readonly NicAttachment[]): this {
    this.#nics = [...nics];
    return this;
  }

  /** The ROM: the built code, always read-only. */
  withCodeMount(source: string): this {
    this.#binds.push({ source, target: "/rom", readOnly: true });
    return this;
  }

  withCoprocessorVolume(volume: string): this {
    this.#volumes.push({ name: volume, target: "/coproc" });
    return this;
  }

  /** Host key and the controller's public key for the SSH console. */
  withKeysMount(source: string): this {
    this.#binds.push({ source, target: "/etc/mbft", readOnly: true });
    return this;
  }

  /** Controller-owned hardware flags (damage), read-only inside the node. */
  withHardwareMount(source: string): this {
    this.#binds.push({ source, target: "/hw", readOnly: true });
    return this;
  }

  /** Volatile memory: a tmpfs that a reboot clears. */
  withMemoryTmpfs(target: string, sizeBytes: number): this {
    this.#tmpfs[target] = `rw,size=${sizeBytes},mode=1777`;
    return this;
  }

  withResources(resources: NodeResources): this {
    this.#resources = resources;
    return this;
  }

  build(): ContainerSpec {
    assert(this.#image !== "", "node spec needs an image");
    assert(this.#nics.length === 3, "a node has exactly three NICs");
    assert(this.#resources !== null, "node spec needs resource limits");
    assert(
      this.#binds.some((bind) => bind.target === "/rom" && bind.readOnly),
      "the code mount is read-only",
    );
    return {
      name: this.#name,
      image: this.#image,
      hostname: this.#name,
      env: { ...this.#env },
      labels: { ...this.#labels },
      binds: [...this.#binds],
      volumes: [...this.#volumes],
      tmpfs: { ...this.#tmpfs },
      resources: this.#resources,
      nics: [...this.#nics],
    };
  }
}
