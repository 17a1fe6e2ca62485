// What every subcommand shares on the command line: help, and argument errors a user can read.

/** True when the arguments ask for help: `--help` or `-h` before any `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** A mistake on a command line that parseArgs does not catch itself (a command's own option reader). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * True for UsageError and for the errors node:util's parseArgs throws on an unknown option, an option without its value or an
 * unexpected positional (codes ERR_PARSE_ARGS_*): the user's mistake, reported with the command's usage and exit
 * status 2, never as a stack trace.
 */
export function isArgumentError(e: unknown): e is Error {
  if (e instanceof UsageError) return true;
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
