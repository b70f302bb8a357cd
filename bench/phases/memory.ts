// 5. Redis memory per live instance (3 capabilities, 2 profiles, status + small metrics) from the
//    INFO memory delta over many registrations through the register + heartbeat scripts, with a
//    breakdown from MEMORY USAGE; and bytes per pending message.
import { agentId, inFlight, openMesh, populate } from '../lib/mesh.js';
import { usedMemory } from '../lib/redis-info.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const NS = 'bench-mem';

async function settledMemory(ctx: BenchContext): Promise<number> {
  // Let lazy frees and the allocator settle so deltas do not carry transient buffers.
  await ctx.redis.client.memory('PURGE').catch(() => undefined);
  return usedMemory(ctx.redis.client);
}

export async function memoryPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const n = opts.memoryInstances;
  const mesh = openMesh(redis.redisUrl, NS, { STALE_TIMEOUT_MS: 3_600_000, INBOX_MAX: 1_000_000 });
  const S = '5';
  try {
    // The namespace's fixed keys (term, leader, events stream, broadcast stream) exist after the
    // first registration: start the delta there.
    await populate(mesh, 'm', 0, 1);
    const before = await settledMemory(ctx);
    await populate(mesh, 'm', 1, n + 1);
    const after = await settledMemory(ctx);
    const perInstance = (after - before) / n;

    const sample = agentId('m', Math.floor(n / 2));
    const k = mesh.keys;
    const usage = async (key: string) => Number((await redis.client.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
    const breakdown = {
      'inst hash (one record)': await usage(k.inst(sample)),
      'deadlines zset / n': (await usage(k.deadlines)) / n,
      'joined zset / n': (await usage(k.joined)) / n,
      'capability indexes (3 zsets by join order) / n':
        ((await usage(k.cap('code-review'))) + (await usage(k.cap('summarize'))) + (await usage(k.cap('search')))) / n,
      'broadcast bookkeeping (bload + bfloor) / n': ((await usage(k.broadcastLoad)) + (await usage(k.broadcastFloor))) / n,
      'events stream (capped) / n': (await usage(k.events)) / n,
    };
    addRow(ctx, {
      section: S,
      measure: `Redis memory per live instance (INFO delta over ${fmt(n)})`,
      value: summarize([perInstance]),
      unit: 'bytes',
      note: '3 caps, 2 profiles, status + 3 metrics',
    });
    for (const [what, bytes] of Object.entries(breakdown)) {
      addRow(ctx, { section: S, measure: `  of which ${what}`, value: summarize([bytes]), unit: 'bytes', note: 'MEMORY USAGE' });
    }
    addTarget(ctx, {
      target: '<= 1 KiB Redis memory per live instance (3 caps, 2 profiles)',
      measured: `${fmt(perInstance)} bytes`,
      met: perInstance <= 1024,
    });

    // Pending messages: a typical small payload, spread over 100 receivers.
    const m = opts.memoryMessages;
    const payload = { task: 'summarize', doc: 'https://example.com/reports/q3.pdf', priority: 2 };
    const sender = agentId('m', 0);
    const before2 = await settledMemory(ctx);
    await inFlight(0, m, 64, (i) =>
      mesh.messages.send(sender, {
        target_instance: agentId('m', 1 + (i % 100)),
        message_type: 'TaskDelegation',
        payload,
        correlation_id: null,
      }),
    );
    const after2 = await settledMemory(ctx);
    const perMessage = (after2 - before2) / m;
    const stored = JSON.stringify({
      message_id: '0190c2a4-7b7e-7cc0-8000-000000000000',
      source_instance: sender,
      message_type: 'TaskDelegation',
      payload,
      correlation_id: null,
    }).length;
    addRow(ctx, {
      section: S,
      measure: `Redis memory per pending message (INFO delta over ${fmt(m)})`,
      value: summarize([perMessage]),
      unit: 'bytes',
      note: `stored body ${stored} bytes (payload ${JSON.stringify(payload).length})`,
    });
    ctx.details.memory = { n, before, after, perInstance, breakdown, messages: m, perMessage, storedBody: stored };
  } finally {
    await mesh.close();
  }
}
