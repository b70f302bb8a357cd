// Fault 3: Sentinel failover (SENTINEL FAILOVER mymaster) while agents work through haproxy in
// front of 3 replicas on a Sentinel set-up of its own (1 master + 1 replica + 3 sentinels).
//   - The service keeps answering: while the master switches, a request gets at worst 503 with
//     Retry-After (or the load balancer's 502/503/504); never a 500. Nothing gives up.
//   - Acknowledged writes lost: Redis replicates asynchronously and the old master keeps accepting
//     writes until the replicas' clients follow the switch (failoverDetector: on +switch-master),
//     so writes acknowledged in that window exist only on the old master and are gone. Mailbox
//     agents (never fetching during the run) keep what was queued for them in Redis, so such a
//     write cannot hide behind a consumer that read it before it vanished. We count acknowledged
//     messages that never arrive and check they all fall in the switch window; the figures are
//     in docs/reliability.md.
//   (`min-replicas-to-write 1` would close that window, but with a single replica the promoted
//   master refuses every write until Sentinel demotes the old one ~10 s later: measured, every
//   agent lapsed. See docs/reliability.md.)
//   - With REDIS_SYNC_REPLICAS=1 the same run loses nothing: a write is acknowledged only once
//     the replica has it, and the replica is what gets promoted. Writes the replica did not
//     confirm (the old master's after the promotion, the new master's until it has a replica
//     again) are answered 503 not_replicated and retried with their Idempotency-Key, so a refused
//     write that survived after all is never queued a second time. Heartbeats do not wait for
//     replicas: nobody lapses.
// The fault needs Sentinel, so the tests bring their own whatever TEST_TOPOLOGY is.
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/procs.js';
import { startSentinel, type HostPort, type SentinelTopology } from '../helpers/topology.js';
import { sleep } from './support/http.js';
import { Fleet, startStack, type Stack } from './support/workload.js';

/**
 * Documented bound (docs/reliability.md): only writes acknowledged inside the switch window (from
 * SENTINEL FAILOVER until every sentinel reports the new master, plus a grace for the replicas to
 * follow) may be lost, and at most this share of all acknowledged ones in the run. The grace is
 * 1 s on a quiet machine; 3 s here because a loaded 2-core CI box delays the replicas' sentinel
 * polling (seen: a loss acknowledged at +2.4 s with the switch reported at +1.3 s).
 */
const SWITCH_GRACE_MS = 3000;
const MAX_LOST_SHARE = 0.1;

let topo: SentinelTopology | undefined;
let stack: Stack | undefined;
let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  await stack?.stop();
  await topo?.stop();
  fleet = undefined;
  stack = undefined;
  topo = undefined;
}, 60_000);

/** Names of our replicas' connections still open on `node` (CLIENT LIST). */
async function ourClientsOn(node: HostPort): Promise<number> {
  const c = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    const list = String(await c.call('CLIENT', 'LIST', 'TYPE', 'normal'));
    return list.split('\n').filter((l) => / name=agent-mesh:/.test(l)).length;
  } catch {
    return 0;
  } finally {
    c.disconnect();
  }
}

async function failoverUnderLoad(
  label: string,
  dataConfig: string[] = [],
  opts: { env?: Record<string, string>; idempotencyKeys?: boolean } = {},
) {
  topo = await startSentinel({ dataConfig });
  stack = await startStack(topo.env, { env: opts.env ?? {} });
  fleet = new Fleet({
    idempotencyKeys: opts.idempotencyKeys ?? false,
    url: stack.url,
    agents: 6,
    mailboxes: 2,
    thinkMs: 60,
    // A registration written to the old master in the switch window can vanish too: the agent's
    // next heartbeat gets 404 and it registers again (counted, not a failure).
    expected: (_op, status) => status === 404,
  });
  const f = fleet;
  await f.start();

  let switched: Awaited<ReturnType<SentinelTopology['failover']>> | null = null;
  let failoverAt = 0;
  await f.run(14_000, async () => {
    await sleep(4000);
    failoverAt = Date.now();
    switched = await topo!.failover({ waitReady: false });
  });
  const sw = switched as unknown as { from: HostPort; to: HostPort; ms: number };
  // Every replica must have left the old master (reads from it would show writes the new master
  // never got); after that what is missing on the new master is lost.
  await waitUntil(
    async () => (await ourClientsOn(sw.from)) === 0,
    30_000,
    () => `replicas still connected to the old master ${sw.from.port}`,
    200,
  );
  const missing = await f.drain(15_000);
  const listed = await f.listed();
  const report = f.report();
  const acked = report.targetedAcked + report.broadcastsAcked;
  const lostKeys = [...new Set([...missing.targeted, ...missing.broadcasts].map((m) => m.split(' -> ')[0] as string))];
  const ackedAt = (k: string) => f.ledger.targeted.get(k)?.ackedAt ?? f.ledger.broadcasts.get(k)?.ackedAt ?? 0;
  const lostOffsets = lostKeys.map((k) => ackedAt(k) - failoverAt).sort((a, b) => a - b);
  const non2xx = f.log.failures.reduce<Record<string, number>>((acc, x) => {
    const k = `${x.op} ${x.status}${x.retryAfter ? ' retry-after' : ''}`;
    acc[k] = (acc[k] ?? 0) + 1;
    return acc;
  }, {});
  // Writes the replicas did not confirm in time (REDIS_SYNC_REPLICAS): refused, never acknowledged.
  const refused = f.log.failures.filter((x) => x.status === 503 && x.body?.includes('"code":"not_replicated"'));
  const refusedAt = refused.map((x) => x.receivedAt - failoverAt);
  const refusedSpan = refusedAt.length > 0 ? [Math.min(...refusedAt), Math.max(...refusedAt)] : null;
  console.log(
    `[sentinel-failover ${label}]`,
    JSON.stringify({ switchMs: sw.ms, acked, lost: lostKeys.length, lostOffsets, refused: refused.length, refusedSpan, non2xx, ...report }),
  );

  // Never a 500; a replica's 503 carries Retry-After.
  for (const fail of f.log.failures) {
    expect([0, 502, 503, 504], JSON.stringify(fail)).toContain(fail.status);
    if (fail.status === 503 && /"code":"(unavailable|not_replicated)"/.test(fail.body ?? '')) expect(fail.retryAfter).not.toBeNull();
  }
  // The service kept working: traffic went through (enough of it for the loss figures to mean
  // something; how much depends on the machine - about 320 in the sync run alone, under 290 next
  // to the browser tests), and nothing gave up.
  expect(acked).toBeGreaterThan(100);
  expect(report.sendGaveUp + report.requestGaveUp).toBe(0);
  expect(f.ledger.wrong).toEqual([]);
  expect(report.fifoViolations).toBe(0);
  for (const a of [...f.agents, ...f.mailboxes]) expect(listed.ids).toContain(a.id);
  expect(f.safety.violations()).toEqual([]);
  // Sends whose message a recipient got under two ids, with how their first attempt went.
  const queuedTwice = f.ledger.queuedTwice().map((q) => {
    const key = q.slice(q.indexOf('<-') + 2, q.lastIndexOf(' x'));
    const first = f.ledger.attempts.get(key)?.[0];
    return { q, firstStatus: first?.status ?? null, firstAt: first ? first.sentAt - failoverAt : null };
  });
  if (queuedTwice.length > 0) console.log(`[sentinel-failover ${label}] queued twice:`, JSON.stringify(queuedTwice));
  return { acked, lostOffsets, windowEnd: sw.ms + SWITCH_GRACE_MS, non2xx, refused: refused.length, queuedTwice, report };
}

describe('fault: Sentinel failover under load', () => {
  it('keeps answering (never 500); only writes acknowledged during the switch can be lost', async () => {
    const r = await failoverUnderLoad('default');
    for (const off of r.lostOffsets) {
      expect(off, `lost write acknowledged at +${off} ms`).toBeGreaterThanOrEqual(0);
      expect(off, `lost write acknowledged at +${off} ms`).toBeLessThanOrEqual(r.windowEnd);
    }
    expect(r.lostOffsets.length / r.acked).toBeLessThanOrEqual(MAX_LOST_SHARE);
  }, 120_000);

  it('with REDIS_SYNC_REPLICAS=1 loses no acknowledged write; refused writes are retried with their Idempotency-Key', async () => {
    const r = await failoverUnderLoad('sync', [], {
      env: { REDIS_SYNC_REPLICAS: '1', REDIS_SYNC_TIMEOUT_MS: '500' },
      idempotencyKeys: true,
    });
    expect(r.lostOffsets, 'acknowledged writes lost').toEqual([]);
    // The option did its job in this run: writes the replica could not confirm were refused...
    expect(r.refused).toBeGreaterThan(0);
    // ...and retried with the same Idempotency-Key, which returns the first attempt's message when
    // it survived. One that did not survive - applied by the old master in the switch window and
    // read there by its recipients before they followed the switch - is queued again by the retry
    // (the old master's history is discarded, its key record with it): only such sends, refused
    // at their first attempt inside the switch window, may reach a recipient under two ids.
    for (const d of r.queuedTwice) {
      expect(d.firstStatus, JSON.stringify(d)).toBe(503);
      expect(d.firstAt!, JSON.stringify(d)).toBeGreaterThanOrEqual(0);
      expect(d.firstAt!, JSON.stringify(d)).toBeLessThanOrEqual(r.windowEnd);
    }
    // Heartbeats do not wait for replicas: nobody lapsed and had to register again.
    expect(r.report.reregistrations).toBe(0);
  }, 180_000);
});
