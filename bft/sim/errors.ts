/**
 * Operating errors of the simulator's CLI and API (bad options). Each has a stable code and a hint;
 * the CLI prints `error [CODE]: message` and the hint, without a stack trace unless --debug.
 */
export class SimulationError extends Error {
  override readonly name = "SimulationError";

  constructor(
    readonly code: "SIM_BAD_OPTION",
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export function badOption(message: string, hint: string): SimulationError {
  return new SimulationError("SIM_BAD_OPTION", message, hint);
}
