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

/**
 * Reads an integer option of a command (digits only, surrounding spaces allowed) in [min, max]; undefined when the
 * option is absent. A UsageError names the option, the range and what was given.
 */
export function intOption(name: string, raw: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(v) || v < min || v > max) {
    const range = max !== Number.MAX_SAFE_INTEGER ? `an integer from ${min} to ${max}` : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw new UsageError(`${name}: expected ${range}, found ${JSON.stringify(raw)}`);
  }
  return v;
}

/** Reads a positive number option (finite, > 0); undefined when the option is absent. */
export function numOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0) throw new UsageError(`${name}: expected a number > 0, found ${JSON.stringify(raw)}`);
  return v;
}
