// Fault 5: Redis freezes (SIGSTOP: the socket stays open, nothing answers) for longer than the
// replicas' command timeout (REDIS_COMMAND_TIMEOUT_MS=300) while agents work through haproxy.
// Proves: requests fail fast (503 + Retry-After well before any client timeout, never 500),
// /readyz answers 503 so the load balancer drains the replicas, and after SIGCONT everything
// recovers by itself: replicas ready again, agents still registered, nothing acknowledged lost.
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/app.js';
import { startRedisProcess, type RedisProcessHandle } from '../helpers/redis.js';
import { Api, CallLog, sleep } from './support/http.js';
import { Fleet, startStack, type Stack } from './support/workload.js';

const COMMAND_TIMEOUT_MS = 300;
const PAUSE_MS = 3500;
/** "Fast": a 503 arrives within this long (the 300 ms command timeout plus scheduling on a busy machine). */
const FAIL_FAST_MS = 2000;

let redis: RedisProcessHandle | undefined;
let stack: Stack | undefined;
let fleet: Fleet | undefined;
afterAll(async () => {
  await redis?.resume();
  await fleet?.stop();
  await stack?.stop();
  await redis?.stop();
}, 60_000);

describe('fault: Redis paused (SIGSTOP) longer than the command timeout', () => {
  it('fails fast with 503 + Retry-After, /readyz 503, recovers by itself after SIGCONT', async () => {
    redis = await startRedisProcess();
    stack = await startStack({ REDIS_URL: redis.url }, { env: { REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) } });
    const s = stack;
    fleet = new Fleet({ url: s.url, agents: 5 });
    const f = fleet;
    await f.start();

    // Probes straight at each replica (the load balancer would hide the replicas' own answers).
    const probeLog = new CallLog();
    const direct = s.replicas.map((r) => new Api(r.url, probeLog));
    const during: { status: number; ms: number; retryAfter: string | null; code: string | null; route: string }[] = [];
    let recoveredMs = -1;
    await f.run(14_000, async () => {
      await sleep(3000);
      await redis!.pause(PAUSE_MS); // SIGSTOP now, SIGCONT after PAUSE_MS (timer)
      const pausedAt = Date.now();
      await sleep(COMMAND_TIMEOUT_MS * 2);
      // Two rounds of probes, each round in parallel so the whole thing stays inside the pause.
      for (let round = 0; round < 2; round++) {
        const probes = direct.flatMap((api) =>
          (
            [
              ['/registry/agents', 'GET', undefined],
              ['/registry/heartbeat/a1', 'POST', { status: 'ok', metrics: null }],
              ['/messages/send/a1', 'POST', { target_instance: 'a2', message_type: 'Notification', payload: null, correlation_id: null }],
              ['/readyz', 'GET', undefined],
            ] as const
          ).map(async ([route, method, body]) => {
            const o = await api.call(route, method, route, body, 10_000);
            const code = (o.body as { code?: string } | null)?.code ?? null;
            during.push({ status: o.status, ms: o.receivedAt - o.sentAt, retryAfter: o.retryAfter, code, route });
          }),
        );
        await Promise.all(probes);
        await sleep(200);
      }
      expect(Date.now() - pausedAt, 'probes outlasted the pause').toBeLessThan(PAUSE_MS);
      await sleep(PAUSE_MS - (Date.now() - pausedAt));
      // Recovers by itself: poll each replica's /readyz until all are ready again.
      const resumedAt = Date.now();
      for (const api of direct) await eventually(async () => (await api.call('readyz', 'GET', '/readyz')).status === 200, 15_000, 20);
      recoveredMs = Date.now() - resumedAt;
    });
    const missing = await f.drain(15_000);
    const listed = await f.listed();
    const report = f.report();
    const worst = Math.max(...during.map((d) => d.ms));
    console.log(
      '[redis-pause]',
      JSON.stringify({ probes: during.length, worstProbeMs: worst, recoveredMs, probeStatuses: probeLog.summary(), ...report }),
    );

    expect(during.length).toBe(24);
    expect(recoveredMs).toBeLessThan(3000);
    for (const d of during) {
      expect(d.status, JSON.stringify(d)).toBe(503);
      expect(d.retryAfter, JSON.stringify(d)).not.toBeNull();
      expect(d.ms, JSON.stringify(d)).toBeLessThan(FAIL_FAST_MS);
      if (d.route !== '/readyz') expect(d.code).toBe('unavailable');
    }
    // Through the load balancer: only "try again" answers, never a 500.
    for (const fail of f.log.failures) expect([0, 502, 503, 504], JSON.stringify(fail)).toContain(fail.status);
    expect(missing).toEqual({ targeted: [], broadcasts: [] });
    expect(f.ledger.wrong).toEqual([]);
    expect(report.fifoViolations).toBe(0);
    for (const a of f.agents) expect(listed.ids).toContain(a.id);
    expect(report.sendGaveUp + report.requestGaveUp).toBe(0);
    expect(f.safety.violations()).toEqual([]);
  }, 120_000);
});
