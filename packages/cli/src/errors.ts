/**
 * Turns any error into the one line a user sees on stderr, and an exit code. Errors cr knows
 * (CrError, FormatError, NativeError) already carry their context in the message; anything else
 * is a bug, so its stack goes to stderr too.
 */
export function reportError(error: unknown): number {
  if (error instanceof Error && KNOWN_ERRORS.has(error.name)) {
    process.stderr.write(`cr: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`cr: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 70; // EX_SOFTWARE
}

const KNOWN_ERRORS = new Set(["CrError", "FormatError", "NativeError"]);
