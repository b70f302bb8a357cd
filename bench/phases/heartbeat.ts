// 1. Baselines (bare node:http, bare Fastify, Fastify + one minimal Lua script) and
// 2. the registry's heartbeat route through one replica, measured in interleaved rounds so each
//    round's ratio compares runs taken seconds apart on the same noisy machine.
import type autocannon from 'autocannon';
import { assertClean, load, paced, type LoadResult } from '../lib/load.js';
import { agentId, HEARTBEAT_BODY, openMesh, populate } from '../lib/mesh.js';
import { startReplica, startServer, type Child } from '../lib/procs.js';
import { measureRedis } from '../lib/redis-info.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { pairedRatio, summarize, type Summary } from '../lib/stats.js';

const NS = 'bench-hb';

function heartbeatLoad(ctx: BenchContext, target: Child, ids: string[], duration: number): Promise<LoadResult> {
  let i = 0;
  return load({
    url: target.url,
    connections: ctx.opts.connections,
    duration,
    method: 'POST',
    body: HEARTBEAT_BODY,
    setup: (req: autocannon.Request) => {
      req.path = `/registry/heartbeat/${ids[i++ % ids.length]!}`;
      return req;
    },
  });
}

export async function heartbeatPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const ids = Array.from({ length: opts.heartbeatPopulation }, (_, i) => agentId('hb', i));
  const mesh = openMesh(redis.redisUrl, NS, { STALE_TIMEOUT_MS: 3_600_000 });
  await populate(mesh, 'hb', 0, ids.length);
  await mesh.close();

  const bareHttp = await startServer('bare-http.mjs');
  const bareFastify = await startServer('bare-fastify.mjs');
  const fastifyLua = await startServer('fastify-lua.mjs', { REDIS_URL: redis.redisUrl });
  const replica = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env: { STALE_TIMEOUT_MS: 3_600_000 } });
  const targets = { bareHttp, bareFastify, fastifyLua, replica };
  try {
    for (const t of Object.values(targets)) assertClean(`warm-up ${t.name}`, await heartbeatLoad(ctx, t, ids, opts.warmup));

    const results: Record<keyof typeof targets, LoadResult[]> = { bareHttp: [], bareFastify: [], fastifyLua: [], replica: [] };
    const minimalScript: number[] = [];
    const replicaScript: number[] = [];
    const batchSize: number[] = [];
    const replicaCpu: number[] = [];
    for (let r = 0; r < opts.runs; r++) {
      for (const [name, t] of Object.entries(targets) as [keyof typeof targets, Child][]) {
        const m = await measureRedis(redis.client, () => heartbeatLoad(ctx, t, ids, opts.duration));
        assertClean(`${name} run ${r + 1}`, m.result);
        results[name].push(m.result);
        if (name === 'fastifyLua') minimalScript.push(m.scripts.usecPerCall);
        if (name === 'replica') {
          // Heartbeats are batched per event-loop turn: Redis time per heartbeat, and batch size.
          replicaScript.push(m.scripts.usec / m.result.total);
          batchSize.push(m.result.total / Math.max(1, m.scripts.calls));
          replicaCpu.push((m.cpuSec * 1e6) / m.result.total);
        }
      }
    }
    const rps = (k: keyof typeof targets): Summary => summarize(results[k].map((x) => x.rps));
    const lat = (k: keyof typeof targets, p: 'p50' | 'p99'): Summary => summarize(results[k].map((x) => x[p]));
    const fastify = rps('bareFastify');
    ctx.shared.set('fastify.rps', fastify);
    ctx.shared.set('heartbeat.rps', rps('replica'));

    const S1 = '1';
    addRow(ctx, {
      section: S1,
      measure: 'bare node:http, JSON POST',
      value: rps('bareHttp'),
      unit: 'req/s',
      note: `p99 ${fmt(lat('bareHttp', 'p99').median)} ms; ${fmt(pairedRatio(rps('bareHttp'), fastify).median)}x Fastify`,
    });
    addRow(ctx, {
      section: S1,
      measure: 'bare Fastify, JSON POST (baseline)',
      value: fastify,
      unit: 'req/s',
      note: `p99 ${fmt(lat('bareFastify', 'p99').median)} ms`,
    });
    const luaRatio = pairedRatio(rps('fastifyLua'), fastify);
    addRow(ctx, {
      section: S1,
      measure: 'bare Fastify + minimal auto-pipelined Lua (HSET+SET PX+ZADD)',
      value: rps('fastifyLua'),
      unit: 'req/s',
      note: `${fmt(luaRatio.median)}x Fastify (${fmt(luaRatio.min)}-${fmt(luaRatio.max)})`,
    });

    const S2 = '2';
    const hbRatio = pairedRatio(rps('replica'), fastify);
    const vsLua = pairedRatio(rps('replica'), rps('fastifyLua'));
    addRow(ctx, {
      section: S2,
      measure: 'heartbeat route, one replica',
      value: rps('replica'),
      unit: 'req/s',
      note: `${opts.connections} connections`,
    });
    addRow(ctx, { section: S2, measure: 'heartbeat / bare Fastify', value: hbRatio, unit: 'x' });
    addRow(ctx, {
      section: S2,
      measure: 'heartbeat / (Fastify + minimal Lua)',
      value: vsLua,
      unit: 'x',
    });
    addRow(ctx, { section: S2, measure: 'heartbeat p50 at full load', value: lat('replica', 'p50'), unit: 'ms' });
    addRow(ctx, { section: S2, measure: 'heartbeat p99 at full load', value: lat('replica', 'p99'), unit: 'ms' });

    // Latency at half the measured capacity: what an agent sees on a replica that is not saturated.
    const half = Math.max(1, Math.round(rps('replica').median / 2));
    const halfRuns: LoadResult[] = [];
    for (let r = 0; r < opts.runs; r++) {
      const res = await paced({
        url: replica.url,
        rate: half,
        duration: opts.duration,
        sockets: opts.connections,
        method: 'POST',
        body: HEARTBEAT_BODY,
        path: (i) => `/registry/heartbeat/${ids[i % ids.length]!}`,
      });
      assertClean(`half load run ${r + 1}`, res);
      halfRuns.push(res);
    }
    addRow(ctx, {
      section: S2,
      measure: `heartbeat p50 at half load (${half} req/s, constant rate)`,
      value: summarize(halfRuns.map((x) => x.p50)),
      unit: 'ms',
    });
    addRow(ctx, {
      section: S2,
      measure: `heartbeat p99 at half load (${half} req/s, constant rate)`,
      value: summarize(halfRuns.map((x) => x.p99)),
      unit: 'ms',
    });

    const S4 = '4';
    const script = summarize(replicaScript);
    ctx.shared.set('heartbeat.script.usec', script);
    addRow(ctx, {
      section: S4,
      measure: 'heartbeat script in Redis per heartbeat, under HTTP load (commandstats)',
      value: script,
      unit: 'us',
      note: `${fmt(summarize(batchSize).median)} heartbeats per script call`,
    });
    addRow(ctx, {
      section: S4,
      measure: 'minimal HSET+SET PX+ZADD script, under HTTP load',
      value: summarize(minimalScript),
      unit: 'us/call',
      note: 'reference',
    });
    addRow(ctx, {
      section: S4,
      measure: 'Redis CPU per HTTP heartbeat (INFO cpu, incl. network I/O)',
      value: summarize(replicaCpu),
      unit: 'us',
    });
    const endToEnd = summarize(results.replica.map((x) => x.rps * 5));
    addRow(ctx, {
      section: S4,
      measure: 'end to end: agents one replica serves at a 5 s interval',
      value: endToEnd,
      unit: 'agents',
      note: 'heartbeat req/s x 5; add replicas until Redis is the limit',
    });

    addTarget(ctx, {
      target: 'heartbeat route >= 0.90x bare Fastify + one minimal auto-pipelined Lua call',
      measured: `${fmt(vsLua.median)}x (${fmt(vsLua.min)}-${fmt(vsLua.max)})`,
      met: vsLua.median >= 0.9,
    });
    ctx.details.heartbeat = { results, minimalScript, replicaScript, batchSize, replicaCpu, halfRuns, halfRate: half };
  } finally {
    await Promise.all(Object.values(targets).map((t) => t.stop()));
  }
}
