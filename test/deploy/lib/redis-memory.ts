// Redis must refuse writes when full instead of evicting keys or being OOM-killed (issue 14 item 4):
// the deployed Redis runs with `--maxmemory-policy noeviction` and a `--maxmemory` well below its
// container's memory limit (AOF rewrites fork, and the fork's copy-on-write pages, client buffers
// and fragmentation all count against the limit, not against maxmemory). Shared by the k8s and
// compose drift checks.

/** Redis' own size syntax (redis.conf): 1k = 1000, 1kb = 1024, and so on; plain bytes. */
export function redisBytes(v: string): number | null {
  const m = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(v.trim());
  if (!m) return null;
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult: Record<string, number> = { b: 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
  return Number(m[1]) * (mult[unit] as number);
}

/** A Kubernetes memory quantity (512Mi, 1Gi, 500M, 1e9 as plain bytes). */
export function k8sBytes(v: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(v.trim());
  if (!m) return null;
  const mult: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (mult[m[2] ?? ''] as number);
}

/** Largest share of the memory limit maxmemory may take. */
export const MAXMEMORY_SHARE_OF_LIMIT = 0.75;

/**
 * Problems with the memory settings in a redis-server command line (`args` joined by spaces);
 * `limitBytes` is the container's memory limit when it has one.
 */
export function redisMemoryProblems(args: string, limitBytes: number | null): string[] {
  const problems: string[] = [];
  const policy = /--maxmemory-policy\s+(\S+)/.exec(args)?.[1];
  if (policy !== 'noeviction')
    problems.push(`Redis must run with --maxmemory-policy noeviction (has ${policy ?? 'none: the server default'})`);
  const raw = /--maxmemory\s+(\S+)/.exec(args)?.[1];
  const bytes = raw === undefined ? null : redisBytes(raw);
  if (!bytes) {
    problems.push(
      `Redis must run with a --maxmemory limit (has ${raw ?? 'none'}): without one it grows until it is OOM-killed instead of refusing writes`,
    );
  } else if (limitBytes !== null && bytes > limitBytes * MAXMEMORY_SHARE_OF_LIMIT) {
    problems.push(
      `--maxmemory ${raw} is more than ${MAXMEMORY_SHARE_OF_LIMIT * 100} % of the container memory limit (${limitBytes} bytes): a fork for an AOF rewrite or client buffers would get Redis OOM-killed first`,
    );
  }
  return problems;
}

/** A Compose byte value (512m, 1g, 1024k: binary multiples, case-insensitive). */
export function composeBytes(v: string): number | null {
  const m = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(v.trim());
  if (!m) return null;
  const unit = (m[2] ?? 'b').toLowerCase()[0] as string;
  const mult: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return Number(m[1]) * (mult[unit] as number);
}
