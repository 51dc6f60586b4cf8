/**
 * `npm run testbed -- <command>`: the operator's CLI. Errors print as `error [CODE]: message` and a
 * hint, with the stack only under --debug.
 */
import Table from "cli-table3";
import { Command } from "commander";
import { ImageError } from "../images/index.js";
import { SwitchError } from "../switch-emulator/index.js";
import { agentShell } from "./agent-client.js";
import { defaultConfig, type TestbedConfig } from "./config.js";
import { TestbedError } from "./errors.js";
import { savedConfig, Testbed } from "./testbed.js";

interface GlobalOptions {
  name: string;
  debug: boolean;
}

const program = new Command().name("testbed").description("hardware-emulation testbed for migrate-bft");
program
  .option("--name <name>", "testbed name (prefixes every resource)", "mbft")
  .option("--debug", "print stack traces", false);

function globals(): GlobalOptions {
  return program.opts<GlobalOptions>();
}

async function open(config?: TestbedConfig): Promise<Testbed> {
  const name = globals().name;
  const resolved = config ?? (await savedConfig(name)) ?? defaultConfig({ name });
  return Testbed.open({
    config: resolved,
    onProgress: (event) =>
      console.error(`  [${(event.elapsedMs / 1000).toFixed(1)}s] ${event.step}: ${event.detail ?? ""}`),
  });
}

function fail(error: unknown): void {
  const typed = error instanceof TestbedError || error instanceof SwitchError || error instanceof ImageError;
  if (typed) console.error(`error [${error.code}]: ${error.message}\n  hint: ${error.hint}`);
  else console.error(`error [TESTBED_UNEXPECTED]: ${(error as Error).message}`);
  if (globals().debug) console.error(error);
  process.exitCode = 1;
}

function action<A extends unknown[]>(work: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await work(...args);
    } catch (error) {
      fail(error);
    }
  };
}

program
  .command("up")
  .description("bring the testbed up (idempotent; sweeps leftovers of a crashed run)")
  .option("--f <f>", "faults tolerated: 3f+1 active nodes", "1")
  .option("--standby <count>", "standby nodes", "2")
  .option("--subnet-prefix <a.b>", "first two octets of the three /24 subnets (a.b.1/2/3.0)", "10.77")
  .action(
    action(async (options: { f: string; standby: string; subnetPrefix: string }) => {
      const prefix = options.subnetPrefix;
      const config = defaultConfig({
        name: globals().name,
        f: Number(options.f),
        standby: Number(options.standby),
        subnets: { nic1: `${prefix}.1.0/24`, nic2: `${prefix}.2.0/24`, nic3: `${prefix}.3.0/24` },
      });
      const testbed = await open(config);
      const report = await testbed.up();
      console.log(
        `testbed ${config.name} ${report.reused ? "already up" : "up"} in ${report.elapsedMs} ms (run ${report.runId}, image ${report.imageTag})`,
      );
    }),
  );

program
  .command("down")
  .description("remove everything the testbed created (by label)")
  .action(
    action(async () => {
      const report = await (await open()).down();
      console.log(
        `removed ${report.containers} containers, ${report.networks} networks, ${report.volumes} volumes in ${report.elapsedMs} ms`,
      );
    }),
  );

program
  .command("status")
  .description("nodes, their containers and agents")
  .action(
    action(async () => {
      const testbed = await open();
      const table = new Table({
        head: ["node", "role", "container", "damaged", "nic1", "nic2", "nic3", "agent"],
      });
      for (const node of await testbed.status()) {
        const agent = node.agent as { bootId?: string; error?: string } | null;
        const agentText =
          agent === null
            ? "-"
            : agent.error !== undefined
              ? `error: ${agent.error}`
              : `boot ${agent.bootId?.slice(0, 8)}`;
        table.push([
          node.node,
          node.role,
          node.container,
          node.damaged ? "yes" : "no",
          node.addresses.nic1,
          node.addresses.nic2,
          node.addresses.nic3,
          agentText,
        ]);
      }
      console.log(table.toString());
    }),
  );

const node = program.command("node").description("power actions and console of one node");
const powerActions = {
  reboot: (testbed: Testbed, name: string) => testbed.reboot(name),
  "power-off": (testbed: Testbed, name: string) => testbed.powerOff(name),
  "power-on": (testbed: Testbed, name: string) => testbed.powerOn(name),
  "disk-swap": (testbed: Testbed, name: string) => testbed.diskSwap(name),
} as const;
for (const [verb, run] of Object.entries(powerActions)) {
  node.command(`${verb} <node>`).action(
    action(async (name: string) => {
      const result = await run(await open(), name);
      console.log(`${name}: ${verb} done in ${result.elapsedMs} ms`);
    }),
  );
}
node
  .command("damage <node>")
  .description("hardware damage: probes fail until repair")
  .action(
    action(async (name: string) => {
      await (await open()).damage(name);
      console.log(`${name}: hardware damaged`);
    }),
  );
node.command("repair <node>").action(
  action(async (name: string) => {
    await (await open()).repair(name);
    console.log(`${name}: repaired`);
  }),
);
node
  .command("exec <node> <command...>")
  .description("run one agent command (`help` lists them)")
  .action(
    action(async (name: string, words: string[]) => {
      const testbed = await open();
      const reply = await testbed.exec(name, words.join(" "));
      console.log(JSON.stringify(reply.value, null, 2));
      process.exitCode = reply.exitCode;
      testbed.stopFollowing();
    }),
  );
node
  .command("shell <node>")
  .description("interactive agent console over SSH on NIC3")
  .action(
    action(async (name: string) => {
      const testbed = await open();
      await agentShell(await testbed.endpoint(name), { input: process.stdin, output: process.stdout });
      process.stdin.pause();
    }),
  );

const sw = program.command("switch").description("the managed switch");
sw.command("show")
  .description("show interfaces status")
  .action(
    action(async () => {
      const testbed = await open();
      const table = new Table({
        head: [
          "port",
          "status",
          "veth",
          "rate",
          "partitions",
          "in pkts",
          "in bytes",
          "out pkts",
          "out bytes",
        ],
      });
      for (const port of await testbed.switch.show()) {
        const rate = port.rateMbit === null ? "auto" : `${port.rateMbit} Mbit/s`;
        table.push([
          port.port,
          port.status,
          port.veth ?? "-",
          rate,
          port.partitions.join(",") || "-",
          port.input.packets,
          port.input.bytes,
          port.output.packets,
          port.output.bytes,
        ]);
      }
      console.log(table.toString());
    }),
  );
sw.command("shutdown <port>").action(action(async (port: string) => (await open()).switch.shutdown(port)));
sw.command("no-shutdown <port>").action(
  action(async (port: string) => (await open()).switch.noShutdown(port)),
);
sw.command("rate <port> <rate>")
  .description("rate limit, e.g. 100mbit; `none` removes it")
  .action(action(async (port: string, rate: string) => (await open()).switch.rateLimit(port, rate)));
sw.command("partition <name> <groupA> <groupB>")
  .description("drop traffic between two comma-separated port groups")
  .action(
    action(async (name: string, groupA: string, groupB: string) =>
      (await open()).switch.partition({ name, groupA: groupA.split(","), groupB: groupB.split(",") }),
    ),
  );
sw.command("heal [name]")
  .description("remove one partition, or all")
  .action(action(async (name?: string) => (await open()).switch.heal(name)));
sw.command("serve")
  .description("follow Docker events and re-apply the switch after every node (re)start")
  .action(
    action(async () => {
      const testbed = await open();
      await testbed.switch.reapply();
      await testbed.followSwitch((error) =>
        console.error(`switch re-apply failed: ${(error as Error).message}`),
      );
      console.error("switch: following Docker events (Ctrl-C to stop)");
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
      testbed.stopFollowing();
    }),
  );

await program.parseAsync(process.argv);
