/**
 * Boots one node agent: code digest, coprocessor, supervisor, SSH console. Separated from main.ts
 * so tests can boot an agent on the host against temporary directories.
 */
import { codeDigest } from "../images/code-digest.js";
import { type CommandContext, newBootId } from "./commands.js";
import type { AgentConfig } from "./config.js";
import { NodeCoprocessor } from "./coprocessor.js";
import { Diagnostics } from "./diag.js";
import { FileAreas } from "./files.js";
import { type SshServerHandle, startSshServer } from "./ssh-server.js";
import { Supervisor } from "./supervisor.js";

export interface RunningAgent {
  readonly context: CommandContext;
  shutdown(): Promise<void>;
}

export async function bootAgent(config: AgentConfig): Promise<RunningAgent> {
  // The digest is computed once at boot: the ROM is read-only, so it cannot change under us.
  const digestHex = await codeDigest(config.romDirectory);
  const coprocessor = NodeCoprocessor.open({
    directory: config.coprocessorDirectory,
    codeDigest: new Uint8Array(Buffer.from(digestHex, "hex")),
  });
  const supervisor = new Supervisor({
    romDirectory: config.romDirectory,
    identity: {
      nodeId: config.nodeId,
      nic1Address: config.nic1Address,
      nic2Address: config.nic2Address,
      nic3Address: config.nic3Address,
    },
    coprocessor,
  });
  const context: CommandContext = {
    config,
    coprocessor,
    supervisor,
    files: new FileAreas({ readWrite: config.fileAreas, readOnly: config.readOnlyAreas }),
    diagnostics: new Diagnostics(),
    bootId: newBootId(),
  };
  const ssh: SshServerHandle = await startSshServer(context);
  return {
    context,
    async shutdown() {
      await supervisor.stop();
      await context.diagnostics.close();
      await ssh.close();
    },
  };
}
