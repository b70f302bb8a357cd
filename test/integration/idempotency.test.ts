// Idempotency-Key on POST /messages/send and /messages/request (issue 14, item 5): a retry with the
// same key returns the first result and queues nothing - on any replica, for direct,
// capability-routed and broadcast sends and server-side requests - and a key is checked, scoped
// per sender, bounded in what it stores, and forgotten after IDEMPOTENCY_TTL_MS.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually, meshesClosedAfterAll, register, type TestMesh } from '../helpers/app.js';
import {
  ack,
  expectError,
  fetchMessages,
  send,
  sendBody,
  xlen,
  type AgentMessage,
  type SendBody,
  type SendOk,
} from '../helpers/messages.js';

const mesh = meshesClosedAfterAll();

function keyed(app: FastifyInstance, source: string, body: SendBody, key: string | undefined): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: `/messages/send/${source}`,
    headers: key === undefined ? {} : { 'idempotency-key': key },
    payload: body as object,
  });
}

async function keyedOk(app: FastifyInstance, source: string, body: SendBody, key: string): Promise<{ body: SendOk; replayed: boolean }> {
  const res = await keyed(app, source, body, key);
  expect(res.statusCode, res.body).toBe(200);
  return { body: res.json<SendOk>(), replayed: res.headers['idempotent-replayed'] === 'true' };
}

const payloadKeys = (msgs: AgentMessage[]) => msgs.map((m) => (m.payload as { k?: string } | null)?.k);

describe('targeted sends', () => {
  let m: TestMesh;
  let a: FastifyInstance;
  let b: FastifyInstance;
  beforeAll(async () => {
    // Two apps on one namespace: two replicas.
    m = await mesh({}, { apps: 2 });
    [a, b] = m.apps as [FastifyInstance, FastifyInstance];
    for (const id of ['alice', 'bob', 'carol']) await register(a, id);
  });

  it('a retry with the same key, on another replica, returns the first result and queues nothing', async () => {
    const first = await keyedOk(a, 'alice', sendBody('bob', { k: 'once' }), 'key-1');
    expect(first.replayed).toBe(false);
    expect(first.body.delivered_to).toEqual(['bob']);
    const again = await keyedOk(b, 'alice', sendBody('bob', { k: 'once' }), 'key-1');
    expect(again.replayed).toBe(true);
    expect(again.body).toEqual(first.body);
    const third = await keyedOk(a, 'alice', sendBody('bob', { k: 'once' }), 'key-1');
    expect(third.body).toEqual(first.body);

    const msgs = await fetchMessages(a, 'bob');
    expect(msgs.map((x) => x.message_id)).toEqual([first.body.message_id]);
    expect(await xlen(m, `${m.keys.prefix}inbox:bob`)).toBe(1);
    // No body of the replayed attempts was left behind.
    expect(await m.redis.hlen(`${m.keys.prefix}inboxb:bob`)).toBe(1);
    await ack(a, 'bob', [first.body.message_id]);
  });

  it('without a key, or with a new key, every send queues a message', async () => {
    const one = await send(a, 'alice', sendBody('bob', { k: 'plain' }));
    const two = await send(a, 'alice', sendBody('bob', { k: 'plain' }));
    const three = await keyedOk(a, 'alice', sendBody('bob', { k: 'plain' }), 'key-2a');
    const four = await keyedOk(a, 'alice', sendBody('bob', { k: 'plain' }), 'key-2b');
    const ids = new Set([one.message_id, two.message_id, three.body.message_id, four.body.message_id]);
    expect(ids.size).toBe(4);
    const msgs = await fetchMessages(a, 'bob');
    expect(msgs).toHaveLength(4);
    await ack(
      a,
      'bob',
      msgs.map((x) => x.message_id),
    );
  });

  it('keys are per sender: the same key from another sender is another message', async () => {
    const fromAlice = await keyedOk(a, 'alice', sendBody('bob', { k: 'shared' }), 'key-3');
    const fromCarol = await keyedOk(a, 'carol', sendBody('bob', { k: 'shared' }), 'key-3');
    expect(fromCarol.replayed).toBe(false);
    expect(fromCarol.body.message_id).not.toBe(fromAlice.body.message_id);
    const msgs = await fetchMessages(a, 'bob');
    expect(msgs.map((x) => x.source_instance).sort()).toEqual(['alice', 'carol']);
    await ack(
      a,
      'bob',
      msgs.map((x) => x.message_id),
    );
  });

  it('the same key for a different request is 422 idempotency_key_mismatch and queues nothing', async () => {
    const first = await keyedOk(a, 'alice', sendBody('bob', { k: 'orig' }), 'key-4');
    const otherPayload = await keyed(b, 'alice', sendBody('bob', { k: 'changed' }), 'key-4');
    const body = expectError(otherPayload, 422, 'idempotency_key_mismatch');
    expect(body.idempotency_key).toBe('key-4');
    expectError(await keyed(a, 'alice', sendBody('carol', { k: 'orig' }), 'key-4'), 422, 'idempotency_key_mismatch');
    expectError(await keyed(a, 'alice', sendBody('bob', { k: 'orig' }, { correlation_id: 'c' }), 'key-4'), 422, 'idempotency_key_mismatch');
    expectError(
      await keyed(a, 'alice', sendBody('bob', { k: 'orig' }, { message_type: 'Query' }), 'key-4'),
      422,
      'idempotency_key_mismatch',
    );
    expect((await fetchMessages(a, 'carol')).length).toBe(0);
    const msgs = await fetchMessages(a, 'bob');
    expect(msgs.map((x) => x.message_id)).toEqual([first.body.message_id]);
    await ack(a, 'bob', [first.body.message_id]);
  });

  it('a retry after the target left still returns the first result (not target_not_found)', async () => {
    await register(a, 'dave');
    const first = await keyedOk(a, 'alice', sendBody('dave', { k: 'gone' }), 'key-5');
    expect((await a.inject({ method: 'DELETE', url: '/registry/deregister/dave' })).statusCode).toBe(204);
    const again = await keyedOk(b, 'alice', sendBody('dave', { k: 'gone' }), 'key-5');
    expect(again.replayed).toBe(true);
    expect(again.body).toEqual(first.body);
    // A new key is a new send: the target is gone now.
    expectError(await keyed(a, 'alice', sendBody('dave', { k: 'gone' }), 'key-5b'), 400, 'target_not_found');
  });

  it('many concurrent attempts with one key, on two replicas, queue exactly one message', async () => {
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => keyedOk(i % 2 ? a : b, 'alice', sendBody('carol', { k: 'race' }), 'key-6')),
    );
    const ids = new Set(attempts.map((r) => r.body.message_id));
    expect(ids.size).toBe(1);
    expect(attempts.filter((r) => !r.replayed)).toHaveLength(1);
    const msgs = await fetchMessages(a, 'carol');
    expect(msgs.map((x) => x.message_id)).toEqual([...ids]);
    expect(await m.redis.hlen(`${m.keys.prefix}inboxb:carol`)).toBe(1);
    await ack(a, 'carol', [...ids]);
  });

  it('the key is checked: bad keys are 400 naming the header; a quoted key is the same key', async () => {
    for (const bad of ['has space', 'x'.repeat(256), 'semi;colon', 'é', '"unterminated']) {
      const res = await keyed(a, 'alice', sendBody('bob', null), bad);
      const body = expectError(res, 400, 'invalid_request');
      expect(body.error).toMatch(/idempotency-key/);
    }
    const plain = await keyedOk(a, 'alice', sendBody('bob', { k: 'q' }), 'quoted-1');
    const quoted = await keyedOk(a, 'alice', sendBody('bob', { k: 'q' }), '"quoted-1"');
    expect(quoted.replayed).toBe(true);
    expect(quoted.body.message_id).toBe(plain.body.message_id);
    // Longest allowed key, every allowed character class.
    const long = `${'A'.repeat(240)}az09._:/+=~-`;
    expect(long).toHaveLength(252);
    expect((await keyedOk(a, 'alice', sendBody('bob', { k: 'long' }), long)).replayed).toBe(false);
    expect((await keyedOk(b, 'alice', sendBody('bob', { k: 'long' }), long)).replayed).toBe(true);
    const msgs = await fetchMessages(a, 'bob');
    expect(msgs).toHaveLength(2);
    await ack(
      a,
      'bob',
      msgs.map((x) => x.message_id),
    );
  });

  it('the record is small metadata with the window as TTL: never the body', async () => {
    const big = { k: 'record', blob: 'B'.repeat(20_000) };
    const first = await keyedOk(a, 'alice', sendBody('bob', big), 'key-7');
    const recordKey = `${m.keys.prefix}idem:alice/key-7`;
    const raw = await m.redis.get(recordKey);
    expect(raw).not.toBeNull();
    expect(raw!.length).toBeLessThan(300);
    expect(raw).toContain(first.body.message_id);
    expect(raw).not.toContain('BBBB');
    const ttl = await m.redis.pttl(recordKey);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(m.config.IDEMPOTENCY_TTL_MS);
    expect(m.config.IDEMPOTENCY_TTL_MS).toBe(600_000);
    await ack(a, 'bob', [first.body.message_id]);
  });
});

describe('the window', () => {
  it('after IDEMPOTENCY_TTL_MS the key is forgotten: the same key sends again', async () => {
    const m = await mesh({ IDEMPOTENCY_TTL_MS: 1000 });
    const app = m.apps[0]!;
    for (const id of ['w-a', 'w-b']) await register(app, id);
    const first = await keyedOk(app, 'w-a', sendBody('w-b', { k: 'ttl' }), 'key-w');
    expect((await keyedOk(app, 'w-a', sendBody('w-b', { k: 'ttl' }), 'key-w')).replayed).toBe(true);
    // Redis expires the record by itself (PX).
    await eventually(async () => (await m.redis.exists(`${m.keys.prefix}idem:w-a/key-w`)) === 0, 10_000, 100);
    const later = await keyedOk(app, 'w-a', sendBody('w-b', { k: 'ttl' }), 'key-w');
    expect(later.replayed).toBe(false);
    expect(later.body.message_id).not.toBe(first.body.message_id);
    expect(await fetchMessages(app, 'w-b')).toHaveLength(2);
  });
});

describe('capability-routed sends', () => {
  it('a retry is not routed again: same target, one message, even after that target left', async () => {
    const m = await mesh({}, { apps: 2 });
    const [a, b] = m.apps as [FastifyInstance, FastifyInstance];
    await register(a, 'cap-src');
    await register(a, 'cap-x', { capabilities: ['summarize'] });
    await register(a, 'cap-y', { capabilities: ['summarize'] });
    const body = sendBody(null, { k: 'routed' }, { target_capability: 'summarize' });
    const first = await keyedOk(a, 'cap-src', body, 'key-c');
    const [chosen] = first.body.delivered_to as [string];
    const other = chosen === 'cap-x' ? 'cap-y' : 'cap-x';
    // Least-loaded routing would now pick the other (empty) holder: a retry must not.
    for (const app of [a, b, a]) {
      const again = await keyedOk(app, 'cap-src', body, 'key-c');
      expect(again.replayed).toBe(true);
      expect(again.body).toEqual(first.body);
    }
    expect(await xlen(m, `${m.keys.prefix}inbox:${chosen}`)).toBe(1);
    expect(await xlen(m, `${m.keys.prefix}inbox:${other}`)).toBe(0);
    // Even when routing would now fail or choose differently (the chosen holder left).
    expect((await a.inject({ method: 'DELETE', url: `/registry/deregister/${chosen}` })).statusCode).toBe(204);
    expect((await keyedOk(b, 'cap-src', body, 'key-c')).body).toEqual(first.body);
    expect(await xlen(m, `${m.keys.prefix}inbox:${other}`)).toBe(0);
  });
});

describe('broadcasts', () => {
  let m: TestMesh;
  let a: FastifyInstance;
  let b: FastifyInstance;
  beforeAll(async () => {
    m = await mesh({}, { apps: 2 });
    [a, b] = m.apps as [FastifyInstance, FastifyInstance];
    for (const id of ['bc-a', 'bc-b', 'bc-c']) await register(a, id);
  });

  it('a retry returns the same message id and recipients; each member gets one copy; later joiners none', async () => {
    const first = await keyedOk(a, 'bc-a', sendBody(null, { k: 'bcast' }), 'key-b');
    expect(first.body.delivered_to.sort()).toEqual(['bc-b', 'bc-c']);
    await register(a, 'bc-late');
    // The other replica names the recipients from its own view of the membership.
    for (const app of [b, a]) {
      const again = await keyedOk(app, 'bc-a', sendBody(null, { k: 'bcast' }), 'key-b');
      expect(again.replayed).toBe(true);
      expect(again.body.message_id).toBe(first.body.message_id);
      expect(again.body.delivered_to.sort()).toEqual(['bc-b', 'bc-c']);
    }
    for (const id of ['bc-b', 'bc-c']) {
      const msgs = await fetchMessages(a, id);
      expect(payloadKeys(msgs)).toEqual(['bcast']);
      await ack(
        a,
        id,
        msgs.map((x) => x.message_id),
      );
    }
    expect(await fetchMessages(a, 'bc-late')).toEqual([]);
    expect(await m.redis.xlen(`${m.keys.prefix}bcast`)).toBeLessThanOrEqual(1);
    expect(await m.redis.hlen(`${m.keys.prefix}bbody`)).toBeLessThanOrEqual(1);
  });

  it('a broadcast that reached nobody replays as such (same message id, delivered_to [])', async () => {
    const lone = await mesh();
    const app = lone.apps[0]!;
    await register(app, 'alone');
    const first = await keyedOk(app, 'alone', sendBody(null, { k: 'void' }), 'key-v');
    expect(first.body.delivered_to).toEqual([]);
    await register(app, 'newcomer');
    const again = await keyedOk(app, 'alone', sendBody(null, { k: 'void' }), 'key-v');
    expect(again.replayed).toBe(true);
    expect(again.body).toEqual(first.body);
    expect(await fetchMessages(app, 'newcomer')).toEqual([]);
  });
});

describe('server-side request/response', () => {
  let m: TestMesh;
  let a: FastifyInstance;
  let b: FastifyInstance;
  beforeAll(async () => {
    m = await mesh({}, { apps: 2 });
    [a, b] = m.apps as [FastifyInstance, FastifyInstance];
    for (const id of ['rq-asker', 'rq-worker']) await register(a, id);
  });

  const request = (app: FastifyInstance, key: string | undefined, payload: unknown = { q: 1 }) =>
    app.inject({
      method: 'POST',
      url: '/messages/request/rq-asker',
      headers: key === undefined ? {} : { 'idempotency-key': key },
      payload: { target_instance: 'rq-worker', payload, timeout_ms: 10_000 },
    });

  /** The worker answers every pending Query once, then acks it. */
  async function answerQueries(expected: number): Promise<AgentMessage[]> {
    const queries = await eventually(async () => {
      const msgs = await fetchMessages(a, 'rq-worker');
      return msgs.length >= expected ? msgs : null;
    });
    for (const q of queries) {
      await send(
        a,
        'rq-worker',
        sendBody('rq-asker', { answer: q.payload }, { message_type: 'Response', correlation_id: q.correlation_id }),
      );
    }
    await ack(
      a,
      'rq-worker',
      queries.map((q) => q.message_id),
    );
    return queries;
  }

  it('a retry while the first attempt waits sends no second Query; both get the one Response', async () => {
    const first = request(a, 'rq-1');
    // The retry (another replica) attaches to the first attempt's Query.
    await eventually(async () => (await fetchMessages(a, 'rq-worker')).length === 1);
    const retry = request(b, 'rq-1');
    const queries = await answerQueries(1);
    expect(queries).toHaveLength(1);
    const [r1, r2] = await Promise.all([first, retry]);
    expect(r1.statusCode, r1.body).toBe(200);
    expect(r2.statusCode, r2.body).toBe(200);
    expect(r2.headers['idempotent-replayed']).toBe('true');
    const b1 = r1.json<{ request: SendOk; response: AgentMessage }>();
    const b2 = r2.json<{ request: SendOk; response: AgentMessage }>();
    expect(b2).toEqual(b1);
    expect(b1.response.correlation_id).toBe(queries[0]!.correlation_id);
    expect(await fetchMessages(a, 'rq-worker')).toEqual([]);
    // The Response was consumed for the asker.
    expect(await fetchMessages(a, 'rq-asker')).toEqual([]);
  });

  it('a retry after the answer was given returns that answer again, without a new Query', async () => {
    const first = request(a, 'rq-2', { q: 2 });
    await answerQueries(1);
    const r1 = await first;
    expect(r1.statusCode, r1.body).toBe(200);
    const again = await request(b, 'rq-2', { q: 2 });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(r1.json());
    expect(await fetchMessages(a, 'rq-worker')).toEqual([]);
    // Same key, other question: 422; the key of a request cannot be reused by a send either.
    expectError(await request(a, 'rq-2', { q: 'other' }), 422, 'idempotency_key_mismatch');
    expectError(await keyed(a, 'rq-asker', sendBody('rq-worker', { q: 2 }), 'rq-2'), 422, 'idempotency_key_mismatch');
    expect(await fetchMessages(a, 'rq-worker')).toEqual([]);
  });
});
