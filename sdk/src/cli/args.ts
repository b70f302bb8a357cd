// Argument checks shared by the commands: a usage error exits 2 with a hint to --help.

export class UsageError extends Error {}

/** commander argParser for a bounded number option. */
export function intArg(name: string, min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^\d+(\.\d+)?$/.test(raw)) throw new UsageError(`--${name} must be a number (got ${JSON.stringify(raw)})`);
    const n = Number(raw);
    if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max} (got ${raw})`);
    return n;
  };
}
