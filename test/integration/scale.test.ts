// Bounded work per Redis call (issue 13): pages honour limit and cursor, register answers are a
// bounded page, fetch answers stay within a byte budget (an oversize message still goes, alone),
// broadcasts keep exact delivered_to and per-recipient acks, a re-register storm leaves every agent
// registered once - and no script call's work grows with the mesh: the commands each call runs
// inside Redis are counted (MONITOR shows them) at two populations and must not grow.
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SKILL_INDEX_MAX } from '../../src/a2a/agent-card.js';
import { FETCH_READ_BYTES } from '../../src/registry/message-fetch.js';
import { loadScriptSource, SCRIPT_NAMES, type ScriptName } from '../../src/redis/script-runner.js';
import {
  eventually,
  heartbeat,
  meshesClosedAfterAll,
  meshPerSuite,
  register,
  registerBody,
  sleep,
  startMesh,
  type TestMesh,
} from '../helpers/app.js';
import { RawMonitor } from '../helpers/monitor.js';
import { startRedisProcess, type RedisProcessHandle } from '../helpers/redis.js';

const startMeshOnce = meshesClosedAfterAll();

type Instance = { instance_id: string; is_leader: boolean };
type Listing = { instances: Instance[]; leader_id: string | null; next_cursor: string | null };
type Message = { message_id: string; payload: unknown; source_instance: string; target_instance: string | null };

async function json<T>(app: FastifyInstance, url: string, init: { method?: 'GET' | 'POST' | 'DELETE'; payload?: object } = {}): Promise<T> {
  const res = await app.inject({ method: init.method ?? 'GET', url, ...(init.payload ? { payload: init.payload } : {}) });
  if (res.statusCode >= 300) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.statusCode} ${res.body}`);
  return (res.body ? res.json() : undefined) as T;
}

const send = (app: FastifyInstance, source: string, body: object) =>
  json<{ message_id: string; delivered_to: string[] }>(app, `/messages/send/${source}`, {
    method: 'POST',
    payload: { message_type: 'Notification', correlation_id: null, target_instance: null, ...body },
  });

/** A send with an Idempotency-Key (the same key again is a replay: nothing queued). */
async function keyedSend(app: FastifyInstance, source: string, body: object, key: string): Promise<void> {
  const res = await app.inject({
    method: 'POST',
    url: `/messages/send/${source}`,
    headers: { 'idempotency-key': key },
    payload: { message_type: 'Notification', correlation_id: null, target_instance: null, ...body },
  });
  if (res.statusCode !== 200) throw new Error(`keyed send: ${res.statusCode} ${res.body}`);
}

async function registerMany(app: FastifyInstance, ids: string[], capabilities: string[] = [], agentCard?: object): Promise<void> {
  const one = (id: string) =>
    agentCard
      ? json(app, '/registry/register', { method: 'POST', payload: { ...registerBody(id, { capabilities }), agent_card: agentCard } })
      : register(app, id, { capabilities });
  for (let i = 0; i < ids.length; i += 100) {
    await Promise.all(ids.slice(i, i + 100).map(one));
  }
}

/** An A2A card whose skills index `skills` ids, each also tagged `work` (the capability's name). */
function workCard(skills: string[]): object {
  return {
    name: 'Worker',
    description: 'works',
    supportedInterfaces: [{ url: 'https://worker.example.com/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
    version: '1.0.0',
    capabilities: {},
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: skills.map((id) => ({ id, name: id, description: id, tags: ['work', 'work-skill'] })),
  };
}

describe('listings are pages of bounded work with consistent order', () => {
  const mesh = meshPerSuite({ STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    for (let i = 0; i < 7; i++) await register(app, `pg-${i}`, { capabilities: i % 2 === 0 ? ['even'] : ['odd'] });
  });

  async function walk(base: string, limit: number): Promise<string[][]> {
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page: Listing = await json<Listing>(
        app,
        `${base}${base.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.instances.length).toBeLessThanOrEqual(limit);
      pages.push(page.instances.map((i) => i.instance_id));
      cursor = page.next_cursor;
    } while (cursor !== null && pages.length < 20);
    return pages;
  }

  it('the full listing pages by limit and cursor, in join order, each member once', async () => {
    const pages = await walk('/registry/agents', 2);
    expect(pages.flat()).toEqual(['pg-0', 'pg-1', 'pg-2', 'pg-3', 'pg-4', 'pg-5', 'pg-6']);
    expect(pages[0]).toHaveLength(2);
    const all = await json<Listing>(app, '/registry/agents');
    expect(all.instances.map((i) => i.instance_id)).toEqual(pages.flat());
    expect(all.next_cursor).toBeNull();
  });

  it('a capability listing honours limit and cursor too (it returned everything before)', async () => {
    const first = await json<Listing>(app, '/registry/agents?capability=even&limit=2');
    expect(first.instances.map((i) => i.instance_id)).toEqual(['pg-0', 'pg-2']);
    expect(first.next_cursor).not.toBeNull();
    const pages = await walk('/registry/agents?capability=even', 2);
    expect(pages.flat()).toEqual(['pg-0', 'pg-2', 'pg-4', 'pg-6']);
    // Members that join later appear after the cursor of an earlier page, never twice.
    await register(app, 'pg-7', { capabilities: ['even'] });
    const rest = await json<Listing>(app, `/registry/agents?capability=even&limit=10&cursor=${first.next_cursor}`);
    expect(rest.instances.map((i) => i.instance_id)).toEqual(['pg-4', 'pg-6', 'pg-7']);
  });

  it('the register answer is a bounded first page with the caller always in it', async () => {
    const small = await mesh.addApp({ REGISTER_PEERS_MAX: 3, STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 });
    const res = await small.inject({ method: 'POST', url: '/registry/register', payload: registerBody('pg-late') });
    const body = res.json<{ peers: Instance[]; peers_truncated: boolean; peers_next_cursor: string | null; leader_id: string }>();
    expect(body.peers.map((p) => p.instance_id)).toEqual(['pg-0', 'pg-1', 'pg-2', 'pg-late']);
    expect(body.peers_truncated).toBe(true);
    // The cursor continues the listing where the page ended.
    const rest = await json<Listing>(app, `/registry/agents?cursor=${body.peers_next_cursor}`);
    expect(rest.instances.map((i) => i.instance_id)).toEqual(['pg-3', 'pg-4', 'pg-5', 'pg-6', 'pg-7', 'pg-late']);
    // is_leader and leader_id agree in the answer.
    expect(body.peers.filter((p) => p.is_leader).map((p) => p.instance_id)).toEqual([body.leader_id]);
  });
});

describe('fetch answers are bounded in bytes', () => {
  it('stays within FETCH_MAX_BYTES, delivers an oversize message alone, and pages through the rest after acks', async () => {
    const mesh = await startMeshOnce({ FETCH_MAX_BYTES: 250_000, MAX_PAYLOAD_BYTES: 400_000, BODY_LIMIT_BYTES: 500_000 });
    const app = mesh.apps[0]!;
    await register(app, 'fb-src');
    await register(app, 'fb-dst');
    const sizes = [100_000, 100_000, 100_000, 300_000, 10, 10];
    const sent: string[] = [];
    for (const [i, n] of sizes.entries()) {
      sent.push((await send(app, 'fb-src', { target_instance: 'fb-dst', payload: `${i}:${'x'.repeat(n)}` })).message_id);
    }
    const seen: string[] = [];
    const answers: number[][] = [];
    for (let round = 0; round < 10 && seen.length < sent.length; round++) {
      const res = await app.inject({ url: '/messages/fb-dst?limit=1000' });
      const { messages } = res.json<{ messages: Message[] }>();
      expect(messages.length).toBeGreaterThan(0);
      answers.push(messages.map((m) => String(m.payload).length - 2));
      const bodyBytes = messages.reduce((n, m) => n + JSON.stringify(m).length, 0);
      // Within the budget, or a single message larger than it.
      if (messages.length > 1) expect(bodyBytes).toBeLessThanOrEqual(250_000 + messages.length * 300);
      seen.push(...messages.map((m) => m.message_id));
      await json(app, '/messages/ack/fb-dst', { method: 'POST', payload: { message_ids: messages.map((m) => m.message_id) } });
    }
    // Oldest first, nothing lost or repeated; the 300 KB message came alone.
    expect(seen).toEqual(sent);
    expect(answers.some((a) => a.length === 1 && a[0]! >= 300_000)).toBe(true);
    expect(answers[0]!.length).toBe(2);
  });
});

describe('broadcast to many members', () => {
  it('delivered_to is exactly the live members that had joined, except the sender; each acks its own copy', async () => {
    const mesh = await startMeshOnce({ STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 });
    const app = mesh.apps[0]!;
    const other = await mesh.addApp({ STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 });
    const ids = Array.from({ length: 400 }, (_, i) => `bc-${i}`);
    await registerMany(app, ids);
    // Members that lapsed (not yet cleaned up) and that left are not recipients.
    const shortLived = await mesh.addApp({ STALE_TIMEOUT_MS: 300, HEARTBEAT_INTERVAL_MS: 100 });
    await register(shortLived, 'bc-lapsed');
    await json(app, '/registry/deregister/bc-7', { method: 'DELETE' });
    await eventually(async () => (await app.inject({ url: '/registry/agents/bc-lapsed' })).statusCode === 404, 5000, 50);
    // Sent through the other replica: its membership view names the recipients.
    const b = await send(other, 'bc-0', { payload: 'hello all' });
    const expected = ids.filter((id) => id !== 'bc-0' && id !== 'bc-7');
    expect([...b.delivered_to].sort()).toEqual([...expected].sort());
    expect(new Set(b.delivered_to).size).toBe(b.delivered_to.length);
    // A later member never sees it; the sender never gets its own.
    await register(app, 'bc-late');
    expect((await json<{ messages: Message[] }>(app, '/messages/bc-late')).messages).toEqual([]);
    expect((await json<{ messages: Message[] }>(app, '/messages/bc-0')).messages).toEqual([]);
    // Every recipient gets it once and acks its own copy; the others still have theirs.
    for (const id of expected.slice(0, 50)) {
      const { messages } = await json<{ messages: Message[] }>(app, `/messages/${id}`);
      expect(messages.map((m) => m.message_id)).toEqual([b.message_id]);
      await json(app, `/messages/ack/${id}`, { method: 'POST', payload: { message_ids: [b.message_id] } });
      expect((await json<{ messages: Message[] }>(app, `/messages/${id}`)).messages).toEqual([]);
    }
    const last = expected.at(-1)!;
    expect((await json<{ messages: Message[] }>(app, `/messages/${last}`)).messages.map((m) => m.message_id)).toEqual([b.message_id]);
  });

  it('the per-member backlog bound answers 429 naming the full members, whatever the mesh size', async () => {
    const mesh = await startMeshOnce({ INBOX_MAX: 3, STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 });
    const app = mesh.apps[0]!;
    await registerMany(
      app,
      Array.from({ length: 50 }, (_, i) => `bl-${i}`),
    );
    // bl-1..49 read and ack everything; bl-49 never reads.
    for (let n = 0; n < 3; n++) {
      await send(app, 'bl-0', { payload: n });
      for (let i = 1; i < 49; i++) {
        const { messages } = await json<{ messages: Message[] }>(app, `/messages/bl-${i}`);
        await json(app, `/messages/ack/bl-${i}`, { method: 'POST', payload: { message_ids: messages.map((m) => m.message_id) } });
      }
    }
    const res = await app.inject({
      method: 'POST',
      url: '/messages/send/bl-0',
      payload: { target_instance: null, message_type: 'Query', payload: 'more', correlation_id: null },
    });
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ code: 'inbox_full', full: ['bl-49'] });
    // The sender's own broadcasts never count against it: it can still receive.
    const toSender = await app.inject({
      method: 'POST',
      url: '/messages/send/bl-1',
      payload: { target_instance: 'bl-0', message_type: 'Query', payload: 1, correlation_id: null },
    });
    expect(toSender.statusCode).toBe(200);
  });
});

describe('re-register storm', () => {
  it('after Redis lost the namespace, a fleet re-registering at once ends with every agent registered once', async () => {
    const mesh = await startMeshOnce({ STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 });
    const [a, b] = [mesh.apps[0]!, await mesh.addApp({ STALE_TIMEOUT_MS: 600_000, HEARTBEAT_INTERVAL_MS: 1000 })];
    const ids = Array.from({ length: 600 }, (_, i) => `st-${i}`);
    await registerMany(a, ids);
    // What a restart without persistence does to this namespace.
    await mesh.redis.del(...(await mesh.namespaceKeys()));
    expect((await heartbeat(a, 'st-0')).statusCode).toBe(404);
    // Every agent re-registers at once (and some twice, as clients retrying would), through both replicas.
    await Promise.all(ids.map((id, i) => register(i % 2 ? a : b, id)));
    await Promise.all(ids.slice(0, 100).map((id) => register(a, id)));
    expect(await mesh.redis.zcard(mesh.keys.joined)).toBe(ids.length);
    expect(await mesh.redis.zcard(mesh.keys.deadlines)).toBe(ids.length);
    const joinedEvents = (await mesh.redis.xrange(mesh.keys.events, '-', '+')).filter(([, f]) => f[1] === 'joined');
    expect(joinedEvents).toHaveLength(ids.length);
    const listing = await json<Listing>(a, '/registry/agents');
    expect(listing.instances.map((i) => i.instance_id).sort()).toEqual([...ids].sort());
    expect(listing.instances.filter((i) => i.is_leader)).toHaveLength(1);
  });
});

// ---- work per script call --------------------------------------------------------------------

const leaderOf = async (app: FastifyInstance) => (await app.inject({ url: '/registry/leader' })).json<{ leader_id: string | null }>();
/** An election call: the listing page of one row, the leader check and ELECTION_SCAN (128) lapsed members examined. */
const ELECTION_BUDGET = 30 + 2 * 128;

/** Undoes the escaping MONITOR applies to arguments (Redis' sdscatrepr). */
function unrepr(s: string): string {
  const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '\\': '\\', '"': '"' };
  return s.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, c: string) =>
    c.length === 3 ? String.fromCharCode(parseInt(c.slice(1), 16)) : (simple[c] ?? c),
  );
}

/** Commands each script call ran inside Redis, by script name, from MONITOR's stream. */
class ScriptWork {
  private readonly bySha = new Map<string, ScriptName>();
  private monitor: RawMonitor | null = null;
  private lines: { args: string[]; lua: boolean }[] = [];

  constructor(private readonly url: string) {
    for (const name of SCRIPT_NAMES) {
      this.bySha.set(createHash('sha1').update(loadScriptSource(name)).digest('hex'), name);
    }
  }

  async start(): Promise<void> {
    this.lines = [];
    this.monitor = await RawMonitor.start(this.url, ({ args, source }) => {
      this.lines.push({ args, lua: source === 'lua' });
    });
  }

  /** Stops monitoring; returns, per script name, the command count of each call. */
  async stop(): Promise<Map<ScriptName, number[]>> {
    await sleep(200); // MONITOR lines arrive asynchronously
    this.monitor?.close();
    this.monitor = null;
    const calls = new Map<ScriptName, number[]>();
    let current: number[] | null = null;
    for (const line of this.lines) {
      if (line.lua) {
        if (current) current[current.length - 1]!++;
        continue;
      }
      current = null;
      const cmd = line.args[0]?.toLowerCase();
      if (cmd === 'evalsha' || cmd === 'eval') {
        // ioredis sends EVAL the first time a connection runs a script (auto-pipelining);
        // MONITOR shows its source escaped.
        const sha = cmd === 'evalsha' ? line.args[1]! : createHash('sha1').update(unrepr(line.args[1]!)).digest('hex');
        const name = this.bySha.get(sha);
        if (!name) continue;
        const list = calls.get(name) ?? [];
        list.push(0);
        calls.set(name, list);
        current = list;
      }
    }
    return calls;
  }
}

describe('no script call does work that grows with the mesh', () => {
  let redis: RedisProcessHandle;
  let work: ScriptWork;
  const meshes: TestMesh[] = [];
  beforeAll(async () => {
    // A private Redis: MONITOR sees only this file's commands.
    redis = await startRedisProcess();
    work = new ScriptWork(redis.url);
  });
  afterAll(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await redis.stop();
  });

  /** The commands each kind of call runs, for a mesh of `population` members. */
  async function measure(population: number): Promise<Record<string, number>> {
    // On the private Redis whatever TEST_TOPOLOGY is (empty = unset: no Sentinel, no Cluster).
    const mesh = await startMesh({
      REDIS_URL: redis.url,
      REDIS_SENTINELS: '',
      REDIS_CLUSTER_NODES: '',
      REGISTER_PEERS_MAX: 50,
      STALE_TIMEOUT_MS: 600_000,
      HEARTBEAT_INTERVAL_MS: 1000,
    });
    meshes.push(mesh);
    const app = mesh.apps[0]!;
    const short = await mesh.addApp({
      REDIS_URL: redis.url,
      REDIS_SENTINELS: '',
      REDIS_CLUSTER_NODES: '',
      STALE_TIMEOUT_MS: 300,
      HEARTBEAT_INTERVAL_MS: 100,
    });
    // A fifth of the members lapse first (they lead the line, so elections must skip them), then
    // the rest join and stay; all hold a capability, and an A2A card whose skills are tagged with
    // the same name (routing to it reads both indexes).
    const lapsing = Array.from({ length: population / 5 }, (_, i) => `lap-${i}`);
    const staying = Array.from({ length: population - lapsing.length }, (_, i) => `m-${i}`);
    await registerMany(short, lapsing, ['work'], workCard(['lapsing-skill']));
    await registerMany(app, staying, ['work'], workCard(['staying-skill']));
    // Every lapsing member gone (the last registered lapses last: on a busy machine registering
    // them takes longer than their 300 ms). The leader (lap-0, the first to join) lapsed with all
    // the lap-* behind it: each election call examines at most ELECTION_SCAN of them and raises the
    // floor, so a few calls settle it. Measure those calls now, so that no call measured below
    // happens to run an election.
    await eventually(async () => (await app.inject({ url: `/registry/agents/${lapsing.at(-1)!}` })).statusCode === 404, 5000, 50);
    await work.start();
    let elections = 0;
    while ((await leaderOf(app)).leader_id === null && elections++ < 50);
    const electionCalls = (await work.stop()).get('list') ?? [];
    for (const n of electionCalls) expect(n, 'an election call').toBeLessThanOrEqual(ELECTION_BUDGET);
    expect((await leaderOf(app)).leader_id).toBe('m-0');
    // A queue of 300 messages for m-0 (targeted and broadcasts), 2 KB each.
    for (let i = 0; i < 150; i++) await send(app, 'm-1', { target_instance: 'm-0', payload: 'x'.repeat(2000) });
    for (let i = 0; i < 150; i++) await send(app, 'm-1', { payload: 'y'.repeat(2000) });
    const firstPage = await json<{ messages: Message[] }>(app, '/messages/m-0?limit=100');

    await work.start();
    await register(app, `new-${population}`, { capabilities: ['work'] });
    await heartbeat(app, 'm-2');
    await json(app, '/registry/agents?limit=100');
    await json(app, '/registry/agents?capability=work&limit=100');
    await json(app, '/registry/agents?skill=work-skill&limit=100');
    await json(app, '/registry/agents/m-2/agent-card');
    await send(app, 'm-1', { target_capability: 'work', payload: 1 });
    await send(app, 'm-1', { target_capability: 'work-skill', payload: 2 });
    await send(app, 'm-1', { payload: 'to all' });
    // Keyed sends and their replays: the record costs a GET and a SET, whatever the mesh.
    for (let i = 0; i < 2; i++) {
      await keyedSend(app, 'm-1', { payload: 'to all, once' }, `bk-${population}`);
      await keyedSend(app, 'm-1', { target_capability: 'work', payload: 2 }, `ck-${population}`);
    }
    await json(app, '/messages/m-0?limit=1000');
    await json(app, '/messages/ack/m-0', { method: 'POST', payload: { message_ids: firstPage.messages.map((m) => m.message_id) } });
    await app.mesh.instances.cleanupBatch(100);
    await app.mesh.messages.expireBatch(100);
    const calls = await work.stop();
    const out: Record<string, number> = {};
    for (const [name, counts] of calls) out[name] = Math.max(...counts);
    // Registering with an A2A card at the index bound (SKILL_INDEX_MAX ids and tags), then again
    // (the refresh unindexes the old entries first): measured on their own, as `register+card`.
    await work.start();
    const bigCard = workCard(Array.from({ length: SKILL_INDEX_MAX - 2 }, (_, i) => `skill-${i}`));
    await registerMany(app, [`card-${population}`], ['work'], bigCard);
    await registerMany(app, [`card-${population}`], ['work'], bigCard);
    out['register+card'] = Math.max(...((await work.stop()).get('register') ?? [Number.NaN]));
    if (process.env.DEBUG_SCALE) console.log(population, JSON.stringify(out));
    return out;
  }

  it('reads the bodies of a fetch in HMGETs of at most FETCH_READ_BYTES each', async () => {
    const mesh = await startMesh({ REDIS_URL: redis.url, REDIS_SENTINELS: '', REDIS_CLUSTER_NODES: '', STALE_TIMEOUT_MS: 600_000 });
    meshes.push(mesh);
    const app = mesh.apps[0]!;
    await registerMany(app, ['hb-src', 'hb-dst']);
    // 12 bodies of ~90 KB: a 1 MiB answer that no single read may carry (each HMGET fits 2).
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      sent.push((await send(app, 'hb-src', { target_instance: 'hb-dst', payload: `${i}:${'z'.repeat(90_000)}` })).message_id);
    }
    const reads: string[][] = [];
    const monitor = await RawMonitor.start(redis.url, ({ args }) => {
      if (args[0]?.toLowerCase() === 'hmget' && args[1]?.includes('inboxb:hb-dst')) reads.push(args.slice(2));
    });
    const { messages } = await json<{ messages: Message[] }>(app, '/messages/hb-dst?limit=1000');
    await sleep(200); // MONITOR lines arrive asynchronously
    monitor.close();
    expect(messages.map((m) => m.message_id)).toEqual(sent.slice(0, messages.length));
    expect(messages.length).toBeGreaterThanOrEqual(10);
    // Every body delivered was read exactly once, in reads of at most FETCH_READ_BYTES.
    expect(reads.flat().sort()).toEqual(messages.map((m) => m.message_id).sort());
    for (const fields of reads) expect(fields.length * 90_000).toBeLessThanOrEqual(FETCH_READ_BYTES);
    expect(reads.length).toBeGreaterThanOrEqual(Math.ceil((messages.length * 90_000) / FETCH_READ_BYTES));
  });

  it('counts the commands of each call at 500 and 2,500 members: bounded, and the same', async () => {
    const small = await measure(500);
    const large = await measure(2500);
    // Bounds that follow from the page sizes in the code, not from the mesh: a listing page is
    // LIST_PAGE_ROWS (50) rows of 2 commands; a fetch call FETCH_PAGE_ENTRIES (100) entries per
    // source; an ack call ACK_PAGE (200) ids, here 100, of 4 commands; a cleanup call one batch
    // (100) of ~10 commands per member; route examines ROUTE_SCAN (256) holders at most.
    const budget: Record<string, number> = {
      register: 60,
      // Two commands per indexed skill value (ZREM of the old entry, ZADD of the new) on top.
      'register+card': 60 + 2 * SKILL_INDEX_MAX,
      'is-live': 5,
      heartbeat: 30,
      list: 250,
      route: 300,
      send: 40,
      fetch: 250,
      ack: 450,
      cleanup: 1500,
      'expire-messages': 400,
    };
    for (const [name, max] of Object.entries(budget)) {
      for (const [population, counts] of [
        [500, small],
        [2500, large],
      ] as const) {
        expect(counts[name], `${name} at ${population} members`).toBeDefined();
        expect(counts[name]!, `${name}: ${counts[name]} commands at ${population} members`).toBeLessThanOrEqual(max);
      }
    }
    // Flat: five times the members, the same work, for the calls whose work does not depend on
    // how many of the members examined happen to have lapsed (route and cleanup do, within budget).
    for (const name of ['register', 'register+card', 'is-live', 'heartbeat', 'list', 'send', 'fetch', 'ack', 'expire-messages']) {
      expect(large[name]!, `${name}: ${small[name]} -> ${large[name]}`).toBeLessThanOrEqual(small[name]! + 5);
    }
  }, 120_000);
});
