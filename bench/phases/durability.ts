// 10. The price of durable acknowledgements (issue 14): a send through a replica with
//     REDIS_SYNC_REPLICAS=1 (each answer waits for the Redis replica: one WAIT per event-loop turn,
//     group-committed) against the same send with 0, and a send with an Idempotency-Key against
//     one without. A replica redis-server is attached to the benchmark's Redis for this phase only.
//     Measured in interleaved rounds; the figures that matter are the ratios of the same run.
//     `npm run bench -- --only=durability` runs it alone (~1 min; --quick ~25 s).
import { randomUUID } from 'node:crypto';
import type autocannon from 'autocannon';
import { assertClean, load, type LoadResult } from '../lib/load.js';
import { agentId, inFlight, openMesh, registerRaw } from '../lib/mesh.js';
import { HOST, startRedis, startReplica, type Child } from '../lib/procs.js';
import { addRow, fmt, type BenchContext } from '../lib/report.js';
import { pairedRatio, sleep, summarize, type Summary } from '../lib/stats.js';

const NS = 'bench-durable';
/** Recipients the sends rotate over (inboxes stay short). */
const RECIPIENTS = 500;

interface SyncFigures {
  confirmed: number;
  barriers: number;
  waitSeconds: number;
}

/** The replica's own counters (GET /metrics): writes confirmed, barriers, time in WAIT. */
async function syncFigures(replica: Child): Promise<SyncFigures> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  return {
    confirmed: value(/^mesh_redis_sync_writes_total\{result="confirmed"\} (\S+)$/m),
    barriers: value(/^mesh_redis_sync_barriers_total (\S+)$/m),
    waitSeconds: value(/^mesh_redis_sync_wait_seconds_total (\S+)$/m),
  };
}

function sendLoad(target: Child, connections: number, duration: number, keyed: boolean): Promise<LoadResult> {
  let i = 0;
  return load({
    url: target.url,
    connections,
    duration,
    method: 'POST',
    body: '{}',
    setup: (req: autocannon.Request) => {
      const n = i++;
      req.path = `/messages/send/${agentId('src', n % 8)}`;
      req.body = JSON.stringify({
        target_instance: agentId('dst', n % RECIPIENTS),
        message_type: 'Notification',
        payload: { n, text: 'status update' },
        correlation_id: null,
      });
      if (keyed) req.headers = { ...req.headers, 'idempotency-key': randomUUID() };
      return req;
    },
  });
}

export async function durabilityPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const mesh = openMesh(redis.redisUrl, NS, { STALE_TIMEOUT_MS: 3_600_000 });
  await inFlight(0, RECIPIENTS, 64, (i) => registerRaw(mesh, agentId('dst', i)));
  await inFlight(0, 8, 8, (i) => registerRaw(mesh, agentId('src', i)));
  await mesh.close();

  // A Redis replica of the benchmark's Redis, caught up before anything is measured.
  const follower = await startRedis();
  await follower.client.replicaof(HOST, redis.port);
  for (let t = 0; ; t++) {
    const info = await redis.client.info('replication');
    if (/slave0:.*state=online/.test(info)) break;
    if (t > 200) throw new Error(`replica did not come online:\n${info}`);
    await sleep(50);
  }
  const env = { STALE_TIMEOUT_MS: 3_600_000, INBOX_MAX: 1_000_000 };
  const plain = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env, name: 'sync-0' });
  const synced = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env: { ...env, REDIS_SYNC_REPLICAS: 1 }, name: 'sync-1' });
  const S = '10';
  try {
    const full: Record<'plain' | 'synced' | 'keyed', LoadResult[]> = { plain: [], synced: [], keyed: [] };
    const single: Record<'plain' | 'synced', LoadResult[]> = { plain: [], synced: [] };
    const groups: number[] = [];
    const waitMs: number[] = [];
    for (const t of [plain, synced]) assertClean(`warm-up ${t.name}`, await sendLoad(t, opts.connections, opts.warmup, false));
    for (let r = 0; r < opts.runs; r++) {
      full.plain.push(await sendLoad(plain, opts.connections, opts.duration, false));
      const before = await syncFigures(synced);
      full.synced.push(await sendLoad(synced, opts.connections, opts.duration, false));
      const after = await syncFigures(synced);
      groups.push((after.confirmed - before.confirmed) / Math.max(1, after.barriers - before.barriers));
      waitMs.push(((after.waitSeconds - before.waitSeconds) * 1000) / Math.max(1, after.barriers - before.barriers));
      full.keyed.push(await sendLoad(plain, opts.connections, opts.duration, true));
      // One request at a time: no other write to share a barrier with.
      single.plain.push(await sendLoad(plain, 1, opts.duration / 2, false));
      single.synced.push(await sendLoad(synced, 1, opts.duration / 2, false));
    }
    for (const [name, runs] of [...Object.entries(full), ...Object.entries(single)])
      runs.forEach((x, i) => assertClean(`${name} run ${i + 1}`, x));
    const rps = (x: LoadResult[]): Summary => summarize(x.map((r) => r.rps));
    const p = (x: LoadResult[], k: 'p50' | 'p99'): Summary => summarize(x.map((r) => r[k]));

    addRow(ctx, {
      section: S,
      measure: `send, REDIS_SYNC_REPLICAS=0 (${opts.connections} connections)`,
      value: rps(full.plain),
      unit: 'req/s',
      note: `p50 ${fmt(p(full.plain, 'p50').median)} ms, p99 ${fmt(p(full.plain, 'p99').median)} ms`,
    });
    addRow(ctx, {
      section: S,
      measure: `send, REDIS_SYNC_REPLICAS=1 (${opts.connections} connections)`,
      value: rps(full.synced),
      unit: 'req/s',
      note: `p50 ${fmt(p(full.synced, 'p50').median)} ms, p99 ${fmt(p(full.synced, 'p99').median)} ms`,
    });
    addRow(ctx, {
      section: S,
      measure: 'send throughput, sync 1 / sync 0',
      value: pairedRatio(rps(full.synced), rps(full.plain)),
      unit: 'x',
    });
    addRow(ctx, {
      section: S,
      measure: 'send p50 under load, sync 1 / sync 0',
      value: pairedRatio(p(full.synced, 'p50'), p(full.plain, 'p50')),
      unit: 'x',
    });
    addRow(ctx, {
      section: S,
      measure: 'group commit: writes confirmed per WAIT',
      value: summarize(groups),
      unit: 'writes',
      note: `one WAIT (barrier) round trip: ${fmt(summarize(waitMs).median)} ms`,
    });
    addRow(ctx, { section: S, measure: 'send p50, one connection, REDIS_SYNC_REPLICAS=0', value: p(single.plain, 'p50'), unit: 'ms' });
    addRow(ctx, {
      section: S,
      measure: 'send p50, one connection, REDIS_SYNC_REPLICAS=1',
      value: p(single.synced, 'p50'),
      unit: 'ms',
      note: `+${fmt(p(single.synced, 'p50').median - p(single.plain, 'p50').median)} ms per request`,
    });
    addRow(ctx, {
      section: S,
      measure: 'send p50 one at a time, sync 1 / sync 0',
      value: pairedRatio(p(single.synced, 'p50'), p(single.plain, 'p50')),
      unit: 'x',
    });
    addRow(ctx, {
      section: S,
      measure: 'send with an Idempotency-Key (a new key each)',
      value: rps(full.keyed),
      unit: 'req/s',
      note: `p50 ${fmt(p(full.keyed, 'p50').median)} ms`,
    });
    addRow(ctx, {
      section: S,
      measure: 'send throughput, with key / without',
      value: pairedRatio(rps(full.keyed), rps(full.plain)),
      unit: 'x',
    });

    // What a remembered key costs Redis: one record, for IDEMPOTENCY_TTL_MS.
    const [key] = await redis.client.scan('0', 'MATCH', `mesh:{${NS}}:idem:*`, 'COUNT', 10_000).then(([, keys]) => keys);
    if (key) {
      const bytes = Number(await redis.client.memory('USAGE', key));
      addRow(ctx, {
        section: S,
        measure: 'Redis memory per remembered Idempotency-Key (MEMORY USAGE)',
        value: summarize([bytes]),
        unit: 'bytes',
        note: 'a direct send; kept IDEMPOTENCY_TTL_MS (10 min)',
      });
    }
    ctx.details.durability = { full, single, groups, waitMs };
  } finally {
    await Promise.all([plain.stop(), synced.stop()]);
    await follower.client.replicaof('NO', 'ONE').catch(() => undefined);
    await follower.stop();
  }
}
