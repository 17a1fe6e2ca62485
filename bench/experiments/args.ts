// Command-line options of the experiment scripts: `--name value` and `--flag`.
import process from 'node:process';

/** The value after `--name`, or undefined. */
export function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The number after `--name`, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const v = stringArg(name);
  return v === undefined ? fallback : Number(v);
}

/** True when `--name` is given. */
export function flagArg(name: string): boolean {
  return process.argv.includes(name);
}
