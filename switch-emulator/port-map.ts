/**
 * Maps a port (node, NIC) to the host-side veth that carries it. Docker gives each endpoint a MAC
 * address; inside the container's network namespace the interface with that MAC has an `iflink`,
 * the ifindex of its veth peer on the host. Both are read from sysfs (the container's own sysfs is
 * visible at /proc/<pid>/root/sys), so no tool has to exist inside the node image.
 */
import { readdir, readFile } from "node:fs/promises";
import type Docker from "dockerode";
import type { Bindings } from "./rules.js";
import { type PortDefinition, portKey } from "./state.js";

export interface InterfaceInfo {
  readonly name: string;
  readonly ifindex: number;
  readonly iflink: number;
  readonly mac: string;
}

/** The host veth peer of the container interface that has `mac`, or null. */
export function matchHostVeth(options: {
  containerInterfaces: readonly InterfaceInfo[];
  hostInterfaces: readonly InterfaceInfo[];
  mac: string;
}): string | null {
  const inside = options.containerInterfaces.find(
    (nic) => nic.mac.toLowerCase() === options.mac.toLowerCase(),
  );
  if (inside === undefined) return null;
  const peer = options.hostInterfaces.find((nic) => nic.ifindex === inside.iflink);
  return peer?.name ?? null;
}

export async function readInterfaces(sysClassNet: string): Promise<InterfaceInfo[]> {
  const names = await readdir(sysClassNet).catch(() => [] as string[]);
  const read = (name: string, file: string) =>
    readFile(`${sysClassNet}/${name}/${file}`, "utf8").then((text) => text.trim());
  const out = await Promise.all(
    names.map(async (name) => {
      try {
        const [ifindex, iflink, mac] = await Promise.all([
          read(name, "ifindex"),
          read(name, "iflink"),
          read(name, "address"),
        ]);
        return { name, ifindex: Number(ifindex), iflink: Number(iflink), mac };
      } catch {
        return null;
      }
    }),
  );
  return out.filter((nic): nic is InterfaceInfo => nic !== null);
}

export interface PortResolver {
  resolve(ports: readonly PortDefinition[]): Promise<Bindings>;
}

interface ContainerView {
  readonly running: boolean;
  readonly pid: number;
  readonly macByNetwork: Readonly<Record<string, string>>;
}

async function inspectContainer(docker: Docker, name: string): Promise<ContainerView | null> {
  try {
    const info = await docker.getContainer(name).inspect();
    const macByNetwork: Record<string, string> = {};
    for (const [network, endpoint] of Object.entries(info.NetworkSettings.Networks ?? {})) {
      macByNetwork[network] = endpoint.MacAddress;
    }
    return { running: info.State.Running, pid: info.State.Pid, macByNetwork };
  } catch {
    return null;
  }
}

export class DockerPortResolver implements PortResolver {
  readonly #docker: Docker;

  constructor(docker: Docker) {
    this.#docker = docker;
  }

  async resolve(ports: readonly PortDefinition[]): Promise<Bindings> {
    const hostInterfaces = await readInterfaces("/sys/class/net");
    const containers = [...new Set(ports.map((port) => port.container))];
    const views = new Map<string, { view: ContainerView | null; interfaces: InterfaceInfo[] }>();
    await Promise.all(
      containers.map(async (container) => {
        const view = await inspectContainer(this.#docker, container);
        const interfaces =
          view?.running && view.pid > 0 ? await readInterfaces(`/proc/${view.pid}/root/sys/class/net`) : [];
        views.set(container, { view, interfaces });
      }),
    );
    const bindings: Record<string, string | null> = {};
    for (const port of ports) {
      const entry = views.get(port.container);
      const mac = entry?.view?.macByNetwork[port.network];
      bindings[portKey(port)] =
        entry === undefined || mac === undefined
          ? null
          : matchHostVeth({ containerInterfaces: entry.interfaces, hostInterfaces, mac });
    }
    return bindings;
  }
}
