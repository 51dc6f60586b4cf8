/**
 * The base of every typed operating error outside the protocol cores (STYLE.md, "Errors and logs"):
 * a stable code, a message, a hint the CLI prints under it, and the HTTP status the REST plane
 * answers with. Operating errors are expected (bad input, a missing engine); bugs are assertions.
 */
export interface OperatingErrorOptions {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
  readonly statusCode?: number;
  readonly cause?: unknown;
}

export class OperatingError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly statusCode: number;

  constructor(options: OperatingErrorOptions, defaultStatusCode: number) {
    super(options.message, { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
    this.statusCode = options.statusCode ?? defaultStatusCode;
  }
}

/** The CLI form: `error [CODE]: message` and the hint on the next line. */
export function formatOperatingError(error: OperatingError): string {
  return `error [${error.code}]: ${error.message}\n  hint: ${error.hint}`;
}
