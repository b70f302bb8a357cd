// The operator read routes the console uses: GET /registry/stats (mesh totals read from Redis, the
// same on every replica, with mesh-wide sent/acked/cleanup counters), GET /registry/inspect (the
// rows on screen: records + inbox depths, bounded) and GET /registry/agents/{id}/pending (a page of
// message ids, never the bodies).
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { INSPECT_MAX_IDS, PENDING_PAGE_MAX } from '../../src/registry/inspect.js';
import { eventually, heartbeat, meshesClosedAfterAll, meshPerSuite, register, sleep } from '../helpers/app.js';
import { fetchMessages, RFC3339_Z, send, sendBody } from '../helpers/messages.js';
import { call, expectJsonError } from '../helpers/security.js';

interface Stats {
  now: string;
  live: number;
  registered: number;
  lapsed: number;
  leader_id: string | null;
  leader_term: number;
  inbox_total: number;
  inbox_max: number;
  messages_sent: number;
  messages_acked: number;
  cleanup_runs: number;
  heartbeat_interval_ms: number;
  stale_timeout_ms: number;
  cleanup_interval_ms: number;
}
interface Inspected {
  now: string;
  instances: { instance_id: string; hostname: string; status: string | null; metrics: unknown; pending: number; is_leader: boolean }[];
  missing: string[];
}
interface Pending {
  instance_id: string;
  pending: number;
  message_ids: string[];
  next_cursor: string | null;
}

const startMesh = meshesClosedAfterAll();

async function get<T>(app: FastifyInstance, url: string, token?: string): Promise<T> {
  const res = await call(app, 'GET', url, { token });
  expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
  return res.json<T>();
}

async function ack(app: FastifyInstance, id: string, ids: string[]) {
  const res = await app.inject({ method: 'POST', url: `/messages/ack/${id}`, payload: { message_ids: ids } });
  expect(res.statusCode).toBe(204);
}

describe('GET /registry/stats', () => {
  const mesh = meshPerSuite({ HEARTBEAT_INTERVAL_MS: 1000, STALE_TIMEOUT_MS: 60_000, CLEANUP_INTERVAL_MS: 5000 }, { apps: 2 });
  let a: FastifyInstance;
  let b: FastifyInstance;
  beforeAll(async () => {
    [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
  });

  it('reads the totals from Redis: two replicas give the same figures', async () => {
    await register(a, 's-1');
    await register(b, 's-2');
    await register(a, 's-3');
    const [x, y] = [await get<Stats>(a, '/registry/stats'), await get<Stats>(b, '/registry/stats')];
    const { now: nx, ...restX } = x;
    const { now: ny, ...restY } = y;
    expect(restX).toEqual(restY);
    expect(x).toMatchObject({
      live: 3,
      registered: 3,
      lapsed: 0,
      leader_id: 's-1',
      leader_term: Number(await mesh.redis.get(mesh.keys.term)),
      inbox_total: 0,
    });
    expect(x).toMatchObject({ heartbeat_interval_ms: 1000, stale_timeout_ms: 60_000, cleanup_interval_ms: 5000 });
    // `now` is Redis TIME: the console measures heartbeat ages and rates against it.
    for (const n of [nx, ny]) {
      expect(n).toMatch(RFC3339_Z);
      const [s] = await mesh.redis.time();
      expect(Math.abs(Date.parse(n) - Number(s) * 1000)).toBeLessThan(5000);
    }
  });

  it('messages sent and acked are mesh-wide: counted by whichever replica served them', async () => {
    const before = await get<Stats>(a, '/registry/stats');
    const m1 = await send(a, 's-1', sendBody('s-2', 1));
    const m2 = await send(b, 's-1', sendBody('s-2', 2));
    await send(b, 's-3', sendBody('s-2', 3));
    // A broadcast counts once, however many recipients.
    await send(a, 's-2', sendBody(null, 'all'));
    let after = await get<Stats>(b, '/registry/stats');
    expect(after.messages_sent - before.messages_sent).toBe(4);
    expect(after.inbox_total - before.inbox_total).toBe(3);
    expect(after.inbox_max).toBe(3);
    await ack(a, 's-2', [m1.message_id]);
    await ack(b, 's-2', [m2.message_id, 'not-a-message-of-s-2']);
    // Acking somebody else's id counts nothing.
    await ack(a, 's-1', [(await send(a, 's-3', sendBody('s-2', 4))).message_id]);
    after = await get<Stats>(a, '/registry/stats');
    expect(after.messages_acked - before.messages_acked).toBe(2);
    expect(after.messages_sent - before.messages_sent).toBe(5);
    expect(await get<Stats>(b, '/registry/stats')).toMatchObject({
      messages_acked: after.messages_acked,
      messages_sent: after.messages_sent,
    });
  });

  it('counts cleanup runs mesh-wide: every tick once, whichever replica ran it', async () => {
    const m = await startMesh({ CLEANUP_INTERVAL_MS: 100 }, { apps: 2, maintenance: true });
    const runs = () => m.apps.reduce((n, app) => n + app.mesh.maintenance!.stats.runs, 0);
    await eventually(async () => runs() >= 3, 15_000, 50);
    for (const app of m.apps) await app.mesh.maintenance!.close();
    const total = runs();
    const x = await get<Stats>(m.apps[0]!, '/registry/stats');
    expect(x.cleanup_runs).toBe(total);
    expect((await get<Stats>(m.apps[1]!, '/registry/stats')).cleanup_runs).toBe(total);
  });

  it('counts lapsed members apart from live ones', async () => {
    const m = await startMesh({ HEARTBEAT_INTERVAL_MS: 100, STALE_TIMEOUT_MS: 1000 });
    const app = m.apps[0]!;
    await register(app, 'keeps');
    await register(app, 'lapses');
    await eventually(
      async () => {
        expect((await heartbeat(app, 'keeps')).statusCode).toBe(200);
        const s = await get<Stats>(app, '/registry/stats');
        return s.lapsed === 1 && s.live === 1 && s.registered === 2;
      },
      10_000,
      50,
    );
  });
});

describe('GET /registry/inspect', () => {
  const mesh = meshPerSuite({ HEARTBEAT_INTERVAL_MS: 1000, STALE_TIMEOUT_MS: 60_000 });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
  });

  it('returns the live records and inbox depths of the ids asked, in order, and names the rest', async () => {
    await register(app, 'i-1', { capabilities: ['x'] });
    await register(app, 'i-2');
    await heartbeat(app, 'i-2', { status: 'busy', metrics: { load: 0.5 } });
    for (let i = 0; i < 3; i++) await send(app, 'i-1', sendBody('i-2', i));
    const r = await get<Inspected>(app, '/registry/inspect?ids=i-2,ghost,i-1,i-2');
    expect(r.instances.map((x) => [x.instance_id, x.pending])).toEqual([
      ['i-2', 3],
      ['i-1', 0],
    ]);
    expect(r.instances[0]).toMatchObject({ status: 'busy', metrics: { load: 0.5 }, hostname: 'i-2.local', is_leader: false });
    expect(r.instances[1]).toMatchObject({ is_leader: true });
    expect(r.missing).toEqual(['ghost']);
    expect(r.now).toMatch(RFC3339_Z);
    // Pending drops with acks.
    const msgs = await fetchMessages(app, 'i-2');
    await ack(app, 'i-2', [msgs[0]!.message_id]);
    expect((await get<Inspected>(app, '/registry/inspect?ids=i-2')).instances[0]!.pending).toBe(2);
  });

  it('a member whose heartbeat lapsed is missing, before cleanup removes it', async () => {
    const m = await startMesh({ HEARTBEAT_INTERVAL_MS: 20, STALE_TIMEOUT_MS: 200 });
    await register(m.apps[0]!, 'i-lapse');
    await sleep(300);
    expect(await m.redis.exists(m.keys.inst('i-lapse'))).toBe(1);
    const r = await get<Inspected>(m.apps[0]!, '/registry/inspect?ids=i-lapse');
    expect(r).toMatchObject({ instances: [], missing: ['i-lapse'] });
  });

  it(`takes 1 to ${INSPECT_MAX_IDS} valid ids, else 400`, async () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `n-${i}`).join(',');
    expect((await get<Inspected>(app, `/registry/inspect?ids=${ids(INSPECT_MAX_IDS)}`)).missing).toHaveLength(INSPECT_MAX_IDS);
    for (const q of ['', '?ids=', '?ids=,,', `?ids=${ids(INSPECT_MAX_IDS + 1)}`, '?ids=ok,{bad}', `?ids=${'x'.repeat(129)}`]) {
      expectJsonError(await call(app, 'GET', `/registry/inspect${q}`), 400, 'invalid_request');
    }
  });
});

describe('GET /registry/agents/{id}/pending', () => {
  const mesh = meshPerSuite({ HEARTBEAT_INTERVAL_MS: 1000, STALE_TIMEOUT_MS: 60_000, MAX_PAYLOAD_BYTES: 200_000 });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    await register(app, 'p-src');
    await register(app, 'p-dst');
  });

  it('pages through the pending message ids, oldest first, without the bodies', async () => {
    const big = 'y'.repeat(100_000);
    const sent: string[] = [];
    for (let i = 0; i < 7; i++) sent.push((await send(app, 'p-src', sendBody('p-dst', { i, big }))).message_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await call(app, 'GET', `/registry/agents/p-dst/pending?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      // Bounded answer: ids only, never a 100 kB payload.
      expect(res.body.length).toBeLessThan(2000);
      const page = res.json<Pending>();
      expect(page).toMatchObject({ instance_id: 'p-dst', pending: 7 });
      seen.push(...page.message_ids);
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual(sent);
    expect(pages).toBe(3);
    await ack(app, 'p-dst', sent.slice(0, 5));
    expect(await get<Pending>(app, '/registry/agents/p-dst/pending')).toEqual({
      instance_id: 'p-dst',
      pending: 2,
      message_ids: sent.slice(5),
      next_cursor: null,
    });
  });

  it('is empty for an empty inbox, 404 for an id that is not live, 400 for bad input', async () => {
    expect(await get<Pending>(app, '/registry/agents/p-src/pending')).toEqual({
      instance_id: 'p-src',
      pending: 0,
      message_ids: [],
      next_cursor: null,
    });
    expectJsonError(await call(app, 'GET', '/registry/agents/ghost/pending'), 404, 'instance_not_found');
    for (const q of ['limit=0', `limit=${PENDING_PAGE_MAX + 1}`, 'limit=x', 'cursor=abc', 'cursor=1-2-3']) {
      expectJsonError(await call(app, 'GET', `/registry/agents/p-dst/pending?${q}`), 400, 'invalid_request');
    }
    expectJsonError(await call(app, 'GET', '/registry/agents/{bad}/pending'), 400, 'invalid_request');
  });
});
