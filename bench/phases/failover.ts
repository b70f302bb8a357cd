// 8. Leader failover through two replicas with a short STALE_TIMEOUT_MS and heartbeat interval:
//    - lapse: the leader stops heartbeating; the others keep their interval; measured from the
//      moment the leader's last heartbeat was sent to the first heartbeat answer (of another
//      member) naming a new leader: what agents actually see.
//    - graceful: DELETE of the leader on replica 1, then the leader as seen on replica 2.
import { JsonClient } from '../lib/http.js';
import { startReplica, type Child } from '../lib/procs.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { percentile, sleep, sortedCopy, summarize } from '../lib/stats.js';

const NS = 'bench-failover';

interface HbAnswer {
  leader_id: string | null;
}

export async function failoverPhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  const stale = opts.failoverStaleMs;
  const interval = opts.failoverIntervalMs;
  const env = { STALE_TIMEOUT_MS: stale, HEARTBEAT_INTERVAL_MS: interval };
  const r1 = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env, name: 'replica-1' });
  const r2 = await startReplica({ redisUrl: redis.redisUrl, namespace: NS, env, name: 'replica-2' });
  const client = new JsonClient(16);
  const register = (via: Child, id: string) =>
    client.ok<{ leader_id: string | null }>('POST', `${via.url}/registry/register`, {
      instance_id: id,
      hostname: 'agent-host.example.internal',
      port: 8080,
      capabilities: ['x'],
      agent_profiles: [],
    });
  const heartbeat = (via: Child, id: string) =>
    client.request<HbAnswer>('POST', `${via.url}/registry/heartbeat/${id}`, { status: 'ready', metrics: null });
  const S = '8';
  try {
    const lapse: number[] = [];
    for (let t = 0; t < opts.failoverTrials; t++) {
      const [a, b, c] = ['a', 'b', 'c'].map((x) => `fo${t}-${x}`) as [string, string, string];
      const reg = await register(r1, a);
      if (reg.body.leader_id !== a) throw new Error(`trial ${t}: expected ${a} to lead, got ${reg.body.leader_id}`);
      await register(r2, b);
      await register(r1, c);
      // The followers heartbeat on their own interval, with random phases, via both replicas.
      let stop = false;
      let lastLeaderSent = 0;
      let seenAt = 0;
      const follower = async (id: string, via: Child) => {
        await sleep(Math.random() * interval);
        while (!stop) {
          const next = performance.now() + interval;
          const res = await heartbeat(via, id);
          if (lastLeaderSent > 0 && seenAt === 0 && res.body.leader_id !== null && res.body.leader_id !== a) seenAt = res.at;
          await sleep(Math.max(0, next - performance.now()));
        }
      };
      const loops = [follower(b, r1), follower(c, r2)];
      for (let k = 0; k < 3; k++) {
        await sleep(interval);
        lastLeaderSent = performance.now();
        const res = await heartbeat(k % 2 === 0 ? r1 : r2, a);
        if (res.status !== 200) throw new Error(`trial ${t}: leader heartbeat answered ${res.status}`);
      }
      const deadline = performance.now() + stale + interval * 5;
      while (seenAt === 0 && performance.now() < deadline) await sleep(5);
      stop = true;
      await Promise.all(loops);
      if (seenAt === 0) throw new Error(`trial ${t}: no new leader seen within ${stale + interval * 5} ms`);
      lapse.push(seenAt - lastLeaderSent);
      for (const id of [a, b, c]) await client.request('DELETE', `${r1.url}/registry/deregister/${id}`);
    }

    const graceful: number[] = [];
    for (let t = 0; t < opts.failoverTrials; t++) {
      const [a, b, c] = ['a', 'b', 'c'].map((x) => `gd${t}-${x}`) as [string, string, string];
      await register(r1, a);
      await register(r2, b);
      await register(r1, c);
      const t0 = performance.now();
      const del = await client.request('DELETE', `${r1.url}/registry/deregister/${a}`);
      if (del.status !== 204) throw new Error(`graceful trial ${t}: DELETE answered ${del.status}`);
      const seen = await client.ok<{ leader_id: string | null }>('GET', `${r2.url}/registry/leader`);
      if (seen.body.leader_id !== b) throw new Error(`graceful trial ${t}: leader ${seen.body.leader_id}, expected ${b}`);
      graceful.push(seen.at - t0);
      for (const id of [b, c]) await client.request('DELETE', `${r1.url}/registry/deregister/${id}`);
    }

    const bound = stale + interval;
    const lapseS = summarize(lapse);
    const frac = summarize(lapse.map((x) => x / bound));
    const maxFrac = Math.max(...lapse) / bound;
    const gSorted = sortedCopy(graceful);
    addRow(ctx, {
      section: S,
      measure: `failover after the leader's last heartbeat (${lapse.length} trials)`,
      value: lapseS,
      unit: 'ms',
      note: `stale ${stale} ms, interval ${interval} ms`,
    });
    addRow(ctx, {
      section: S,
      measure: 'failover / (stale + interval)',
      value: frac,
      unit: 'x',
      note: "seen in the other members' heartbeat answers",
    });
    addRow(ctx, {
      section: S,
      measure: `failover on graceful deregister (${graceful.length} trials)`,
      value: summarize(graceful),
      unit: 'ms',
      note: `DELETE on replica 1 + GET /registry/leader on replica 2; p99 ${fmt(percentile(gSorted, 99))} ms`,
    });
    addTarget(ctx, {
      target: 'failover after a lapse <= stale + one heartbeat interval',
      measured: `median ${fmt(lapseS.median)} ms, max ${fmt(lapseS.max)} ms = ${fmt(maxFrac)}x of ${bound} ms`,
      met: maxFrac <= 1.0,
    });
    addTarget(ctx, {
      target: 'failover on graceful deregister < 50 ms',
      measured: `median ${fmt(summarize(graceful).median)} ms, max ${fmt(gSorted[gSorted.length - 1]!)} ms`,
      met: gSorted[gSorted.length - 1]! < 50,
    });
    ctx.details.failover = { stale, interval, lapse, graceful };
  } finally {
    client.close();
    await Promise.all([r1.stop(), r2.stop()]);
  }
}
