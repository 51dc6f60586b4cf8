/**
 * The management console: an SSH server (ssh2) bound to NIC3's address only, accepting exactly one
 * public key (the controller's), delivered with the host key through a read-only mount. Exec requests
 * run one command and answer its JSON on stdout with the command's exit code; a shell session is a
 * small line-oriented command shell over the same table (the node image has no /bin/sh).
 */
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ssh2 from "ssh2";
import { type CommandContext, runCommand } from "./commands.js";
import { SSH_SESSIONS_MAX } from "./limits.js";

const { Server, utils } = ssh2;

export const HOST_KEY_FILE = "host_key";
export const AUTHORIZED_KEY_FILE = "authorized_key.pub";

type ParsedKey = ssh2.ParsedKey;

function parseSingleKey(text: Buffer | string, what: string): ParsedKey {
  const parsed = utils.parseKey(text);
  if (parsed instanceof Error) throw new Error(`${what}: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined) throw new Error(`${what}: no key`);
  return key;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function runShell(context: CommandContext, stream: ssh2.ServerChannel): void {
  const prompt = () => stream.write(`${context.config.nodeId}> `);
  let buffer = "";
  stream.write(`node-agent shell on ${context.config.nodeId}; \`help\` lists commands, \`exit\` leaves\r\n`);
  prompt();
  stream.on("data", (chunk: Buffer) => {
    // Echo for interactive terminals; accept both CR and LF line ends.
    const text = chunk.toString("utf8");
    stream.write(text.replace(/\r/g, "\r\n"));
    buffer += text.replace(/\r\n?/g, "\n");
    void drainLines();
  });
  let busy = false;
  const drainLines = async () => {
    if (busy) return;
    busy = true;
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line === "exit" || line === "logout") {
        stream.exit(0);
        stream.end();
        return;
      }
      if (line !== "") {
        const reply = await runCommand(context, line);
        stream.write(`${JSON.stringify(reply.value, null, 2).replace(/\n/g, "\r\n")}\r\n`);
      }
      prompt();
      newline = buffer.indexOf("\n");
    }
    busy = false;
  };
}

export interface SshServerHandle {
  close(): Promise<void>;
}

export async function startSshServer(context: CommandContext): Promise<SshServerHandle> {
  const keys = context.config.keysDirectory;
  const hostKey = readFileSync(join(keys, HOST_KEY_FILE));
  const allowed = parseSingleKey(readFileSync(join(keys, AUTHORIZED_KEY_FILE)), "authorized key");
  let sessions = 0;
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    client.on("authentication", (ctx) => {
      if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
      const matches = ctx.key.algo === allowed.type && sameBytes(ctx.key.data, allowed.getPublicSSH());
      if (!matches) return ctx.reject(["publickey"]);
      if (
        ctx.signature !== undefined &&
        ctx.blob !== undefined &&
        allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true
      ) {
        return ctx.reject(["publickey"]);
      }
      ctx.accept();
    });
    client.on("ready", () => {
      client.on("session", (accept, reject) => {
        if (sessions >= SSH_SESSIONS_MAX) return reject();
        sessions += 1;
        const session = accept();
        session.once("close", () => {
          sessions -= 1;
        });
        session.on("pty", (acceptPty) => acceptPty?.());
        session.on("env", (acceptEnv) => acceptEnv?.());
        session.once("exec", (acceptExec, _reject, info) => {
          const stream = acceptExec();
          void runCommand(context, info.command).then((reply) => {
            stream.write(`${JSON.stringify(reply.value)}\n`);
            stream.exit(reply.exitCode);
            stream.end();
          });
        });
        session.once("shell", (acceptShell) => runShell(context, acceptShell()));
      });
    });
    client.on("error", () => client.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(context.config.sshPort, context.config.nic3Address, () => resolve());
  });
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
