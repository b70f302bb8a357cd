// Fault 4: SCRIPT FLUSH while agents work (3 replicas behind haproxy, a Redis of its own so the
// flush disturbs no other suite). Every registry operation is a Lua script called with EVALSHA;
// after a flush the first call gets NOSCRIPT and ioredis falls back to EVAL, which loads it again.
// Proves: no request fails, nothing is lost, and the BullMQ maintenance (scripts of its own) keeps
// running: a member that stops heartbeating during the flushes is still cleaned up.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/app.js';
import { startRedisProcess, type RedisProcessHandle } from '../helpers/redis.js';
import { sleep } from './support/http.js';
import { Fleet, startStack, type Stack } from './support/workload.js';

let redis: RedisProcessHandle | undefined;
let admin: Redis | undefined;
let stack: Stack | undefined;
let fleet: Fleet | undefined;
afterAll(async () => {
  await fleet?.stop();
  await stack?.stop();
  admin?.disconnect();
  await redis?.stop();
}, 60_000);

describe('fault: SCRIPT FLUSH under load', () => {
  it('no request fails and maintenance keeps running', async () => {
    redis = await startRedisProcess();
    admin = new Redis(redis.url);
    stack = await startStack({ REDIS_URL: redis.url });
    fleet = new Fleet({ url: stack.url, agents: 6, thinkMs: 80 });
    const f = fleet;
    await f.start();
    const quiet = f.agent('quiet', { consume: false });
    await quiet.start();

    let flushes = 0;
    await f.run(12_000, async () => {
      await sleep(1500);
      quiet.heartbeatsPaused = true; // lapses after STALE_TIMEOUT_MS (6 s), cleanup must remove it
      const until = Date.now() + 9000;
      while (Date.now() < until) {
        expect(await admin!.script('FLUSH')).toBe('OK');
        flushes++;
        await sleep(250);
      }
    });
    const missing = await f.drain(15_000);
    const report = f.report();
    console.log('[script-flush]', JSON.stringify({ flushes, ...report }));

    expect(flushes).toBeGreaterThan(20);
    expect(f.log.failures).toEqual([]);
    expect(missing).toEqual({ targeted: [], broadcasts: [] });
    expect(f.ledger.wrong).toEqual([]);
    expect(report.fifoViolations).toBe(0);
    expect(report.targetedAcked).toBeGreaterThan(200);
    expect(report.reregistrations).toBe(0);
    // The maintenance job (BullMQ, its own Lua scripts) still ran after the flushes.
    await eventually(async () => (await admin!.exists(`mesh:{${stack!.namespace}}:inst:quiet`)) === 0, 20_000, 200);
    expect(f.safety.violations()).toEqual([]);
  }, 120_000);
});
