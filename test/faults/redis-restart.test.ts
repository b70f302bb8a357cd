// Fault 2: Redis restarts under load (its own redis-server process, 3 replicas behind haproxy).
//   - With AOF (appendfsync always) and a crash (SIGKILL): registrations, leader, term and queued
//     messages all survive; no agent has to register again; nothing acknowledged is lost.
//   - Without persistence: Redis comes back empty. Agents learn it from their next heartbeat (404)
//     and register again within one heartbeat interval of Redis answering; a new leader is elected
//     (with a term above every earlier one: terms restart from Redis' clock, not from 1). Messages queued before the restart are gone, as
//     documented; everything acknowledged after it is delivered.
// Neither case ever answers 500: while Redis is away requests get 503 + Retry-After (or the load
// balancer's 502/503 once it has taken the replicas out).
// Standalone by nature (it restarts one redis-server), so it brings its own and runs on every
// TEST_TOPOLOGY.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/app.js';
import { startRedisProcess, type RedisProcessHandle } from '../helpers/redis.js';
import type { FaultAgent } from './support/agents.js';
import { sleep } from './support/http.js';
import { Fleet, startStack, type Stack } from './support/workload.js';

const HEARTBEAT_MS = 1000;

let redis: RedisProcessHandle | undefined;
let stack: Stack | undefined;
let fleet: Fleet | undefined;
const extras: FaultAgent[] = [];
afterEach(async () => {
  await fleet?.stop(extras.splice(0));
  await stack?.stop();
  await redis?.stop();
  fleet = undefined;
  stack = undefined;
  redis = undefined;
}, 60_000);

/** Failures while Redis is away must be "try again" answers; a 503 from a replica carries Retry-After. */
function expectOnlyUnavailable(f: Fleet): void {
  for (const fail of f.log.failures) {
    expect([0, 502, 503, 504], JSON.stringify(fail)).toContain(fail.status);
    const fromReplica = fail.status === 503 && fail.body?.includes('"code":"unavailable"');
    if (fromReplica) expect(fail.retryAfter, JSON.stringify(fail)).not.toBeNull();
  }
}

describe('fault: Redis restart', () => {
  it('with AOF persistence: registry state, leader, term and queued messages survive a crash', async () => {
    redis = await startRedisProcess({ persistence: true });
    stack = await startStack({ REDIS_URL: redis.url });
    fleet = new Fleet({ url: stack.url, agents: 5, heartbeatMs: HEARTBEAT_MS });
    const f = fleet;
    await f.start();
    // A mailbox that never fetches: what is queued for it must still be there after the crash.
    const mailbox = f.agent('mailbox', { consume: false });
    extras.push(mailbox);
    await mailbox.start();
    const sender = f.agents[0]!;
    for (let i = 0; i < 50; i++) expect(await sender.send('mailbox', `box:${i}`)).toBe(true);

    const before = await f.listed();
    type Peek = { messages: { message_id: string; payload: { k?: string } | null }[] };
    // The mailbox also gets the fleet's broadcasts; the 50 targeted ones are what we follow.
    const boxed = (p: Peek | null) => (p?.messages ?? []).filter((m) => m.payload?.k?.startsWith('box:')).map((m) => m.message_id);
    const queued = await f.api.call<Peek>('peek', 'GET', '/messages/mailbox?limit=1000');
    expect(boxed(queued.body)).toHaveLength(50);

    let restartedAt = 0;
    let backAt = 0;
    await f.run(14_000, async () => {
      await sleep(4000);
      restartedAt = Date.now();
      await redis!.restart({ signal: 'SIGKILL' });
      backAt = Date.now();
    });
    const missing = await f.drain(20_000);
    const after = await f.listed();
    const kept = await f.api.call<Peek>('peek', 'GET', '/messages/mailbox?limit=1000');
    const report = f.report();
    console.log('[redis-restart aof]', JSON.stringify({ downMs: backAt - restartedAt, ...report }));

    expect(after.ids.sort()).toEqual(before.ids.sort());
    expect(after.leader).toBe(before.leader);
    expect(after.term).toBe(before.term);
    expect(boxed(kept.body)).toEqual(boxed(queued.body));
    expect(report.reregistrations).toBe(0);
    expect(missing).toEqual({ targeted: [], broadcasts: [] });
    expect(f.ledger.wrong).toEqual([]);
    expect(report.fifoViolations).toBe(0);
    expect(report.sendGaveUp + report.requestGaveUp).toBe(0);
    expectOnlyUnavailable(f);
    expect(f.safety.violations()).toEqual([]);
  }, 120_000);

  it('without persistence: agents re-register within one heartbeat interval and a new leader is elected', async () => {
    redis = await startRedisProcess({ persistence: false });
    stack = await startStack({ REDIS_URL: redis.url });
    fleet = new Fleet({
      url: stack.url,
      agents: 5,
      heartbeatMs: HEARTBEAT_MS,
      // Redis forgot everyone: "register again" answers are the expected signal, not failures.
      expected: (op, status) => status === 404 || (status === 400 && op !== 'register'),
      // The events feed starts over with Redis' data: JSON pages restart from 0 per epoch.
      feed: 'json',
    });
    const f = fleet;
    await f.start();
    // What is queued and not yet fetched when Redis loses its data is gone with it (documented).
    const mailbox = f.agent('mailbox', { consume: false });
    extras.push(mailbox);
    await mailbox.start();
    for (let i = 0; i < 20; i++) expect(await f.agents[0]!.send('mailbox', `box:${i}`)).toBe(true);
    const before = await f.listed();
    expect(before.leader).toBe('a0');

    let wipedFrom = 0;
    let backAt = 0;
    let allBackAt = 0;
    let afterRestart: Awaited<ReturnType<Fleet['listed']>> | null = null;
    await f.run(12_000, async () => {
      await sleep(3000);
      wipedFrom = Date.now();
      await redis!.restart();
      backAt = Date.now();
      f.epoch++;
      f.safety.newEpoch(wipedFrom, backAt);
      // Poll until every agent is registered again (through the load balancer).
      for (;;) {
        const l = await f.listed().catch(() => null);
        if (l && f.agents.every((a) => l.ids.includes(a.id))) {
          allBackAt = Date.now();
          afterRestart = l;
          break;
        }
        if (Date.now() - backAt > 15_000) throw new Error(`agents not back 15 s after Redis: ${JSON.stringify(l)}`);
        await sleep(50);
      }
    });
    const reRegisterMs = allBackAt - backAt;
    await eventually(async () => mailbox.reregistrations >= 1 && mailbox.registered, 10_000, 50);
    const boxAfter = await f.api.call<{ messages: { payload: { k?: string } | null }[] }>('peek', 'GET', '/messages/mailbox?limit=1000');
    const boxKept = (boxAfter.body?.messages ?? []).filter((m) => m.payload?.k?.startsWith('box:')).length;
    // Messages acknowledged after everyone was back must all arrive.
    const lateKeys = [...f.ledger.targeted.entries()].filter(([, v]) => v.ackedAt > allBackAt + 1000);
    const lostLate = (await f.drain(15_000, { ackedAfter: allBackAt + 1000 })).targeted;
    const lostEarly = [...f.ledger.targeted.entries()].filter(([k, v]) => v.ackedAt <= wipedFrom && !f.ledger.has(v.to, k));
    const report = f.report();
    console.log(
      '[redis-restart no-aof]',
      JSON.stringify({
        downMs: backAt - wipedFrom,
        reRegisterMs,
        mailboxKept: boxKept,
        lostBeforeWipe: lostEarly.length,
        after: afterRestart,
        ...report,
      }),
    );

    // Within one heartbeat interval of Redis answering again (+1 s for the replicas' reconnect
    // backoff and this 2-core machine's scheduling).
    expect(reRegisterMs).toBeLessThanOrEqual(HEARTBEAT_MS + 1000);
    const l = afterRestart as unknown as Awaited<ReturnType<Fleet['listed']>>;
    expect(l.leader).not.toBeNull();
    expect(f.agents.map((a) => a.id)).toContain(l.leader);
    expect(report.reregistrations).toBeGreaterThanOrEqual(f.agents.length);
    // A new election happened on the empty Redis: its term is above the one before the loss.
    expect(l.term).toBeGreaterThan(before.term ?? Number.POSITIVE_INFINITY);
    expect(lateKeys.length).toBeGreaterThan(20);
    expect(lostLate).toEqual([]);
    // The mailbox re-registered as a new member; its 20 queued messages went with the old data.
    expect(boxKept).toBe(0);
    expect(f.ledger.wrong).toEqual([]);
    expect(report.fifoViolations).toBe(0);
    expectOnlyUnavailable(f);
    expect(f.safety.violations()).toEqual([]);
  }, 120_000);
});
