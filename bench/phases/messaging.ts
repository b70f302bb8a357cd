// 7. Messaging through two replicas: send -> fetch -> ack cycles (closed loop, several workers,
//    each send on replica A and each fetch on replica B), and long-poll wake-up latency: a fetch
//    waiting on replica B is woken by a send that went through replica A (pub/sub between them).
import { JsonClient } from '../lib/http.js';
import { agentId, inFlight, openMesh, registerRaw } from '../lib/mesh.js';
import { startReplica } from '../lib/procs.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { percentile, sleep, sortedCopy, summarize } from '../lib/stats.js';

const NS = 'bench-msg';
const WORKERS = 16;

interface Msg {
  message_id: string;
}

export async function messagingPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const mesh = openMesh(redis.redisUrl, NS, { STALE_TIMEOUT_MS: 3_600_000 });
  await inFlight(0, WORKERS, WORKERS, async (i) => {
    await registerRaw(mesh, agentId('s', i));
    await registerRaw(mesh, agentId('r', i));
  });
  await registerRaw(mesh, 'wake-s');
  await registerRaw(mesh, 'wake-r');
  await mesh.close();
  const env = { STALE_TIMEOUT_MS: 3_600_000 };
  const a = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env, name: 'replica-a' });
  const b = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env, name: 'replica-b' });
  const client = new JsonClient(WORKERS * 2 + 4);
  const S = '7';
  try {
    // Throughput of complete cycles.
    const cycle = async (w: number): Promise<void> => {
      const s = agentId('s', w);
      const r = agentId('r', w);
      await client.ok('POST', `${a.url}/messages/send/${s}`, {
        target_instance: r,
        message_type: 'Query',
        payload: { n: w },
        correlation_id: null,
      });
      const got = await client.ok<{ messages: Msg[] }>('GET', `${b.url}/messages/${r}`);
      if (got.body.messages.length === 0) throw new Error('fetch after send returned nothing');
      await client.ok('POST', `${a.url}/messages/ack/${r}`, { message_ids: got.body.messages.map((m) => m.message_id) });
    };
    const rates: number[] = [];
    const p99s: number[] = [];
    for (let run = -1; run < opts.runs; run++) {
      const seconds = run < 0 ? opts.warmup : opts.duration;
      const end = performance.now() + seconds * 1000;
      const times: number[] = [];
      await Promise.all(
        Array.from({ length: WORKERS }, async (_, w) => {
          while (performance.now() < end) {
            const t0 = performance.now();
            await cycle(w);
            times.push(performance.now() - t0);
          }
        }),
      );
      if (run < 0) continue;
      rates.push(times.length / seconds);
      p99s.push(percentile(sortedCopy(times), 99));
    }
    addRow(ctx, {
      section: S,
      measure: `send -> fetch -> ack cycles (${WORKERS} workers, 2 replicas)`,
      value: summarize(rates),
      unit: 'msg/s',
      note: `cycle p99 ${fmt(summarize(p99s).median)} ms (3 HTTP calls)`,
    });

    // Long-poll wake-up through the other replica.
    const wake: number[] = [];
    const sendLat: number[] = [];
    for (let t = 0; t < opts.wakeTrials + 5; t++) {
      const poll = client.ok<{ messages: Msg[] }>('GET', `${b.url}/messages/wake-r?wait=10`, undefined, 15_000);
      await sleep(25); // the long-poll has read Redis and is parked on replica B
      const t0 = performance.now();
      const sent = await client.ok('POST', `${a.url}/messages/send/wake-s`, {
        target_instance: 'wake-r',
        message_type: 'Notification',
        payload: { t },
        correlation_id: null,
      });
      const got = await poll;
      if (got.body.messages.length !== 1) throw new Error(`long-poll returned ${got.body.messages.length} messages`);
      if (t >= 5) {
        wake.push(got.at - t0);
        sendLat.push(sent.at - t0);
      }
      await client.ok('POST', `${a.url}/messages/ack/wake-r`, { message_ids: got.body.messages.map((m) => m.message_id) });
    }
    const sorted = sortedCopy(wake);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    addRow(ctx, {
      section: S,
      measure: `long-poll wake-up, send on A -> waiting fetch on B answers (${wake.length} trials)`,
      value: summarize([p50]),
      unit: 'ms p50',
      note: `send alone p50 ${fmt(percentile(sortedCopy(sendLat), 50))} ms`,
    });
    addRow(ctx, {
      section: S,
      measure: 'long-poll wake-up p99',
      value: summarize([p99]),
      unit: 'ms p99',
      note: `max ${fmt(sorted[sorted.length - 1]!)} ms`,
    });
    addTarget(ctx, {
      target: 'long-poll wake-up p99 < 20 ms through another replica',
      measured: `p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms`,
      met: p99 < 20,
    });
    ctx.details.messaging = { rates, p99s, wake, sendLat };
  } finally {
    client.close();
    await Promise.all([a.stop(), b.stop()]);
  }
}
