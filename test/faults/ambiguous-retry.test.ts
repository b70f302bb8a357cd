// Fault (issue 14, item 5): an ambiguous failure does not duplicate a send retried with its
// Idempotency-Key. Redis freezes (SIGSTOP) while sends are in flight: each replica's command times
// out (REDIS_COMMAND_TIMEOUT_MS) and the client gets 503 - but the send had already been written to
// Redis' socket, and it runs when Redis resumes (the broadcast "answered 503 but delivered to
// every member" of the issue). A retry without a key then queues the message a second time, under
// a second message id; with a key it is answered with the first attempt's result (same message id,
// `Idempotent-Replayed: true`) and queues nothing. Targeted sends and broadcasts, retried on the
// other replica, and the SDK, which retries sends after 5xx by itself with one key per call.
import { afterAll, describe, expect, it } from 'vitest';
import { MeshClient } from '../../sdk/src/index.js';
import { eventually } from '../helpers/app.js';
import { startRedisProcess, type RedisProcessHandle } from '../helpers/redis.js';
import type { WireMessage } from './support/agents.js';
import { Api, retryable, sleep, type Outcome } from './support/http.js';
import { Fleet, startStack, type Stack } from './support/workload.js';

const COMMAND_TIMEOUT_MS = 300;

let redis: RedisProcessHandle | undefined;
let stack: Stack | undefined;
let fleet: Fleet | undefined;
afterAll(async () => {
  await redis?.resume();
  await fleet?.stop();
  await stack?.stop();
  await redis?.stop();
}, 60_000);

interface Attempt {
  key: string;
  to: string | null;
  keyed: boolean;
  /** Replica index of the first attempt; the retry goes to the other one. */
  replica: number;
  first?: Outcome<{ message_id: string; delivered_to: string[] }>;
  retry?: Outcome<{ message_id: string; delivered_to: string[] }>;
}

describe('fault: retry after an ambiguous failure (503 for a send Redis still ran)', () => {
  it('queues the message twice without an Idempotency-Key, once with one (raw HTTP and the SDK)', async () => {
    redis = await startRedisProcess();
    stack = await startStack({ REDIS_URL: redis.url }, { replicas: 2, env: { REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) } });
    const s = stack;
    // One sender and two mailboxes (registered, heartbeating, never fetching during the fault).
    fleet = new Fleet({ url: s.url, agents: 1, mailboxes: 2 });
    const f = fleet;
    await f.start();
    const direct = s.replicas.map((r) => new Api(r.url, f.log));
    const body = (key: string, to: string | null) => ({
      target_instance: to,
      message_type: 'Notification',
      payload: { k: key },
      correlation_id: null,
    });
    const send = (api: Api, a: Attempt) =>
      api.call<{ message_id: string; delivered_to: string[] }>(
        'send',
        'POST',
        '/messages/send/a0',
        body(a.key, a.to),
        10_000,
        a.keyed ? { 'idempotency-key': a.key } : {},
      );
    // Each replica builds its membership view at its first broadcast: do that before the fault, so
    // an attempt's first Redis command is the send itself.
    for (const api of direct) expect((await send(api, { key: 'warm-up', to: null, keyed: false, replica: 0 })).status).toBe(200);

    const attempts: Attempt[] = [];
    for (const keyed of [false, true]) {
      for (let i = 0; i < 6; i++) attempts.push({ key: `${keyed ? 'k' : 'u'}-t${i}`, to: `mb${i % 2}`, keyed, replica: i % 2 });
      for (let i = 0; i < 2; i++) attempts.push({ key: `${keyed ? 'k' : 'u'}-b${i}`, to: null, keyed, replica: i % 2 });
    }
    const sdk = new MeshClient({ url: s.url, retries: 12, retryBaseMs: 200, retryMaxMs: 1000, timeoutMs: 5000 });
    const sdkKeys = ['sdk-t0', 'sdk-t1', 'sdk-b0'];

    await redis.pause();
    let sdkSends: Promise<unknown>[];
    try {
      // Straight at the replicas, all at once: the load balancer would drain them mid-way.
      await Promise.all(attempts.map(async (a) => (a.first = await send(direct[a.replica]!, a))));
      // The SDK's first attempts go in while Redis is frozen too; it retries by itself.
      sdkSends = sdkKeys.map((k, i) =>
        sdk.send('a0', {
          target_instance: k.includes('-b') ? null : `mb${i % 2}`,
          message_type: 'Notification',
          payload: { k },
          correlation_id: null,
        }),
      );
      await sleep(1000);
    } finally {
      await redis.resume();
    }
    // Every first attempt failed in flight: 503 after the command timeout, never a 500.
    for (const a of attempts) {
      expect(a.first!.status, JSON.stringify(a.first)).toBe(503);
      expect((a.first!.body as unknown as { code: string }).code).toBe('unavailable');
    }
    for (const api of direct) await eventually(async () => (await api.call('readyz', 'GET', '/readyz')).status === 200, 15_000, 50);

    // The client retries each send once more, on the other replica.
    for (const a of attempts) {
      for (let n = 0; n < 20; n++) {
        a.retry = await send(direct[1 - a.replica]!, a);
        if (!retryable(a.retry.status)) break;
        await sleep(200);
      }
      expect(a.retry!.status, JSON.stringify(a.retry)).toBe(200);
    }
    await Promise.all(sdkSends!);

    // What the mailboxes hold, per payload key: the message ids it came under.
    const ids = new Map<string, Set<string>>();
    for (const mb of ['mb0', 'mb1']) {
      const o = await f.api.call<{ messages: WireMessage[] }>('peek', 'GET', `/messages/${mb}?limit=1000`);
      for (const m of o.body!.messages) {
        const k = `${mb}:${(m.payload as { k: string }).k}`;
        ids.set(k, (ids.get(k) ?? new Set()).add(m.message_id));
      }
    }
    const copies = (a: { key: string; to: string | null }) =>
      (a.to === null ? ['mb0', 'mb1'] : [a.to]).map((mb) => ids.get(`${mb}:${a.key}`) ?? new Set<string>());
    const unkeyed = attempts.filter((a) => !a.keyed);
    const keyed = attempts.filter((a) => a.keyed);
    const figures = {
      unkeyedCopies: unkeyed.flatMap((a) => copies(a).map((c) => c.size)),
      keyedCopies: keyed.flatMap((a) => copies(a).map((c) => c.size)),
      keyedReplayed: keyed.filter((a) => a.retry!.replayed).length,
      sdkCopies: sdkKeys.flatMap((k) => copies({ key: k, to: k.includes('-b') ? null : `mb${sdkKeys.indexOf(k) % 2}` }).map((c) => c.size)),
      firstAttemptMs: attempts.map((a) => a.first!.receivedAt - a.first!.sentAt),
    };
    console.log('[ambiguous-retry]', JSON.stringify(figures));

    // Without a key: the 503'd attempt had been queued after all, so the retry is a second message.
    for (const a of unkeyed) for (const c of copies(a)) expect(c.size, a.key).toBe(2);
    // With a key: one message; the retry was answered with it.
    for (const a of keyed) {
      const [c, ...more] = copies(a);
      for (const other of [c!, ...more]) expect([...other], a.key).toEqual([a.retry!.body!.message_id]);
      expect(a.retry!.replayed, a.key).toBe(true);
      if (a.to === null) expect(a.retry!.body!.delivered_to.sort()).toEqual(['mb0', 'mb1']);
    }
    // The SDK's own retries (one key per call): each message once.
    for (const [i, k] of sdkKeys.entries()) {
      for (const c of copies({ key: k, to: k.includes('-b') ? null : `mb${i % 2}` })) expect(c.size, k).toBe(1);
    }
  }, 120_000);
});
