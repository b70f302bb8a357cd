// Messaging delivery semantics: FIFO and paging, limits, at-least-once, broadcast fan-out to many
// members, capability routing and payload limits. In-process apps; every block its own namespace.
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { meshesClosedAfterAll, register, type TestMesh } from '../helpers/app.js';
import {
  ack,
  expectError,
  fetchMessages,
  fetchRaw,
  nested,
  registerLapsed,
  send,
  sendBody,
  sendRaw,
  xlen,
  type AgentMessage,
} from '../helpers/messages.js';

const mesh = meshesClosedAfterAll();

describe('ordering, limits and delivery guarantees', () => {
  it('keeps FIFO per recipient over 1000 messages (fetch with limit=1000)', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'p');
    await register(app, 'q');
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) ids.push((await send(app, 'p', sendBody('q', { i }))).message_id);
    const got = await fetchMessages(app, 'q', 'limit=1000');
    expect(got).toHaveLength(1000);
    expect(got.map((x) => x.message_id)).toEqual(ids);
    expect(got.map((x) => (x.payload as { i: number }).i)).toEqual(ids.map((_, i) => i));
    // Default page is the oldest 100.
    expect((await fetchMessages(app, 'q')).map((x) => x.message_id)).toEqual(ids.slice(0, 100));
    await ack(app, 'q', ids.slice(0, 500));
    expect((await fetchMessages(app, 'q', 'limit=1000')).map((x) => x.message_id)).toEqual(ids.slice(500));
  }, 30_000);

  it('returns targeted and broadcast messages interleaved oldest first, also when a page cuts through them', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    for (const id of ['u', 'v', 'w']) await register(app, id);
    const ids: string[] = [];
    // Back-to-back sends land in the same millisecond often: order must still hold.
    for (let i = 0; i < 150; i++) {
      const src = i % 3 === 0 ? 'u' : 'v';
      const target = i % 2 === 0 ? null : 'w';
      ids.push((await send(app, src, sendBody(target, i))).message_id);
    }
    const all = await fetchMessages(app, 'w', 'limit=1000');
    expect(all.map((x) => x.payload)).toEqual(ids.map((_, i) => i));
    expect(all.map((x) => x.message_id)).toEqual(ids);
    expect(all.map((x) => x.target_instance)).toEqual(ids.map((_, i) => (i % 2 === 0 ? null : 'w')));
    // A smaller page is the oldest slice, and repeated reads return the same slice.
    for (const limit of [1, 7, 40]) {
      expect((await fetchMessages(app, 'w', `limit=${limit}`)).map((x) => x.message_id)).toEqual(ids.slice(0, limit));
    }
    await ack(app, 'w', ids.slice(0, 75));
    expect((await fetchMessages(app, 'w', 'limit=1000')).map((x) => x.message_id)).toEqual(ids.slice(75));
  });

  it('limit defaults to 100, allows 1000, rejects 0 and 1001', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'p');
    await register(app, 'q');
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push((await send(app, 'p', sendBody('q', i))).message_id);
    expect(await fetchMessages(app, 'q')).toHaveLength(100);
    expect((await fetchMessages(app, 'q', 'limit=1000')).map((x) => x.message_id)).toEqual(ids);
    expect(await fetchMessages(app, 'q', 'limit=5')).toHaveLength(5);
    expectError(await fetchRaw(app, 'q', 'limit=1001'), 400, 'invalid_request');
    expectError(await fetchRaw(app, 'q', 'limit=0'), 400, 'invalid_request');
    expectError(await fetchRaw(app, 'q', 'limit=-1'), 400, 'invalid_request');
  });

  it('is at-least-once: fetching twice without ack returns the same messages (also through another replica)', async () => {
    const m = await mesh({}, { apps: 2 });
    const [a1, a2] = m.apps as [FastifyInstance, FastifyInstance];
    for (const id of ['p', 'q', 'r']) await register(a1, id);
    const d = await send(a1, 'p', sendBody('q', 'direct'));
    const b = await send(a1, 'r', sendBody(null, 'bcast'));
    const first = await fetchMessages(a1, 'q');
    const second = await fetchMessages(a1, 'q');
    const third = await fetchMessages(a2, 'q');
    expect(first.map((x) => x.message_id)).toEqual([d.message_id, b.message_id]);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    await ack(a2, 'q', [d.message_id, b.message_id]);
    expect(await fetchMessages(a1, 'q')).toEqual([]);
  });
});

describe('broadcast to 20 members', () => {
  it('delivers to exactly the live members except the sender; each acks its own copy', async () => {
    const m = await mesh();
    const app = m.apps[0]!;
    await register(app, 'sender');
    const members = Array.from({ length: 20 }, (_, i) => `member-${String(i).padStart(2, '0')}`);
    for (const id of members) await register(app, id);
    await registerLapsed(m, 'lapsed-member');

    const sent = await send(app, 'sender', sendBody(null, { to: 'everyone' }));
    expect([...sent.delivered_to].sort()).toEqual(members);
    expect(await xlen(m, m.keys.broadcast)).toBe(1);

    expect(await fetchMessages(app, 'sender')).toEqual([]);
    for (let i = 0; i < members.length; i++) {
      // Everyone who has not acked yet still has it; everyone who has, does not.
      for (let j = 0; j < members.length; j++) {
        const got = await fetchMessages(app, members[j]!);
        expect(
          got.map((x) => x.message_id),
          `${members[j]} after ${i} acks`,
        ).toEqual(j < i ? [] : [sent.message_id]);
      }
      await ack(app, members[i]!, [sent.message_id], i % 2 === 1);
    }
    // The lapsed member, registering again, never sees it.
    await register(app, 'lapsed-member');
    expect(await fetchMessages(app, 'lapsed-member')).toEqual([]);
  });
});

describe('capability routing (target_capability, target_instance null)', () => {
  let m: TestMesh;
  let app: FastifyInstance;
  beforeAll(async () => {
    m = await mesh();
    app = m.apps[0]!;
    // The sender holds the capability itself: it must never be routed to itself.
    await register(app, 'client', { capabilities: ['summarize'] });
    await register(app, 'h1', { capabilities: ['summarize', 'other'] });
    await register(app, 'h2', { capabilities: ['summarize'] });
    await register(app, 'bystander', { capabilities: ['other'] });
    await registerLapsed(m, 'h-lapsed', { capabilities: ['summarize'] });
  });

  async function drain(id: string): Promise<AgentMessage[]> {
    const got = await fetchMessages(app, id, 'limit=1000');
    if (got.length > 0)
      await ack(
        app,
        id,
        got.map((x) => x.message_id),
      );
    return got;
  }

  it('spreads equal-load holders fairly when each acks promptly; never the sender, a lapsed holder or a non-holder', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10; i++) {
      const r = await send(app, 'client', sendBody(null, { job: i }, { target_capability: 'summarize', message_type: 'TaskDelegation' }));
      expect(r.delivered_to).toHaveLength(1);
      const to = r.delivered_to[0]!;
      counts[to] = (counts[to] ?? 0) + 1;
      const got = await drain(to);
      expect(got).toHaveLength(1);
      // Routed messages are addressed to the chosen holder.
      expect(got[0]).toMatchObject({ message_id: r.message_id, target_instance: to, source_instance: 'client' });
    }
    expect(Object.keys(counts).sort()).toEqual(['h1', 'h2']);
    expect(Math.abs(counts.h1! - counts.h2!)).toBeLessThanOrEqual(2);
    expect(await drain('bystander')).toEqual([]);
    expect(await drain('client')).toEqual([]);
  });

  it('chooses the holder with the fewest pending messages', async () => {
    for (let i = 0; i < 3; i++) await send(app, 'client', sendBody('h1', `backlog ${i}`));
    await send(app, 'client', sendBody('h2', 'backlog'));
    // h1: 3 pending, h2: 1 pending -> h2, then h2 again (2 < 3), then they are equal.
    const r1 = await send(app, 'client', sendBody(null, 'r1', { target_capability: 'summarize' }));
    const r2 = await send(app, 'client', sendBody(null, 'r2', { target_capability: 'summarize' }));
    expect(r1.delivered_to).toEqual(['h2']);
    expect(r2.delivered_to).toEqual(['h2']);
    // Now h1 has 3 and h2 has 3; h1 acks everything -> h1 is the least loaded.
    await drain('h1');
    const r3 = await send(app, 'client', sendBody(null, 'r3', { target_capability: 'summarize' }));
    expect(r3.delivered_to).toEqual(['h1']);
    await drain('h1');
    await drain('h2');
  });

  it('answers 400 no_capable_instance when no other live instance has the capability, and queues nothing', async () => {
    const keysBefore = await m.namespaceKeys();
    const none = expectError(
      await sendRaw(app, 'client', sendBody(null, 'x', { target_capability: 'translate' })),
      400,
      'no_capable_instance',
    );
    expect(none.error).toContain('translate');
    // Only the sender itself and a lapsed member are left: still nobody.
    await register(app, 'only-me', { capabilities: ['solo'] });
    await registerLapsed(m, 'solo-lapsed', { capabilities: ['solo'] });
    const keysMid = await m.namespaceKeys();
    expectError(await sendRaw(app, 'only-me', sendBody(null, 'x', { target_capability: 'solo' })), 400, 'no_capable_instance');
    expect(await m.namespaceKeys()).toEqual(keysMid);
    expect(keysBefore.filter((k) => k.includes('inbox:'))).toEqual(keysMid.filter((k) => k.includes('inbox:')));
  });

  it('an explicit target_instance wins over target_capability', async () => {
    const r = await send(app, 'client', sendBody('bystander', 'direct', { target_capability: 'summarize' }));
    expect(r.delivered_to).toEqual(['bystander']);
    await drain('bystander');
  });
});

describe('payload limits', () => {
  let m: TestMesh;
  let app: FastifyInstance;
  beforeAll(async () => {
    m = await mesh({ MAX_PAYLOAD_BYTES: 64 });
    app = m.apps[0]!;
    await register(app, 'a');
    await register(app, 'b');
  });

  it('rejects a payload over MAX_PAYLOAD_BYTES with 413 payload_too_large and queues nothing', async () => {
    const big = 'x'.repeat(100);
    expectError(await sendRaw(app, 'a', sendBody('b', big)), 413, 'payload_too_large');
    expectError(await sendRaw(app, 'a', sendBody(null, { big })), 413, 'payload_too_large');
    expect(await xlen(m, m.keys.inbox('b'))).toBe(0);
    expect(await xlen(m, m.keys.broadcast)).toBe(0);
    // Just under the limit is fine (the limit applies to the serialized payload).
    const ok = 'y'.repeat(60);
    await send(app, 'a', sendBody('b', ok));
    expect((await fetchMessages(app, 'b')).map((x) => x.payload)).toEqual([ok]);
  });

  it('rejects a body over BODY_LIMIT_BYTES with 413 JSON', async () => {
    const mm = await mesh({ BODY_LIMIT_BYTES: 2048 });
    await register(mm.apps[0]!, 'a');
    await register(mm.apps[0]!, 'b');
    expectError(await sendRaw(mm.apps[0]!, 'a', sendBody('b', 'z'.repeat(4096))), 413, 'payload_too_large');
  });

  it('rejects deeply nested JSON (depth 100) with 400 before parsing it, accepts moderate nesting', async () => {
    const deep = nested(100);
    const mm = await mesh();
    const a = mm.apps[0]!;
    await register(a, 'a');
    await register(a, 'b');
    expectError(await sendRaw(a, 'a', sendBody('b', deep)), 400, 'json_too_deep');
    const arrays = JSON.parse('['.repeat(100) + ']'.repeat(100)) as unknown;
    expectError(await sendRaw(a, 'a', sendBody('b', arrays)), 400, 'json_too_deep');
    expect(await xlen(mm, mm.keys.inbox('b'))).toBe(0);
    const moderate = nested(10);
    await send(a, 'a', sendBody('b', moderate));
    expect((await fetchMessages(a, 'b')).map((x) => x.payload)).toEqual([moderate]);
  });
});
