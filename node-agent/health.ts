/**
 * Node health through systeminformation, with node:os and statfs fallbacks: the node image has no
 * shell and no `df`, so the parts of systeminformation that spawn commands come back empty there.
 * A node whose hardware the controller marked damaged fails the probe until it is repaired.
 */
import { existsSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { cpus, loadavg, networkInterfaces, totalmem } from "node:os";
import { join } from "node:path";
import si from "systeminformation";

export interface NicHealth {
  readonly name: string;
  readonly address: string;
  readonly mac: string;
}

export interface Health {
  readonly healthy: boolean;
  readonly hardwareDamaged: boolean;
  readonly cpuLoadPercent: number;
  readonly cpuCount: number;
  readonly memoryBytesTotal: number;
  readonly memoryBytesUsed: number;
  readonly diskBytesTotal: number;
  readonly diskBytesFree: number;
  readonly nics: readonly NicHealth[];
  readonly uptimeSeconds: number;
}

export function hardwareDamaged(hardwareDirectory: string): boolean {
  return existsSync(join(hardwareDirectory, "damaged"));
}

async function disk(path: string): Promise<{ total: number; free: number }> {
  const sizes = await si.fsSize().catch(() => []);
  const root = sizes.find((entry) => entry.mount === "/");
  if (root !== undefined && root.size > 0) return { total: root.size, free: root.available };
  const stats = await statfs(path);
  return { total: stats.blocks * stats.bsize, free: stats.bavail * stats.bsize };
}

async function nics(): Promise<NicHealth[]> {
  const fromSi = await si.networkInterfaces().catch(() => []);
  const list = Array.isArray(fromSi) ? fromSi : [fromSi];
  const found = list
    .filter((nic) => nic.ip4 !== "" && !nic.internal)
    .map((nic) => ({ name: nic.iface, address: nic.ip4, mac: nic.mac }));
  if (found.length > 0) return found.sort((a, b) => a.name.localeCompare(b.name));
  const fallback: NicHealth[] = [];
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    for (const entry of addresses ?? []) {
      if (entry.family === "IPv4" && !entry.internal)
        fallback.push({ name, address: entry.address, mac: entry.mac });
    }
  }
  return fallback.sort((a, b) => a.name.localeCompare(b.name));
}

export async function probeHealth(options: { hardwareDirectory: string; diskPath: string }): Promise<Health> {
  const damaged = hardwareDamaged(options.hardwareDirectory);
  const [load, memory, diskSizes, nicList] = await Promise.all([
    si.currentLoad().catch(() => undefined),
    si.mem().catch(() => undefined),
    disk(options.diskPath),
    nics(),
  ]);
  const cpuCount = cpus().length;
  const memoryBytesTotal = memory !== undefined && memory.total > 0 ? memory.total : totalmem();
  return {
    healthy: !damaged,
    hardwareDamaged: damaged,
    cpuLoadPercent: Math.round(load?.currentLoad ?? ((loadavg()[0] ?? 0) * 100) / Math.max(1, cpuCount)),
    cpuCount,
    memoryBytesTotal,
    memoryBytesUsed: memory?.active ?? 0,
    diskBytesTotal: diskSizes.total,
    diskBytesFree: diskSizes.free,
    nics: nicList,
    uptimeSeconds: Math.round(process.uptime()),
  };
}
