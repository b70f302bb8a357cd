// 3. Register (new ids) and GET /registry/agents (full, one page, capability filter) with 1k and
//    10k live instances, through one replica.
import type autocannon from 'autocannon';
import { assertClean, load, type LoadResult } from '../lib/load.js';
import { agentId, CAPS, inFlight, openMesh, PROFILES, registerRaw, type Mesh } from '../lib/mesh.js';
import { startReplica } from '../lib/procs.js';
import { measureRedis } from '../lib/redis-info.js';
import { addRow, fmt, type BenchContext } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const NS = 'bench-reg';
/** Capabilities spread over a pool of 10, three each, so a capability filter matches 30%. */
const capsOf = (i: number): string[] => [0, 1, 2].map((k) => `cap-${(i + k) % 10}`);

async function grow(m: Mesh, from: number, to: number): Promise<void> {
  await inFlight(from, to, 256, async (i) => {
    const id = agentId('live', i);
    await registerRaw(m, id, capsOf(i));
    await m.instances.heartbeat(id, 'ready', { load: 0.42, queue: 3, tasks_done: 1234 });
  });
}

export async function registryPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const mesh = openMesh(redis.redisUrl, NS, { STALE_TIMEOUT_MS: 3_600_000 });
  const replica = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env: { STALE_TIMEOUT_MS: 3_600_000 } });
  const S = '3';
  const details: Record<string, unknown> = {};
  let live = 0;
  let fresh = 0;
  try {
    for (const size of opts.listSizes) {
      await grow(mesh, live, size);
      live = size;
      const label = size >= 1000 ? `${size / 1000}k` : String(size);

      // Register new ids: every call creates a member (and answers with all peers, per the
      // contract). The new members are removed after each run so the population stays `size`.
      const regRuns: LoadResult[] = [];
      const regRedisMs: number[] = [];
      const body = (id: string) =>
        JSON.stringify({
          instance_id: id,
          hostname: 'agent-host.example.internal',
          port: 8080,
          capabilities: CAPS,
          agent_profiles: PROFILES,
        });
      // Probe one call, then size each run to about listDuration seconds (at least a dozen calls).
      const p0 = performance.now();
      await fetch(`${replica.url}/registry/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body('probe'),
      }).then((r) => r.arrayBuffer());
      await mesh.instances.deregister('probe');
      const perCallMs = performance.now() - p0;
      // The replica is CPU-bound here: 4 concurrent calls take ~4x as long as one alone.
      const amount = Math.max(12, Math.min(opts.registerPerRun, Math.round((opts.listDuration * 1000) / perCallMs)));
      for (let r = 0; r < opts.runs; r++) {
        const first = fresh;
        const m = await measureRedis(redis.client, () =>
          load({
            url: `${replica.url}/registry/register`,
            connections: 4,
            duration: opts.listDuration,
            amount,
            method: 'POST',
            body: '{}',
            setup: (req: autocannon.Request) => {
              req.body = body(agentId('new', fresh++));
              return req;
            },
          }),
        );
        assertClean(`register with ${label} live`, m.result);
        regRuns.push(m.result);
        regRedisMs.push(m.scripts.usec / 1000 / m.result.total);
        await inFlight(first, fresh, 64, (i) => mesh.instances.deregister(agentId('new', i)));
      }
      addRow(ctx, {
        section: S,
        measure: `register (new id) with ${label} live, 4 concurrent`,
        value: summarize(regRuns.map((x) => x.rps)),
        unit: 'req/s',
        note: `p50 ${fmt(summarize(regRuns.map((x) => x.p50)).median)} ms per call; Redis ${fmt(summarize(regRedisMs).median)} ms per register (answer: first page of peers)`,
      });

      const listings: [string, string][] = [
        [`GET /registry/agents (all ${label})`, '/registry/agents'],
        ['GET /registry/agents?limit=100 (first page)', '/registry/agents?limit=100'],
        [`GET /registry/agents?capability= (30% of ${label})`, '/registry/agents?capability=cap-3'],
      ];
      for (const [name, path] of listings) {
        // Each run is sized to about listDuration seconds from one probe call, and counts calls
        // (at least a dozen), not time: slow listings still complete whole calls.
        const t0 = performance.now();
        await (await fetch(`${replica.url}${path}`)).arrayBuffer();
        const probeMs = performance.now() - t0;
        const amount = Math.max(12, Math.min(5000, Math.round((opts.listDuration * 1000) / probeMs)));
        const runs: LoadResult[] = [];
        const script: number[] = [];
        for (let r = 0; r < opts.runs; r++) {
          const m = await measureRedis(redis.client, () =>
            load({ url: `${replica.url}${path}`, connections: 4, duration: opts.listDuration, amount }),
          );
          const res = m.result;
          script.push(m.scripts.usecPerCall / 1000);
          assertClean(name, res);
          runs.push(res);
        }
        addRow(ctx, {
          section: S,
          measure: `${name}, ${label} live`,
          value: summarize(runs.map((x) => x.rps)),
          unit: 'req/s',
          note: `p50 ${summarize(runs.map((x) => x.p50)).median.toFixed(1)} ms per call; Redis ${fmt(summarize(script).median)} ms per script call (mean; a full listing is many bounded pages)`,
        });
        details[`${name} @${size}`] = runs;
      }
      details[`register @${size}`] = { runs: regRuns, redisMsPerRegister: regRedisMs };
    }
    ctx.details.registry = details;
  } finally {
    await replica.stop();
    await mesh.close();
  }
}
