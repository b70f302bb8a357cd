// Fault 6: clock skew between replicas. Of three replicas behind haproxy, one runs a year ahead
// and one a day behind, under libfaketime (Debian package `faketime`; LD_PRELOAD + FAKETIME, so
// the whole node process, BullMQ included, sees the skewed clock). Every time that matters comes
// from Redis (TIME in the scripts, stream ids for created_at), so nothing changes:
//   - the leader stays the same and the term does not move while agents heartbeat through all three;
//   - liveness: nobody lapses early, and a member that stops heartbeating lapses after
//     STALE_TIMEOUT_MS of real time, whichever replica it used;
//   - created_at follows send order and real time whichever replica queued the message;
//   - maintenance still removes the lapsed member. BullMQ schedules its repeatable job by the
//     replica's clock, so replicas skewed by more than MAX_CLOCK_SKEW_MS stay out of maintenance
//     (found by this test: a replica a year ahead took every tick over, one a day behind never ran one).
// Runs on the run's topology (TEST_TOPOLOGY).
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/app.js';
import { redisEnv } from '../helpers/env.js';
import { createTestClient } from '../helpers/topology.js';
import { Api, CallLog, sleep } from './support/http.js';
import { Fleet, startStack, type Stack } from './support/workload.js';

const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((p) => existsSync(p));

const DAY_MS = 86_400_000;
const SKEWS = [0, 365 * DAY_MS, -DAY_MS];
const STALE_MS = 6000;

function fakeTimeEnv(offsetMs: number): Record<string, string> {
  if (offsetMs === 0 || !LIBFAKETIME) return {};
  const days = offsetMs / DAY_MS;
  return {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME: `${days >= 0 ? '+' : ''}${days}d`,
    // Timers keep real (monotonic) time; only the wall clock is skewed.
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
}

let stack: Stack | undefined;
let fleet: Fleet | undefined;
const redis = createTestClient(redisEnv());
afterAll(async () => {
  await fleet?.stop();
  await stack?.stop();
  redis.disconnect();
}, 60_000);

describe('fault: clock skew between replicas (libfaketime)', () => {
  it('changes nothing: leader, liveness, created_at order, maintenance', async (ctx) => {
    ctx.skip(!LIBFAKETIME, 'libfaketime not installed (apt-get install faketime; .ci/run installs it)');
    stack = await startStack(redisEnv(), { perReplica: (i) => fakeTimeEnv(SKEWS[i] ?? 0) });
    const s = stack;
    const direct = s.replicas.map((r) => new Api(r.url, new CallLog()));

    // The skew is real: each replica's own Date header is off by its offset.
    for (const [i, r] of s.replicas.entries()) {
      const res = await fetch(`${r.url}/livez`);
      const skew = Date.parse(res.headers.get('date') ?? '') - Date.now();
      expect(Math.abs(skew - (SKEWS[i] ?? 0)), `replica ${i} skew ${skew}`).toBeLessThan(60_000);
    }

    fleet = new Fleet({ url: s.url, agents: 5 });
    const f = fleet;
    await f.start();
    const start = await f.listed();
    expect(start.leader).toBe('a0');

    // A member registered and heartbeating through the year-ahead replica, then silent.
    const ahead = direct[1] as Api;
    const quietReg = await ahead.call('register', 'POST', '/registry/register', {
      instance_id: 'quiet',
      hostname: 'quiet.test',
      port: 4000,
      capabilities: [],
      agent_profiles: [],
    });
    expect(quietReg.status).toBe(200);
    let lastBeat = 0;
    let lapsedAfter = -1;
    const order: { key: string; via: number }[] = [];

    await f.run(14_000, async () => {
      for (let i = 0; i < 3; i++) {
        const hb = await ahead.call('heartbeat', 'POST', '/registry/heartbeat/quiet', { status: 'ok', metrics: null });
        expect(hb.status).toBe(200);
        lastBeat = hb.receivedAt;
        await sleep(500);
      }
      // Sequential sends a0 -> a1 through each replica in turn: created_at must follow this order.
      for (let n = 0; n < 30; n++) {
        const via = n % 3;
        const key = `order:${n}`;
        const o = await (direct[via] as Api).call('send', 'POST', '/messages/send/a0', {
          target_instance: 'a1',
          message_type: 'Notification',
          payload: { k: key, to: 'a1', from: 'a0' },
          correlation_id: null,
        });
        expect(o.status).toBe(200);
        order.push({ key, via });
      }
      // The silent member lapses after STALE_MS of real time, seen through the day-behind replica.
      const behind = direct[2] as Api;
      await eventually(async () => (await behind.call('get', 'GET', '/registry/agents/quiet')).status === 404, STALE_MS + 5000, 50);
      lapsedAfter = Date.now() - lastBeat;
    });

    // created_at of the ordered messages as a1 fetched them.
    const a1 = f.agents[1]!;
    const seen = a1.fetchedOrder.get('a0') ?? [];
    const created = order.map(({ key }) => seen.find((e) => e.key === key)?.createdAt ?? 'missing');
    const missing = await f.drain(15_000);
    const end = await f.listed();
    const report = f.report();
    console.log('[clock-skew]', JSON.stringify({ lapsedAfter, firstCreated: created[0], lastCreated: created.at(-1), ...report }));

    // Leader and term never moved; nobody lapsed or re-registered.
    expect(end.leader).toBe('a0');
    expect(f.safety.history().map((h) => `${h.epoch}/${h.term}:${h.leaders.join('|')}`)).toEqual([`0/${start.term}:a0`]);
    expect(f.safety.violations()).toEqual([]);
    expect(report.reregistrations).toBe(0);
    for (const a of f.agents) expect(end.ids).toContain(a.id);
    // Liveness by Redis time: the silent member lapsed after STALE_MS, not a year or a day off.
    expect(lapsedAfter).toBeGreaterThanOrEqual(STALE_MS - 500);
    expect(lapsedAfter).toBeLessThan(STALE_MS + 4000);
    // created_at: in send order, and real time (not the sending replica's).
    expect(created).not.toContain('missing');
    expect([...created].sort()).toEqual(created);
    for (const c of created) expect(Math.abs(Date.parse(c) - Date.now())).toBeLessThan(120_000);
    expect(missing).toEqual({ targeted: [], broadcasts: [] });
    expect(f.log.failures).toEqual([]);
    expect(report.fifoViolations).toBe(0);
    // Maintenance still runs: the lapsed member's record is removed.
    await eventually(async () => (await redis.exists(`mesh:{${s.namespace}}:inst:quiet`)) === 0, 20_000, 200);
    // ... on the replica with the right clock: the skewed ones stay out of it (they would schedule
    // BullMQ's repeatable job by their own clock) and say so. BullMQ keeps the scheduler's next run
    // (ms) as its score in `<prefix>:maintenance:repeat`: real time, not a year or a day off.
    for (const i of [1, 2]) expect(s.replicas[i]!.logs()).toMatch(/takes no part in maintenance/);
    expect(s.replicas[0]!.logs()).not.toMatch(/takes no part in maintenance/);
    const next = Number(await redis.zscore(`mesh:{${s.namespace}}:bull:maintenance:repeat`, 'sweep'));
    expect(Math.abs(next - Date.now())).toBeLessThan(60_000);
  }, 120_000);
});
