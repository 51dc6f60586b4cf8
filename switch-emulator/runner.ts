/** Runs host commands (iptables, tc, ip). Behind an interface so rule application is testable. */
import { spawn } from "node:child_process";

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandRunner {
  run(argv: readonly string[], input?: string): Promise<CommandResult>;
}

export const hostRunner: CommandRunner = {
  run(argv, input) {
    return new Promise((resolve) => {
      const [command, ...args] = argv;
      const child = spawn(command!, args, {
        stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on("error", (error) => resolve({ code: 127, stdout, stderr: error.message }));
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
      if (input !== undefined && child.stdin !== null) {
        // A command that exits without reading its input must not crash us with EPIPE.
        child.stdin.on("error", () => undefined);
        child.stdin.end(input);
      }
    });
  },
};
