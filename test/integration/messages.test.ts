// Messaging over the seed's wire contract (its routes, and defects 1-5 of docs/DESIGN.md), in-process apps on the
// run's Redis. Every describe block has its own namespace, so broadcasts of one never reach another.
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_MESSAGE_TYPES } from '../../src/http/schemas.js';
import { eventually, meshesClosedAfterAll, register, type TestMesh } from '../helpers/app.js';
import {
  ack,
  ackRaw,
  expectError,
  fetchMessages,
  fetchRaw,
  registerLapsed,
  RFC3339_Z,
  send,
  sendBody,
  sendRaw,
  UUID_V7,
  xlen,
} from '../helpers/messages.js';
import { match } from '../helpers/match.js';

const mesh = meshesClosedAfterAll();

describe('contract shapes', () => {
  let m: TestMesh;
  let app: FastifyInstance;
  beforeAll(async () => {
    m = await mesh();
    app = m.apps[0]!;
    for (const id of ['alice', 'bob', 'carol']) await register(app, id);
  });

  it('send answers {message_id: UUIDv7, status: "queued", delivered_to}', async () => {
    const before = Date.now();
    const res = await sendRaw(app, 'alice', sendBody('bob', { hello: 'world' }));
    expect(res.statusCode).toBe(200);
    const body = res.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(['delivered_to', 'message_id', 'status']);
    expect(body.status).toBe('queued');
    expect(body.delivered_to).toEqual(['bob']);
    const id = body.message_id as string;
    expect(id).toMatch(UUID_V7);
    expect(id[14]).toBe('7'); // version nibble
    // UUIDv7 carries a millisecond timestamp in its first 48 bits.
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before - 1000);
    expect(ms).toBeLessThanOrEqual(Date.now() + 1000);

    const msgs = await fetchMessages(app, 'bob');
    expect(msgs.map((x) => x.message_id)).toContain(id);
    await ack(
      app,
      'bob',
      msgs.map((x) => x.message_id),
    );
  });

  it('fetch returns AgentMessages with every field present, nulls included, created_at RFC 3339 with Z', async () => {
    const before = Date.now();
    const a = await send(app, 'alice', sendBody('bob', null));
    const b = await send(app, 'carol', sendBody('bob', { n: [1, 'two', { three: 3 }] }, { message_type: 'Query', correlation_id: 'c-1' }));
    const res = await fetchRaw(app, 'bob');
    expect(res.statusCode).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
    // Check the raw JSON, not only the parsed object: nulls must be present, not omitted.
    const raw = JSON.parse(res.body) as { messages: Record<string, unknown>[] };
    expect(Object.keys(raw)).toEqual(['messages']);
    expect(raw.messages).toHaveLength(2);
    for (const msg of raw.messages) {
      expect(Object.keys(msg).sort()).toEqual(
        ['correlation_id', 'created_at', 'message_id', 'message_type', 'payload', 'source_instance', 'target_instance'].sort(),
      );
      expect(msg.created_at).toMatch(RFC3339_Z);
      const t = Date.parse(msg.created_at as string);
      expect(t).toBeGreaterThanOrEqual(before - 2000);
      expect(t).toBeLessThanOrEqual(Date.now() + 2000);
    }
    expect(raw.messages[0]).toMatchObject({
      message_id: a.message_id,
      source_instance: 'alice',
      target_instance: 'bob',
      message_type: 'Notification',
      payload: null,
      correlation_id: null,
    });
    expect(raw.messages[1]).toMatchObject({
      message_id: b.message_id,
      source_instance: 'carol',
      target_instance: 'bob',
      message_type: 'Query',
      payload: { n: [1, 'two', { three: 3 }] },
      correlation_id: 'c-1',
    });
    await ack(app, 'bob', [a.message_id, b.message_id]);
  });

  it('acks with POST /messages/ack/{id} and the alias POST /messages/{id}/ack: 204, empty body', async () => {
    const a = await send(app, 'alice', sendBody('bob', 1));
    const b = await send(app, 'alice', sendBody('bob', 2));
    const r1 = await ackRaw(app, 'bob', [a.message_id]);
    expect(r1.statusCode).toBe(204);
    expect(r1.body).toBe('');
    expect((await fetchMessages(app, 'bob')).map((x) => x.message_id)).toEqual([b.message_id]);
    const r2 = await ackRaw(app, 'bob', [b.message_id], true);
    expect(r2.statusCode).toBe(204);
    expect(r2.body).toBe('');
    expect(await fetchMessages(app, 'bob')).toEqual([]);
    // Acking again (or unknown ids) is harmless.
    expect((await ackRaw(app, 'bob', [a.message_id, 'not-a-message'])).statusCode).toBe(204);
    expect((await ackRaw(app, 'bob', [])).statusCode).toBe(204);
  });

  it('round-trips every builtin PascalCase type and {"Custom": "x"}', async () => {
    const types = [...BUILTIN_MESSAGE_TYPES, { Custom: 'x' }, { Custom: 'with spaces & ünïcode' }];
    // The six of the seed's contract and the later spec-ai additions must all be there.
    expect(types).toEqual(
      match.arrayContaining([
        'Query',
        'Response',
        'Notification',
        'TaskDelegation',
        'TaskResult',
        'GraphSync',
        'CapabilityUpdate',
        'CapabilityQuery',
        'LearningShare',
        'ProposalSubmit',
        'ProposalVote',
        'WorkflowAssignment',
        'WorkflowStageResult',
      ]),
    );
    const ids: string[] = [];
    for (const t of types) ids.push((await send(app, 'alice', sendBody('bob', { t }, { message_type: t }))).message_id);
    const got = await fetchMessages(app, 'bob');
    expect(got.map((x) => x.message_id)).toEqual(ids);
    expect(got.map((x) => x.message_type)).toEqual(types);
    await ack(app, 'bob', ids);
  });

  it.each([
    ['lowercase "query"', 'query'],
    ['an unknown string', 'Gossip'],
    ['an empty string', ''],
    ['Custom with a non-string', { Custom: 1 }],
    ['Custom with extra keys', { Custom: 'x', Other: 'y' }],
    ['an unknown object variant', { Unknown: 'x' }],
    ['a number', 3],
  ])('rejects message_type %s with 400 {error, code} and queues nothing', async (_, t) => {
    const res = await sendRaw(app, 'alice', { target_instance: 'bob', message_type: t, payload: 1, correlation_id: null });
    expectError(res, 400, 'invalid_request');
    expect(await xlen(m, m.keys.inbox('bob'))).toBe(0);
  });

  it('requires message_type and payload (payload may be null)', async () => {
    expectError(await sendRaw(app, 'alice', { target_instance: 'bob', payload: 1, correlation_id: null }), 400, 'invalid_request');
    const missing = expectError(
      await sendRaw(app, 'alice', { target_instance: 'bob', message_type: 'Query', correlation_id: null }),
      400,
      'invalid_request',
    );
    expect(missing.error).toMatch(/payload/);
    expect(await xlen(m, m.keys.inbox('bob'))).toBe(0);

    const ok = await send(app, 'alice', { target_instance: 'bob', message_type: 'Query', payload: null, correlation_id: null });
    const [got] = await fetchMessages(app, 'bob');
    expect(got).toMatchObject({ message_id: ok.message_id, payload: null });
    await ack(app, 'bob', [ok.message_id]);
  });

  it('ignores unknown body fields and treats absent optional fields as null', async () => {
    const ok = await send(app, 'alice', { target_instance: 'bob', message_type: 'Query', payload: 'p', extra: true } as never);
    const [got] = await fetchMessages(app, 'bob');
    expect(got).toMatchObject({ message_id: ok.message_id, correlation_id: null, payload: 'p' });
    await ack(app, 'bob', [ok.message_id]);
  });

  it('answers an unknown target with 400 and the exact text "Target instance \'<id>\' not found"', async () => {
    const res = await sendRaw(app, 'alice', sendBody('nobody-here', { x: 1 }));
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: string; code: string }>();
    expect(body.error).toBe("Target instance 'nobody-here' not found");
    expect(body.code).toBe('target_not_found');
  });

  it('rejects malformed requests on fetch and ack with 400 JSON', async () => {
    expectError(await fetchRaw(app, 'bob', 'limit=abc'), 400, 'invalid_request');
    expectError(await ackRaw(app, 'bob', 'nope' as never), 400, 'invalid_request');
    expectError(await app.inject({ method: 'POST', url: '/messages/ack/bob', payload: {} }), 400, 'invalid_request');
  });
});

describe('defect 1: a message to an unknown target is not queued', () => {
  it('leaves Redis untouched: no inbox key, no broadcast entry, nothing for anybody', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'src');
    await register(app, 'other');
    const keysBefore = await m.namespaceKeys();
    const bcastBefore = await xlen(m, m.keys.broadcast);

    const res = await sendRaw(app, 'src', sendBody('ghost', 'lost?'));
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: string }>().error).toBe("Target instance 'ghost' not found");

    expect(await m.namespaceKeys()).toEqual(keysBefore);
    expect(keysBefore.some((k) => k.includes('ghost'))).toBe(false);
    expect(await m.redis.exists(m.keys.inbox('ghost'), m.keys.inboxIndex('ghost'))).toBe(0);
    expect(await xlen(m, m.keys.broadcast)).toBe(bcastBefore);
    expect(await fetchMessages(app, 'other')).toEqual([]);
    expect(await fetchMessages(app, 'src')).toEqual([]);
    // A target that registers later with that id does not find it either.
    await register(app, 'ghost');
    expect(await fetchMessages(app, 'ghost')).toEqual([]);
  });

  it('treats a registered member whose heartbeat lapsed as unknown (before cleanup ran)', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'src');
    await registerLapsed(m, 'gone');
    // Cleanup has not run: the record is still there, but the member is not live.
    expect(await m.redis.exists(m.keys.inst('gone'))).toBe(1);
    const res = await sendRaw(app, 'src', sendBody('gone', 'x'));
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: string }>().error).toBe("Target instance 'gone' not found");
    expect(await xlen(m, m.keys.inbox('gone'))).toBe(0);
  });
});

describe('defect 2: broadcasts', () => {
  let m: TestMesh;
  let app: FastifyInstance;
  beforeAll(async () => {
    m = await mesh();
    app = m.apps[0]!;
    for (const id of ['s', 'r1', 'r2']) await register(app, id);
  });

  it('is stored once; each member acks its own copy; the sender does not get it; late joiners never see it', async () => {
    const bcastBefore = await xlen(m, m.keys.broadcast);
    const sent = await send(app, 's', sendBody(null, { all: true }, { message_type: 'GraphSync' }));
    expect(sent.delivered_to.sort()).toEqual(['r1', 'r2']);

    // One entry in the broadcast stream, no per-member copies.
    expect(await xlen(m, m.keys.broadcast)).toBe(bcastBefore + 1);
    expect(await m.redis.exists(m.keys.inbox('r1'), m.keys.inbox('r2'), m.keys.inbox('s'))).toBe(0);

    const late = 'late';
    await register(app, late);

    const r1 = await fetchMessages(app, 'r1');
    const r2 = await fetchMessages(app, 'r2');
    for (const got of [r1, r2]) {
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({
        message_id: sent.message_id,
        source_instance: 's',
        target_instance: null,
        message_type: 'GraphSync',
        payload: { all: true },
        correlation_id: null,
      });
      expect(got[0]!.created_at).toMatch(RFC3339_Z);
    }
    expect(await fetchMessages(app, 's')).toEqual([]);
    expect(await fetchMessages(app, late)).toEqual([]);

    // r1's ack removes r1's copy only.
    await ack(app, 'r1', [sent.message_id]);
    expect(await fetchMessages(app, 'r1')).toEqual([]);
    expect((await fetchMessages(app, 'r2')).map((x) => x.message_id)).toEqual([sent.message_id]);
    // Acking it as the sender or as the late joiner changes nothing for r2 either.
    await ack(app, 's', [sent.message_id]);
    await ack(app, late, [sent.message_id]);
    expect((await fetchMessages(app, 'r2')).map((x) => x.message_id)).toEqual([sent.message_id]);
    await ack(app, 'r2', [sent.message_id], true);
    expect(await fetchMessages(app, 'r2')).toEqual([]);
    expect(await fetchMessages(app, late)).toEqual([]);

    // Once every member has consumed it, maintenance trims the single stored copy.
    await eventually(async () => {
      await app.mesh.messages.expireBatch(100);
      return (await xlen(m, m.keys.broadcast)) === 0;
    });
  });

  it('a later broadcast reaches the late joiner and everybody but its sender', async () => {
    const first = await send(app, 'r1', sendBody(null, 'one'));
    expect(first.delivered_to.sort()).toEqual(['late', 'r2', 's']);
    for (const id of ['late', 'r2', 's']) {
      expect((await fetchMessages(app, id)).map((x) => x.message_id)).toEqual([first.message_id]);
      await ack(app, id, [first.message_id]);
    }
    expect(await fetchMessages(app, 'r1')).toEqual([]);
  });

  it('a broadcast with no other live member is accepted with delivered_to []', async () => {
    const solo = await mesh();
    await register(solo.apps[0]!, 'alone');
    const r = await send(solo.apps[0]!, 'alone', sendBody(null, 'anyone?'));
    expect(r.delivered_to).toEqual([]);
    expect(await fetchMessages(solo.apps[0]!, 'alone')).toEqual([]);
    await register(solo.apps[0]!, 'newcomer');
    expect(await fetchMessages(solo.apps[0]!, 'newcomer')).toEqual([]);
  });
});

describe('defect 3: ack is scoped to the caller', () => {
  it("another instance's ack does not remove the recipient's message", async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    for (const id of ['a', 'b', 'c']) await register(app, id);
    const msg = await send(app, 'a', sendBody('b', 'for b only'));
    for (const intruder of ['c', 'a']) {
      expect((await ackRaw(app, intruder, [msg.message_id])).statusCode).toBe(204);
      expect((await ackRaw(app, intruder, [msg.message_id], true)).statusCode).toBe(204);
    }
    expect(await xlen(m, m.keys.inbox('b'))).toBe(1);
    expect((await fetchMessages(app, 'b')).map((x) => x.message_id)).toEqual([msg.message_id]);
    await ack(app, 'b', [msg.message_id]);
    expect(await fetchMessages(app, 'b')).toEqual([]);
    expect(await xlen(m, m.keys.inbox('b'))).toBe(0);
    expect(await m.redis.hlen(m.keys.inboxIndex('b'))).toBe(0);
  });
});

describe('defect 4: bounded inboxes', () => {
  it('answers 429 inbox_full when the inbox is at INBOX_MAX and queues nothing; acking makes room', async () => {
    const m = await mesh({ INBOX_MAX: 3 });
    const app = m.apps[0]!;
    for (const id of ['a', 'b']) await register(app, id);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await send(app, 'a', sendBody('b', i))).message_id);
    const full = await sendRaw(app, 'a', sendBody('b', 'one too many'));
    expectError(full, 429, 'inbox_full');
    expect(full.headers['retry-after']).toBeDefined();
    expect(await xlen(m, m.keys.inbox('b'))).toBe(3);
    expect((await fetchMessages(app, 'b')).map((x) => x.message_id)).toEqual(ids);

    await ack(app, 'b', [ids[0]!]);
    const next = await send(app, 'a', sendBody('b', 'now there is room'));
    expect((await fetchMessages(app, 'b')).map((x) => x.message_id)).toEqual([ids[1], ids[2], next.message_id]);
  });

  it('capability routing skips full inboxes and answers 429 when every holder is full', async () => {
    const m = await mesh({ INBOX_MAX: 1 });
    const app = m.apps[0]!;
    await register(app, 'a');
    await register(app, 'h1', { capabilities: ['work'] });
    await register(app, 'h2', { capabilities: ['work'] });
    const r1 = await send(app, 'a', sendBody(null, 1, { target_capability: 'work' }));
    const r2 = await send(app, 'a', sendBody(null, 2, { target_capability: 'work' }));
    expect([...r1.delivered_to, ...r2.delivered_to].sort()).toEqual(['h1', 'h2']);
    expectError(await sendRaw(app, 'a', sendBody(null, 3, { target_capability: 'work' })), 429, 'inbox_full');
    expect(await xlen(m, m.keys.inbox('h1'))).toBe(1);
    expect(await xlen(m, m.keys.inbox('h2'))).toBe(1);
  });
});

describe('defect 4: message expiry (MESSAGE_TTL_MS)', () => {
  const TTL = 1500;
  let m: TestMesh;
  let app: FastifyInstance;
  beforeAll(async () => {
    m = await mesh({ MESSAGE_TTL_MS: TTL });
    app = m.apps[0]!;
    for (const id of ['a', 'b', 'c']) await register(app, id);
  });

  it('fetch stops returning a direct message once it is older than the TTL', async () => {
    const msg = await send(app, 'a', sendBody('b', 'short-lived'));
    expect((await fetchMessages(app, 'b')).map((x) => x.message_id)).toEqual([msg.message_id]);
    await eventually(async () => (await fetchMessages(app, 'b')).length === 0, TTL + 5000);
    expect(await xlen(m, m.keys.inbox('b'))).toBe(0);
    expect(await m.redis.hlen(m.keys.inboxIndex('b'))).toBe(0);
  });

  it('the maintenance batch removes expired inbox messages from Redis without any fetch', async () => {
    const msg = await send(app, 'a', sendBody('c', 'will expire unread'));
    expect(await xlen(m, m.keys.inbox('c'))).toBe(1);
    expect(await m.redis.hget(m.keys.inboxIndex('c'), msg.message_id)).not.toBeNull();
    let expired = 0;
    await eventually(async () => {
      expired += (await app.mesh.messages.expireBatch(100)).expired;
      return expired >= 1;
    }, TTL + 5000);
    expect(await xlen(m, m.keys.inbox('c'))).toBe(0);
    expect(await m.redis.hlen(m.keys.inboxIndex('c'))).toBe(0);
    expect(await m.redis.zscore(m.keys.inboxOldest, 'c')).toBeNull();
    expect(await fetchMessages(app, 'c')).toEqual([]);
  });

  it('broadcasts expire too: not returned after the TTL, and removed from the stream by maintenance', async () => {
    const msg = await send(app, 'a', sendBody(null, 'old news'));
    expect(msg.delivered_to.sort()).toEqual(['b', 'c']);
    // b reads it (so it is pending for b), c never does.
    expect((await fetchMessages(app, 'b')).map((x) => x.message_id)).toEqual([msg.message_id]);
    await eventually(async () => (await fetchMessages(app, 'b')).length === 0, TTL + 5000);
    await eventually(async () => {
      await app.mesh.messages.expireBatch(100);
      return (await xlen(m, m.keys.broadcast)) === 0;
    }, TTL + 5000);
    expect(await m.redis.hexists(m.keys.broadcastIndex, msg.message_id)).toBe(0);
    expect(await fetchMessages(app, 'c')).toEqual([]);
  });

  it('maintenance (BullMQ tick) expires messages on its own', async () => {
    const mm = await mesh({ MESSAGE_TTL_MS: 300, CLEANUP_INTERVAL_MS: 100 }, { maintenance: true });
    const a = mm.apps[0]!;
    await register(a, 'x');
    await register(a, 'y');
    await send(a, 'x', sendBody('y', 'tick'));
    expect(await xlen(mm, mm.keys.inbox('y'))).toBe(1);
    await eventually(async () => (await xlen(mm, mm.keys.inbox('y'))) === 0, 10_000);
    expect(await mm.redis.zscore(mm.keys.inboxOldest, 'y')).toBeNull();
  });
});

describe('defect 4: a departed member leaves nothing behind', () => {
  async function fill(m: TestMesh, app: FastifyInstance, id: string) {
    // Direct messages in its inbox (metadata + bodies) and a broadcast pending for it.
    await send(app, 'keeper', sendBody(id, 'direct 1'));
    await send(app, 'keeper', sendBody(id, 'direct 2'));
    const b = await send(app, 'keeper', sendBody(null, 'bcast'));
    expect(b.delivered_to).toContain(id);
    expect(await fetchMessages(app, id)).toHaveLength(3);
    expect(await xlen(m, m.keys.inbox(id))).toBe(2);
    expect(await m.redis.hlen(m.keys.inboxBodies(id))).toBe(2);
    expect(await m.redis.zcard(m.keys.broadcastPending(id))).toBe(1);
    expect(await m.redis.zscore(m.keys.broadcastLoad, id)).not.toBeNull();
  }
  async function expectGone(m: TestMesh, id: string) {
    const keys = await m.namespaceKeys();
    expect(keys.filter((k) => k.endsWith(`:${id}`))).toEqual([]);
    for (const z of [m.keys.deadlines, m.keys.joined, m.keys.inboxOldest, m.keys.broadcastLoad, m.keys.broadcastFloor]) {
      expect(await m.redis.zscore(z, id), z).toBeNull();
    }
    // The broadcast is still there for the members who have not acked it.
    expect(await xlen(m, m.keys.broadcast)).toBeGreaterThan(0);
  }

  it('deregister frees its inbox, index, bodies and broadcast bookkeeping', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'keeper');
    await register(app, 'stayer');
    await register(app, 'leaver', { capabilities: ['cap-x'] });
    await fill(m, app, 'leaver');
    const res = await app.inject({ method: 'DELETE', url: '/registry/deregister/leaver' });
    expect(res.statusCode).toBe(204);
    await expectGone(m, 'leaver');
    expect(await m.redis.exists(m.keys.cap('cap-x'))).toBe(0);
    // Sending to it now is the unknown-target error and queues nothing.
    expect((await sendRaw(app, 'keeper', sendBody('leaver', 'x'))).statusCode).toBe(400);
    expect(await m.redis.exists(m.keys.inbox('leaver'))).toBe(0);
    // The others are unaffected.
    expect(await fetchMessages(app, 'stayer')).toHaveLength(1);
  });

  it('expiry cleanup (heartbeat lapse) frees them too', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'keeper');
    await register(app, 'stayer');
    const shortLived = await m.addApp({ STALE_TIMEOUT_MS: 800, HEARTBEAT_INTERVAL_MS: 100 });
    await register(shortLived, 'lapser');
    await fill(m, app, 'lapser');
    const removed: string[] = [];
    await eventually(async () => {
      removed.push(...(await app.mesh.instances.cleanupBatch(100)).removed);
      return removed.includes('lapser');
    }, 10_000);
    await expectGone(m, 'lapser');
    expect(await fetchMessages(app, 'stayer')).toHaveLength(1);
  });

  it('a member that lapsed and registers again starts with empty queues', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'keeper');
    const shortLived = await m.addApp({ STALE_TIMEOUT_MS: 800, HEARTBEAT_INTERVAL_MS: 100 });
    await register(shortLived, 'phoenix');
    await fill(m, app, 'phoenix');
    await eventually(async () => (await sendRaw(app, 'keeper', sendBody('phoenix', 'x'))).statusCode === 400, 10_000);
    await register(app, 'phoenix');
    expect(await fetchMessages(app, 'phoenix')).toEqual([]);
    expect(await xlen(m, m.keys.inbox('phoenix'))).toBe(0);
  });
});

describe('defect 5: the source must be a live registered instance; fetch needs a live id', () => {
  let m: TestMesh;
  let app: FastifyInstance;
  beforeAll(async () => {
    m = await mesh();
    app = m.apps[0]!;
    await register(app, 'real');
    await register(app, 'dest');
  });

  it('sending as an unknown source is 404 source_not_found and queues nothing', async () => {
    const keysBefore = await m.namespaceKeys();
    const bcastBefore = await xlen(m, m.keys.broadcast);
    const direct = expectError(await sendRaw(app, 'impostor', sendBody('dest', 'spoof')), 404, 'source_not_found');
    expect(direct.error).toContain('impostor');
    expectError(await sendRaw(app, 'impostor', sendBody(null, 'spoof all')), 404, 'source_not_found');
    expectError(await sendRaw(app, 'impostor', sendBody(null, 'x', { target_capability: 'any' })), 404, 'source_not_found');
    expect(await m.namespaceKeys()).toEqual(keysBefore);
    expect(await xlen(m, m.keys.broadcast)).toBe(bcastBefore);
    expect(await fetchMessages(app, 'dest')).toEqual([]);
  });

  it('a deregistered or lapsed source cannot send', async () => {
    await register(app, 'quitter');
    expect((await app.inject({ method: 'DELETE', url: '/registry/deregister/quitter' })).statusCode).toBe(204);
    expectError(await sendRaw(app, 'quitter', sendBody('dest', 'x')), 404, 'source_not_found');
    await registerLapsed(m, 'sleeper');
    expectError(await sendRaw(app, 'sleeper', sendBody('dest', 'x')), 404, 'source_not_found');
    expect(await xlen(m, m.keys.inbox('dest'))).toBe(0);
  });

  it('fetch for an unknown (or lapsed) id is 404 JSON', async () => {
    expectError(await fetchRaw(app, 'nobody'), 404, 'instance_not_found');
    expectError(await fetchRaw(app, 'nobody', 'wait=1'), 404, 'instance_not_found');
    expectError(await fetchRaw(app, 'sleeper'), 404, 'instance_not_found');
  });

  it('rejects invalid ids in paths with 400 JSON', async () => {
    expectError(await sendRaw(app, '-bad', sendBody('dest', 'x')), 400, 'invalid_request');
    expectError(await fetchRaw(app, 'bad id'), 400, 'invalid_request');
    expectError(await fetchRaw(app, 'x'.repeat(129)), 400, 'invalid_request');
    expectError(await ackRaw(app, 'y'.repeat(129), []), 400, 'invalid_request');
  });

  it('serves every valid id, up to the longest (128 chars), on all message routes', async () => {
    const long = `L${'o'.repeat(126)}g`;
    expect(long).toHaveLength(128);
    await register(app, long, { hostname: 'long.local' });
    const toLong = await send(app, 'real', sendBody(long, 'to the long one'));
    const fromLong = await send(app, long, sendBody('dest', 'from the long one'));
    expect((await fetchMessages(app, long)).map((x) => x.message_id)).toEqual([toLong.message_id]);
    await ack(app, long, [toLong.message_id], true);
    expect(await fetchMessages(app, long, 'wait=0')).toEqual([]);
    expect((await fetchMessages(app, 'dest')).map((x) => x.message_id)).toEqual([fromLong.message_id]);
    await ack(app, 'dest', [fromLong.message_id]);
  });
});
