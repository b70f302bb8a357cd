// 6. Cleanup: time and Redis CPU to expire E instances while L others stay live, for a small and a
//    large L. The maintenance job's own `sweep` (src/registry/maintenance.ts) does the work, in
//    CLEANUP_BATCH_SIZE batches, exactly as one tick would; a cost that follows the number expired
//    (not the number live) gives close figures for both L.
import { sweep } from '../../src/registry/maintenance.js';
import { openMesh, populate } from '../lib/mesh.js';
import { measureRedis } from '../lib/redis-info.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { sleep, summarize, type Summary } from '../lib/stats.js';

const SHORT_STALE_MS = 500;
/** The default CLEANUP_BATCH_SIZE (what a maintenance tick uses). */
const CLEANUP_BATCH = 100;

interface Run {
  ms: number;
  cpuMs: number;
  scriptMs: number;
  removed: number;
}

export async function cleanupPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const S = '6';
  const byLive = new Map<number, Run[]>();
  for (const liveCount of opts.cleanupLive) {
    const ns = `bench-clean-${liveCount}`;
    const longLived = openMesh(redis.redisUrl, ns, { STALE_TIMEOUT_MS: 3_600_000 });
    const shortLived = openMesh(redis.redisUrl, ns, { STALE_TIMEOUT_MS: SHORT_STALE_MS, HEARTBEAT_INTERVAL_MS: 100 });
    const runs: Run[] = [];
    try {
      await populate(longLived, 'live', 0, liveCount);
      for (let r = 0; r < opts.runs; r++) {
        await populate(shortLived, `exp${r}`, 0, opts.cleanupExpire);
        await sleep(SHORT_STALE_MS + 200);
        const batch = longLived.config.CLEANUP_BATCH_SIZE;
        const t0 = performance.now();
        const m = await measureRedis(redis.client, () => sweep(longLived.instances, longLived.messages, batch));
        const ms = performance.now() - t0;
        if (m.result.removed !== opts.cleanupExpire) {
          throw new Error(`cleanup with ${liveCount} live removed ${m.result.removed}, expected ${opts.cleanupExpire}`);
        }
        runs.push({ ms, cpuMs: m.cpuSec * 1000, scriptMs: m.scripts.usec / 1000, removed: m.result.removed });
        const left = await longLived.instances.liveCount();
        if (left !== liveCount) throw new Error(`after cleanup ${left} live, expected ${liveCount}`);
      }
    } finally {
      await longLived.close();
      await shortLived.close();
    }
    byLive.set(liveCount, runs);
    const label = `${fmt(opts.cleanupExpire)} expired, ${fmt(liveCount)} live`;
    addRow(ctx, {
      section: S,
      measure: `cleanup ${label}: wall time`,
      value: summarize(runs.map((x) => x.ms)),
      unit: 'ms',
      note: `sweep in batches of ${CLEANUP_BATCH}`,
    });
    addRow(ctx, {
      section: S,
      measure: `cleanup ${label}: Redis CPU`,
      value: summarize(runs.map((x) => x.cpuMs)),
      unit: 'ms',
      note: `script time ${fmt(summarize(runs.map((x) => x.scriptMs)).median)} ms`,
    });
  }
  const [small, large] = [opts.cleanupLive[0]!, opts.cleanupLive[opts.cleanupLive.length - 1]!];
  const t = (live: number, k: keyof Run): Summary => summarize(byLive.get(live)!.map((x) => x[k]));
  const wallRatio = t(large, 'ms').median / t(small, 'ms').median;
  const cpuRatio = t(large, 'cpuMs').median / t(small, 'cpuMs').median;
  addRow(ctx, {
    section: S,
    measure: `cleanup cost ratio ${fmt(large)} live / ${fmt(small)} live`,
    value: summarize([wallRatio]),
    unit: 'x',
    note: `Redis CPU ratio ${fmt(cpuRatio)}x`,
  });
  const worst = Math.max(t(small, 'ms').median, t(large, 'ms').median);
  addTarget(ctx, {
    target: `cleanup of ${fmt(opts.cleanupExpire)} expired < 1 s, within 1.5x between ${fmt(small)} and ${fmt(large)} live`,
    measured: `${fmt(t(small, 'ms').median)} ms vs ${fmt(t(large, 'ms').median)} ms (${fmt(wallRatio)}x wall, ${fmt(cpuRatio)}x Redis CPU)`,
    met: worst < 1000 && wallRatio <= 1.5 && cpuRatio <= 1.5,
  });
  ctx.details.cleanup = Object.fromEntries(byLive);
}
