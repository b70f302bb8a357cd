// 4. Redis cost per operation: each script called directly (the replicas' own code, no HTTP)
//    against a namespace with a realistic population, CONFIG RESETSTAT before each kind, then
//    INFO commandstats (usec per EVALSHA, the script's inner commands included) and INFO cpu
//    (the server's whole CPU: protocol parsing and socket I/O too). Projects agents per shard.
import { agentId, inFlight, METRICS, openMesh, populate, STATUS } from '../lib/mesh.js';
import { measureRedis, type CommandStat } from '../lib/redis-info.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { summarize, type Summary } from '../lib/stats.js';

const NS = 'bench-cost';
const POPULATION = 10_000;
const INTERVAL_S = 5;

const MINIMAL_LUA = `
redis.call('HSET', KEYS[1], 'hb', ARGV[2], 'status', ARGV[3], 'metrics', ARGV[4])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2] + ARGV[1], ARGV[5])
return 1`;

interface Kind {
  usec: number[];
  cpu: number[];
}

export async function redisCostPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const mesh = openMesh(redis.redisUrl, NS, { STALE_TIMEOUT_MS: 3_600_000, INBOX_MAX: 100_000 });
  mesh.redis.defineCommand('benchMinimal', { numberOfKeys: 3, lua: MINIMAL_LUA });
  const minimal = (mesh.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>).benchMinimal!.bind(mesh.redis);
  await populate(mesh, 'cost', 0, POPULATION);
  const calls = opts.costCalls;
  const msgs = Math.min(calls, POPULATION - 1);
  const sender = agentId('cost', POPULATION - 1);
  const kinds: Record<string, Kind> = {};
  const record = (name: string, s: { scripts: CommandStat; cpuSec: number }) => {
    const k = (kinds[name] ??= { usec: [], cpu: [] });
    k.usec.push(s.scripts.usecPerCall);
    k.cpu.push((s.cpuSec * 1e6) / Math.max(1, s.scripts.calls));
  };
  try {
    for (let r = 0; r < opts.runs; r++) {
      // One at a time: every call carries one heartbeat (what a lightly loaded replica sends).
      record(
        'heartbeat',
        await measureRedis(redis.client, () =>
          inFlight(0, calls / 4, 1, (i) => mesh.instances.heartbeat(agentId('cost', i % POPULATION), STATUS, METRICS)),
        ),
      );
      // 64 in flight: the replica batches them per event-loop turn, as under load.
      const batched = await measureRedis(redis.client, () =>
        inFlight(0, calls, 64, (i) => mesh.instances.heartbeat(agentId('cost', i % POPULATION), STATUS, METRICS)),
      );
      const k = (kinds.batched ??= { usec: [], cpu: [] });
      k.usec.push(batched.scripts.usec / calls);
      k.cpu.push((batched.cpuSec * 1e6) / calls);
      (kinds.batchSize ??= { usec: [], cpu: [] }).usec.push(calls / Math.max(1, batched.scripts.calls));
      record(
        'minimal',
        await measureRedis(redis.client, () =>
          inFlight(0, calls, 64, (i) => {
            const id = agentId('min', i % POPULATION);
            return minimal(
              `min:{b}:inst:${id}`,
              `min:{b}:alive:${id}`,
              'min:{b}:deadlines',
              15000,
              Date.now(),
              STATUS,
              JSON.stringify(METRICS),
              id,
            );
          }),
        ),
      );
      // One message to each of `msgs` receivers, then each fetches (1 pending) and acks it.
      const sent: string[] = new Array<string>(msgs);
      record(
        'send',
        await measureRedis(redis.client, () =>
          inFlight(0, msgs, 64, async (i) => {
            const res = await mesh.messages.send(sender, {
              target_instance: agentId('cost', i),
              message_type: 'Query',
              payload: { q: 'status?', n: i },
              correlation_id: null,
            });
            sent[i] = res.message_id;
          }),
        ),
      );
      record(
        'fetch',
        await measureRedis(redis.client, () =>
          inFlight(0, msgs, 64, async (i) => {
            const got = await mesh.messages.fetch(agentId('cost', i), 100);
            if (got.length !== 1) throw new Error(`fetch: expected 1 message, got ${got.length}`);
          }),
        ),
      );
      record(
        'ack',
        await measureRedis(redis.client, () => inFlight(0, msgs, 64, (i) => mesh.messages.ack(agentId('cost', i), [sent[i]!]))),
      );
    }
  } finally {
    await mesh.close();
  }

  const S = '4';
  const hb = summarize(kinds.heartbeat!.usec);
  const batched = summarize(kinds.batched!.usec);
  const note = `direct calls, ${POPULATION / 1000}k live`;
  addRow(ctx, { section: S, measure: 'heartbeat script, one heartbeat per call (commandstats)', value: hb, unit: 'us/call', note });
  addRow(ctx, {
    section: S,
    measure: 'minimal HSET+SET PX+ZADD script (commandstats)',
    value: summarize(kinds.minimal!.usec),
    unit: 'us/call',
    note: 'reference',
  });
  addRow(ctx, {
    section: S,
    measure: 'heartbeat (one per call) / minimal script',
    value: summarize(kinds.heartbeat!.usec.map((u, i) => u / kinds.minimal!.usec[i]!)),
    unit: 'x',
  });
  addRow(ctx, {
    section: S,
    measure: 'heartbeat script per heartbeat, 64 in flight (batched)',
    value: batched,
    unit: 'us',
    note: `${fmt(summarize(kinds.batchSize!.usec).median)} heartbeats per call`,
  });
  addRow(ctx, {
    section: S,
    measure: 'Redis CPU per heartbeat, 64 in flight (INFO cpu)',
    value: summarize(kinds.batched!.cpu),
    unit: 'us',
    note: 'whole server: parsing and socket I/O included',
  });
  const perShard = (s: Summary): Summary => summarize(s.runs.map((u) => (1e6 / u) * INTERVAL_S));
  addRow(ctx, {
    section: S,
    measure: `projected agents per shard at ${INTERVAL_S} s, one heartbeat per call`,
    value: perShard(hb),
    unit: 'agents',
    note: 'script time only',
  });
  addRow(ctx, {
    section: S,
    measure: `projected agents per shard at ${INTERVAL_S} s, batched`,
    value: perShard(batched),
    unit: 'agents',
    note: 'script time only',
  });
  addRow(ctx, {
    section: S,
    measure: `projected agents per shard at ${INTERVAL_S} s, batched, whole Redis CPU`,
    value: perShard(summarize(kinds.batched!.cpu)),
    unit: 'agents',
    note: 'the conservative figure',
  });
  for (const k of ['send', 'fetch', 'ack'] as const) {
    addRow(ctx, {
      section: S,
      measure: `${k} script (commandstats)`,
      value: summarize(kinds[k]!.usec),
      unit: 'us/call',
      note: k === 'fetch' ? '1 pending' : k === 'ack' ? '1 id' : 'direct, to a live target',
    });
  }
  const cycle = summarize(kinds.send!.usec.map((u, i) => u + kinds.fetch!.usec[i]! + kinds.ack!.usec[i]!));
  addRow(ctx, {
    section: S,
    measure: 'send+fetch+ack per message (script time)',
    value: cycle,
    unit: 'us',
    note: `~${fmt(1e6 / cycle.median)} messages/s per shard`,
  });

  addTarget(ctx, {
    target: 'Redis <= 20 us per heartbeat script call (>= 250k agents/shard at 5 s)',
    measured: `${fmt(hb.median)} us per call with one heartbeat (${fmt((1e6 / hb.median) * INTERVAL_S)} agents/shard); ${fmt(batched.median)} us per heartbeat batched (${fmt((1e6 / batched.median) * INTERVAL_S)} agents/shard)`,
    met: hb.median <= 20,
  });
  ctx.details.redisCost = kinds;
}
