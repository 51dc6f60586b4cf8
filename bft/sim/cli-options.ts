/**
 * Command-line option parsing shared by cli.ts and soak.ts: strict integers and durations with
 * messages that name the option and the bad value.
 */
import { badOption } from "./errors.js";
import { parseDurationMs } from "./options.js";

export function parseIntegerOption(name: string, text: string, min: number): number {
  if (!/^\s*-?\d+\s*$/.test(text))
    throw badOption(`--${name} must be an integer, got "${text}"`, `e.g. --${name} ${min}`);
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw badOption(`--${name} is too large: ${text}`, `use a smaller --${name}`);
  if (value < min)
    throw badOption(`--${name} must be at least ${min}, got ${value}`, `e.g. --${name} ${min}`);
  return value;
}

export function parseDurationOption(name: string, text: string): number {
  try {
    return parseDurationMs(text);
  } catch (error) {
    if (error instanceof Error)
      throw badOption(`--${name}: ${error.message}`, "use a number with ms, s, m or h, like 60s");
    throw error;
  }
}

export function parseChoice<T extends string>(name: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw badOption(
      `--${name} must be one of ${choices.join(", ")}, got "${text}"`,
      `e.g. --${name} ${choices[0]}`,
    );
  }
  return text as T;
}
