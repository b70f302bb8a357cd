// A2A v1.0 Agent Cards (issue 18) against a real Redis of the run's topology (TEST_TOPOLOGY):
// registering with a card, serving it exactly as registered, listing by skill id or tag, routing
// target_capability to skill holders, the card and its index entries leaving with the instance
// (deregister, lapse, re-registration), ownership, the events feed, and the registry's own card.
import { readFileSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CARD_MAX_BYTES, agentCard } from '../../src/a2a/agent-card.js';
import { REGISTRY_PROTOCOL_BINDING } from '../../src/a2a/registry-card.js';
import { buildApp } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { meshKeys } from '../../src/redis/keys.js';
import { eventually, meshesClosedAfterAll, meshPerSuite, registerBody, type TestMesh } from '../helpers/app.js';
import { fetchMessages, send, sendBody, sendRaw } from '../helpers/messages.js';
import { startRedisProcess } from '../helpers/redis.js';
import { call, expectJsonError } from '../helpers/security.js';
import { match } from '../helpers/match.js';

type Card = Record<string, unknown> & { skills: Record<string, unknown>[] };
type Listing = { instances: { instance_id: string }[]; next_cursor: string | null };

const FIXTURES = new URL('../fixtures/a2a/', import.meta.url);
const fixture = (name: string): Card => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as Card;
const SAMPLE = fixture('valid/spec-8.5-sample-agent-card.json');
const MINIMAL = fixture('valid/minimal.json');

/** A minimal card whose skills have these ids and tags. */
function cardWith(skills: { id: string; tags: string[] }[], name = 'Test Agent'): Card {
  return { ...structuredClone(MINIMAL), name, skills: skills.map((s) => ({ ...s, name: s.id, description: `does ${s.id}` })) };
}

const startMesh = meshesClosedAfterAll();

function registerRaw(
  app: FastifyInstance,
  id: string,
  card: unknown,
  o: { capabilities?: string[]; token?: string; headers?: Record<string, string> } = {},
) {
  const body: Record<string, unknown> = registerBody(id, { capabilities: o.capabilities ?? [] });
  if (card !== undefined) body.agent_card = card;
  return call(app, 'POST', '/registry/register', { body, token: o.token ?? null, headers: o.headers ?? {} });
}

async function registerCard(
  app: FastifyInstance,
  id: string,
  card: unknown,
  o: { capabilities?: string[]; token?: string; headers?: Record<string, string> } = {},
) {
  const res = await registerRaw(app, id, card, o);
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ instance_token: string | null }>();
}

const getCard = (app: FastifyInstance, id: string, headers: Record<string, string> = {}, token?: string) =>
  call(app, 'GET', `/registry/agents/${id}/agent-card`, { headers, token: token ?? null });

async function bySkill(app: FastifyInstance, skill: string, query = ''): Promise<Listing> {
  const res = await app.inject({ url: `/registry/agents?skill=${encodeURIComponent(skill)}${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Listing>();
}
const ids = (l: Listing) => l.instances.map((i) => i.instance_id);

/** Card and skill index entries of `id` left in Redis. */
async function traces(mesh: TestMesh, id: string, values: string[]): Promise<{ card: number; indexed: string[] }> {
  const indexed: string[] = [];
  for (const v of values) if ((await mesh.redis.zscore(mesh.keys.skill(v), id)) !== null) indexed.push(v);
  return { card: await mesh.redis.exists(mesh.keys.agentCard(id)), indexed };
}

describe('registering with a card, and serving it', () => {
  const mesh = meshPerSuite();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
  });

  it('serves the specification sample card exactly as registered (field order, unknown fields)', async () => {
    await registerCard(app, 'geo-1', SAMPLE);
    const res = await getCard(app, 'geo-1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    // Byte for byte what the client sent (after JSON parsing): `security` (0.3) kept, keys in order.
    expect(res.body).toBe(JSON.stringify(SAMPLE));
    expect(Object.keys(res.json<object>())).toEqual(Object.keys(SAMPLE));
  });

  it('answers with an ETag, and 304 while the card is unchanged', async () => {
    const first = await getCard(app, 'geo-1');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers['cache-control']).toBe('no-cache');
    const again = await getCard(app, 'geo-1', { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    await registerCard(app, 'geo-1', { ...SAMPLE, version: '1.2.1' });
    const changed = await getCard(app, 'geo-1', { 'if-none-match': etag });
    expect(changed.statusCode).toBe(200);
    expect(changed.json<Card>().version).toBe('1.2.1');
  });

  it('an instance without a card, and an unknown one, answer distinct 404s', async () => {
    await registerCard(app, 'plain-1', undefined);
    await registerCard(app, 'plain-2', null);
    expectJsonError(await getCard(app, 'plain-1'), 404, 'agent_card_not_found');
    expectJsonError(await getCard(app, 'plain-2'), 404, 'agent_card_not_found');
    expectJsonError(await getCard(app, 'nobody-here'), 404, 'instance_not_found');
    expect(await mesh.redis.exists(mesh.keys.agentCard('plain-1'))).toBe(0);
  });

  it('the register answer is the same with or without a card (seed clients see no difference)', async () => {
    const withCard = (await registerRaw(app, 'shape-1', MINIMAL)).json<Record<string, unknown>>();
    const without = (await registerRaw(app, 'shape-2', undefined)).json<Record<string, unknown>>();
    expect(Object.keys(withCard).sort()).toEqual(Object.keys(without).sort());
    const peer = (withCard.peers as Record<string, unknown>[]).find((p) => p.instance_id === 'shape-1')!;
    expect(Object.keys(peer)).not.toContain('agent_card');
  });

  it('an invalid card is 400 invalid_request naming the field under agent_card, and registers nothing', async () => {
    const cases: [unknown, string][] = [
      [fixture('invalid/spec-4.6.1-extension-declaration.json'), 'body.agent_card.version'],
      [fixture('invalid/v0.3-magic-8-ball.json'), 'body.agent_card.supportedInterfaces'],
      [{ ...MINIMAL, skills: [{ id: 'x', name: 'X', description: 'x', tags: 'not-a-list' }] }, 'body.agent_card.skills.0.tags'],
      [{ ...MINIMAL, capabilities: { streaming: 'yes' } }, 'body.agent_card.capabilities.streaming'],
      ['a card', 'body.agent_card'],
    ];
    for (const [card, field] of cases) {
      const res = await registerRaw(app, 'bad-card', card);
      const err = expectJsonError(res, 400, 'invalid_request') as { error: string; issues?: { field: string }[] };
      expect(
        err.issues?.map((i) => i.field),
        res.body,
      ).toEqual([field]);
      expect(err.error).toContain(field);
    }
    expectJsonError(await app.inject({ url: '/registry/agents/bad-card' }), 404, 'instance_not_found');
    expect(await mesh.redis.exists(mesh.keys.inst('bad-card'))).toBe(0);
  });

  it(`a card over ${AGENT_CARD_MAX_BYTES} bytes is 413 and registers nothing`, async () => {
    const big = { ...MINIMAL, description: 'x'.repeat(AGENT_CARD_MAX_BYTES) };
    const res = await registerRaw(app, 'big-card', big);
    expectJsonError(res, 413, 'payload_too_large');
    expect(res.json()).toMatchObject({ limit: AGENT_CARD_MAX_BYTES, field: 'agent_card' });
    expect(await mesh.redis.exists(mesh.keys.inst('big-card'), mesh.keys.agentCard('big-card'), mesh.keys.agentCardIncoming)).toBe(0);
    // Just under the limit is fine, multi-byte characters counted as bytes.
    const room = AGENT_CARD_MAX_BYTES - Buffer.byteLength(JSON.stringify({ ...MINIMAL, description: '' }));
    expect((await registerRaw(app, 'big-card', { ...MINIMAL, description: 'x'.repeat(room) })).statusCode).toBe(200);
    expectJsonError(
      await registerRaw(app, 'big-card-2', { ...MINIMAL, description: 'é'.repeat(Math.ceil(room / 2) + 1) }),
      413,
      'payload_too_large',
    );
  });

  it('leaves no staged copy behind', async () => {
    expect(await mesh.redis.exists(mesh.keys.agentCardIncoming)).toBe(0);
  });
});

describe('a full Redis (maxmemory, noeviction)', () => {
  it('refuses a registration with a card with 507, writing nothing; the card of a live member is still served', async () => {
    // A private redis-server: maxmemory is lowered at run time, never on the run's shared Redis.
    // A standalone one whatever TEST_TOPOLOGY is: the app is built on it directly.
    const redis = await startRedisProcess();
    const admin = new Redis(redis.url);
    const app = await buildApp(configFrom({ REDIS_URL: redis.url, MESH_NAMESPACE: 'a2a-full', LOG_LEVEL: 'silent' }), {
      maintenance: false,
    });
    const keys = meshKeys('a2a-full');
    try {
      await registerCard(app, 'full-a', MINIMAL);
      // Below what Redis holds already: every write that may grow memory is refused from now on.
      const used = Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
      await admin.config('SET', 'maxmemory', String(used - 64 * 1024));
      const res = await registerRaw(app, 'full-b', MINIMAL);
      expectJsonError(res, 507, 'insufficient_storage');
      expect(await admin.exists(keys.inst('full-b'), keys.agentCard('full-b'), keys.agentCardIncoming)).toBe(0);
      expect((await getCard(app, 'full-a')).body).toBe(JSON.stringify(MINIMAL));
    } finally {
      await app.close();
      admin.disconnect();
      await redis.stop();
    }
  });
});

describe('listing by skill id or tag', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    const mesh = await startMesh();
    app = mesh.apps[0]!;
    await registerCard(app, 'sk-a', cardWith([{ id: 'translate', tags: ['text', 'i18n'] }]));
    await registerCard(
      app,
      'sk-b',
      cardWith([
        { id: 'summarize', tags: ['text'] },
        { id: 'classify', tags: ['ml'] },
      ]),
    );
    await registerCard(app, 'sk-c', undefined, { capabilities: ['text'] });
    await registerCard(app, 'sk-d', fixture('valid/tags-with-spaces.json'));
    await registerCard(app, 'sk-e', cardWith([{ id: 'ml', tags: ['text'] }]));
  });

  it('matches a skill id or any of its tags, in join order', async () => {
    expect(ids(await bySkill(app, 'translate'))).toEqual(['sk-a']);
    expect(ids(await bySkill(app, 'i18n'))).toEqual(['sk-a']);
    expect(ids(await bySkill(app, 'text'))).toEqual(['sk-a', 'sk-b', 'sk-e']);
    // An id of one card and a tag of another.
    expect(ids(await bySkill(app, 'ml'))).toEqual(['sk-b', 'sk-e']);
    expect(ids(await bySkill(app, 'currency conversion'))).toEqual(['sk-d']);
    expect(ids(await bySkill(app, 'convert_currency'))).toEqual(['sk-d']);
    // Exact match only.
    expect(ids(await bySkill(app, 'Text'))).toEqual([]);
    expect(ids(await bySkill(app, 'currency'))).toEqual([]);
  });

  it('skills and capabilities are separate filters', async () => {
    const caps = (await app.inject({ url: '/registry/agents?capability=text' })).json<Listing>();
    expect(ids(caps)).toEqual(['sk-c']);
    expectJsonError(await app.inject({ url: '/registry/agents?capability=text&skill=text' }), 400, 'invalid_request');
  });

  it('pages by limit and cursor like the other listings', async () => {
    const first = await bySkill(app, 'text', '&limit=2');
    expect(ids(first)).toEqual(['sk-a', 'sk-b']);
    expect(first.next_cursor).not.toBeNull();
    const rest = await bySkill(app, 'text', `&limit=2&cursor=${first.next_cursor}`);
    expect(ids(rest)).toEqual(['sk-e']);
    expect(rest.next_cursor).toBeNull();
  });

  it('the operator inspect view names the skill ids and tags each instance indexed', async () => {
    const res = await app.inject({ url: '/registry/inspect?ids=sk-b,sk-c,sk-gone' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ instances: { instance_id: string; skills: string[] }[]; missing: string[] }>();
    expect(body.instances.map((i) => [i.instance_id, i.skills])).toEqual([
      ['sk-b', ['summarize', 'text', 'classify', 'ml']],
      ['sk-c', []],
    ]);
    expect(body.missing).toEqual(['sk-gone']);
  });

  it('refuses a skill value that cannot be one', async () => {
    const res = await app.inject({ url: `/registry/agents?skill=${encodeURIComponent('a\u0007b')}` });
    const err = expectJsonError(res, 400, 'invalid_request') as unknown as { issues: { field: string }[] };
    expect(err.issues.map((i) => i.field)).toEqual(['querystring.skill']);
    expectJsonError(await app.inject({ url: `/registry/agents?skill=${'x'.repeat(129)}` }), 400, 'invalid_request');
  });
});

describe('the card and its index entries leave with the instance', () => {
  const mesh = meshPerSuite();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
  });

  it('re-registering replaces the card and its index entries', async () => {
    await registerCard(app, 'up-1', cardWith([{ id: 'translate', tags: ['text', 'i18n'] }]));
    await registerCard(app, 'up-1', cardWith([{ id: 'rewrite', tags: ['text', 'prose'] }]));
    expect(ids(await bySkill(app, 'translate'))).toEqual([]);
    expect(ids(await bySkill(app, 'i18n'))).toEqual([]);
    expect(ids(await bySkill(app, 'text'))).toEqual(['up-1']);
    expect(ids(await bySkill(app, 'prose'))).toEqual(['up-1']);
    expect((await getCard(app, 'up-1')).json<Card>().skills.map((s) => s.id)).toEqual(['rewrite']);
    expect(await traces(mesh, 'up-1', ['translate', 'i18n', 'text', 'prose', 'rewrite'])).toEqual({
      card: 1,
      indexed: ['text', 'prose', 'rewrite'],
    });
  });

  it('re-registering without a card removes it', async () => {
    await registerCard(app, 'up-1', undefined);
    expectJsonError(await getCard(app, 'up-1'), 404, 'agent_card_not_found');
    expect(ids(await bySkill(app, 'prose'))).toEqual([]);
    expect(await traces(mesh, 'up-1', ['text', 'prose', 'rewrite'])).toEqual({ card: 0, indexed: [] });
  });

  it('deregistering removes the card and every index entry', async () => {
    await registerCard(app, 'dr-1', cardWith([{ id: 'ocr', tags: ['vision', 'pdf'] }]));
    expect((await app.inject({ method: 'DELETE', url: '/registry/deregister/dr-1' })).statusCode).toBe(204);
    expectJsonError(await getCard(app, 'dr-1'), 404, 'instance_not_found');
    expect(ids(await bySkill(app, 'vision'))).toEqual([]);
    expect(await traces(mesh, 'dr-1', ['ocr', 'vision', 'pdf'])).toEqual({ card: 0, indexed: [] });
  });

  it('a lapsed instance stops being served at once; cleanup then removes every trace', async () => {
    const short = await mesh.addApp({ HEARTBEAT_INTERVAL_MS: 50, STALE_TIMEOUT_MS: 300 });
    await registerCard(short, 'lp-1', cardWith([{ id: 'lapse-skill', tags: ['lapse-tag'] }]));
    expect(ids(await bySkill(app, 'lapse-tag'))).toEqual(['lp-1']);
    await eventually(async () => (await getCard(app, 'lp-1')).statusCode === 404, 5000, 25);
    expectJsonError(await getCard(app, 'lp-1'), 404, 'instance_not_found');
    expect(ids(await bySkill(app, 'lapse-tag'))).toEqual([]);
    // Not yet cleaned up: the traces are still there until maintenance purges the member.
    expect((await traces(mesh, 'lp-1', ['lapse-skill', 'lapse-tag'])).card).toBe(1);
    await eventually(
      async () =>
        (await app.mesh.instances.cleanupBatch(100)).removed.includes('lp-1') || (await mesh.redis.exists(mesh.keys.inst('lp-1'))) === 0,
    );
    expect(await traces(mesh, 'lp-1', ['lapse-skill', 'lapse-tag'])).toEqual({ card: 0, indexed: [] });
  });

  it('a lapsed id registering again starts from its new card only', async () => {
    const short = await mesh.addApp({ HEARTBEAT_INTERVAL_MS: 50, STALE_TIMEOUT_MS: 300 });
    await registerCard(short, 'lp-2', cardWith([{ id: 'old-skill', tags: ['old-tag'] }]));
    await eventually(async () => (await getCard(app, 'lp-2')).statusCode === 404, 5000, 25);
    // Registering again purges the lapsed record (its card and index entries) first.
    await registerCard(app, 'lp-2', cardWith([{ id: 'new-skill', tags: ['new-tag'] }]));
    expect(await traces(mesh, 'lp-2', ['old-skill', 'old-tag', 'new-skill', 'new-tag'])).toEqual({
      card: 1,
      indexed: ['new-skill', 'new-tag'],
    });
    expect((await getCard(app, 'lp-2')).json<Card>().skills.map((s) => s.id)).toEqual(['new-skill']);
  });

  it('nothing of a removed member stays in the namespace', async () => {
    for (const id of ['lp-2', 'up-1'])
      expect((await app.inject({ method: 'DELETE', url: `/registry/deregister/${id}` })).statusCode).toBe(204);
    const left = (await mesh.namespaceKeys()).filter((k) => /:(card|cardin|skillz):/.test(k) || k.endsWith(':cardin'));
    expect(left).toEqual([]);
  });
});

describe('routing target_capability to skill holders', () => {
  const mesh = meshPerSuite();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    await registerCard(app, 'client', undefined);
    await registerCard(app, 'cap-1', undefined, { capabilities: ['ocr'] });
    await registerCard(app, 'skill-1', cardWith([{ id: 'read-scans', tags: ['ocr'] }]));
  });

  const route = (source: string, capability: string, payload: unknown = null) =>
    send(app, source, sendBody(null, payload, { target_capability: capability }));

  it('a skill tag or id is a routing target, also with no capability holder at all', async () => {
    expect((await route('client', 'read-scans', 'by id')).delivered_to).toEqual(['skill-1']);
    expect((await fetchMessages(app, 'skill-1')).map((m) => m.payload)).toEqual(['by id']);
  });

  it('capability holders and skill holders compete on load: the least loaded gets it', async () => {
    // skill-1 holds one message (above); cap-1 none: the next two go to cap-1, then they alternate.
    const first = await route('client', 'ocr', 1);
    expect(first.delivered_to).toEqual(['cap-1']);
    const second = await route('client', 'ocr', 2);
    // Now both hold one: either may get it, and the one that did not gets the next.
    const third = await route('client', 'ocr', 3);
    expect([second.delivered_to[0], third.delivered_to[0]].sort()).toEqual(['cap-1', 'skill-1']);
    // Load skill-1 up with direct messages: routing now prefers cap-1.
    for (let i = 0; i < 3; i++) await send(app, 'client', sendBody('skill-1', `direct ${i}`));
    for (let i = 0; i < 2; i++) expect((await route('client', 'ocr')).delivered_to).toEqual(['cap-1']);
  });

  it('the sender is never its own target, as with capabilities', async () => {
    expect((await route('skill-1', 'ocr')).delivered_to).toEqual(['cap-1']);
    expectJsonError(await sendRaw(app, 'skill-1', sendBody(null, null, { target_capability: 'read-scans' })), 400, 'no_capable_instance');
  });

  it('a member holding the value as capability and as skill counts once', async () => {
    await registerCard(app, 'both-1', cardWith([{ id: 'dual', tags: ['dual-tag'] }]), { capabilities: ['dual'] });
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) (await route('client', 'dual')).delivered_to.forEach((t) => seen.add(t));
    expect([...seen]).toEqual(['both-1']);
    expect((await fetchMessages(app, 'both-1')).length).toBe(4);
  });

  it('nobody with the capability or skill: 400 no_capable_instance, nothing queued', async () => {
    expectJsonError(
      await sendRaw(app, 'client', sendBody(null, null, { target_capability: 'nobody-has-this' })),
      400,
      'no_capable_instance',
    );
    // A skill holder that left is no longer a target.
    await registerCard(app, 'gone-1', cardWith([{ id: 'ephemeral', tags: ['ephemeral-tag'] }]));
    expect((await route('client', 'ephemeral-tag')).delivered_to).toEqual(['gone-1']);
    expect((await app.inject({ method: 'DELETE', url: '/registry/deregister/gone-1' })).statusCode).toBe(204);
    expectJsonError(await sendRaw(app, 'client', sendBody(null, null, { target_capability: 'ephemeral-tag' })), 400, 'no_capable_instance');
  });

  it('request/response routes by skill too', async () => {
    const asking = app.inject({
      method: 'POST',
      url: '/messages/request/client',
      payload: { target_capability: 'read-scans', payload: 'q', timeout_ms: 10_000 },
    });
    const [query] = await eventually(async () => {
      const m = (await fetchMessages(app, 'skill-1')).filter((x) => x.payload === 'q');
      return m.length > 0 ? m : null;
    });
    await send(app, 'skill-1', {
      target_instance: 'client',
      message_type: 'Response',
      payload: 'a',
      correlation_id: query!.correlation_id,
    });
    const res = await asking;
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ request: { delivered_to: string[] } }>().request.delivered_to).toEqual(['skill-1']);
    void mesh;
  });
});

describe('events note the card', () => {
  it('joined and updated (registration) say whether the instance has a card', async () => {
    const mesh = await startMesh();
    const app = mesh.apps[0]!;
    await registerCard(app, 'ev-card', MINIMAL);
    await registerCard(app, 'ev-plain', undefined);
    await registerCard(app, 'ev-plain', MINIMAL);
    // The same card again: not a change.
    await registerCard(app, 'ev-plain', MINIMAL);
    await registerCard(app, 'ev-card', undefined);
    expect((await app.inject({ method: 'DELETE', url: '/registry/deregister/ev-plain' })).statusCode).toBe(204);
    const page = (await app.inject({ url: '/registry/events?since=0&format=json' })).json<{
      events: { type: string; instance_id: string; what: string | null; agent_card: boolean | null }[];
    }>();
    const seen = page.events.filter((e) => e.type !== 'leader').map((e) => [e.type, e.instance_id, e.what, e.agent_card]);
    expect(seen).toEqual([
      ['joined', 'ev-card', null, true],
      ['joined', 'ev-plain', null, false],
      ['updated', 'ev-plain', 'registration', true],
      ['updated', 'ev-card', 'registration', false],
      ['left', 'ev-plain', null, null],
    ]);
  });
});

describe('ownership (AUTH_MODE=instance)', () => {
  const REG = 'registration-token';
  const mesh = meshPerSuite({ AUTH_MODE: 'instance', AUTH_TOKENS: REG });
  let app: FastifyInstance;
  let tokA: string;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    tokA = (await registerCard(app, 'own-a', cardWith([{ id: 'genuine', tags: ['owned'] }]), { token: REG })).instance_token!;
  });

  it('reading a card needs a bearer like every registry read', async () => {
    expectJsonError(await getCard(app, 'own-a'), 401, 'unauthorized');
    expect((await getCard(app, 'own-a', {}, tokA)).statusCode).toBe(200);
  });

  it("a refused takeover leaves the owner's card and index entries untouched", async () => {
    const before = (await getCard(app, 'own-a', {}, tokA)).body;
    expectJsonError(
      await registerRaw(app, 'own-a', cardWith([{ id: 'forged', tags: ['owned'] }]), { token: REG }),
      409,
      'instance_id_in_use',
    );
    expect((await getCard(app, 'own-a', {}, tokA)).body).toBe(before);
    expect(await traces(mesh, 'own-a', ['genuine', 'owned', 'forged'])).toEqual({ card: 1, indexed: ['genuine', 'owned'] });
    expect(await mesh.redis.exists(mesh.keys.agentCardIncoming)).toBe(0);
  });

  it('the holder replaces its card with its instance token', async () => {
    await registerCard(app, 'own-a', cardWith([{ id: 'renewed', tags: ['owned'] }]), { token: REG, headers: { 'x-instance-token': tokA } });
    expect((await getCard(app, 'own-a', {}, tokA)).json<Card>().skills.map((s) => s.id)).toEqual(['renewed']);
  });

  it("the registry's card is public and says how to authenticate", async () => {
    const res = await call(app, 'GET', '/.well-known/agent-card.json');
    expect(res.statusCode).toBe(200);
    expect(res.json<Card>().securitySchemes).toEqual({
      bearer: { httpAuthSecurityScheme: match.objectContaining({ scheme: 'Bearer' }) },
    });
  });
});

describe("the registry's own card at /.well-known/agent-card.json", () => {
  const mesh = meshPerSuite();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
  });

  const wellKnown = (a: FastifyInstance, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
    a.inject({ url: '/.well-known/agent-card.json', headers });

  it('is a valid A2A card whose links use the Host the client used', async () => {
    const res = await wellKnown(app, { host: 'mesh.example.com:8443' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const card = res.json<Card & { supportedInterfaces: { url: string; protocolBinding: string }[]; documentationUrl: string }>();
    expect(agentCard.safeParse(card).error?.issues ?? []).toEqual([]);
    expect(card.supportedInterfaces[0]).toMatchObject({ url: 'http://mesh.example.com:8443', protocolBinding: REGISTRY_PROTOCOL_BINDING });
    expect(card.documentationUrl).toBe('http://mesh.example.com:8443/docs');
    expect(card.securitySchemes).toBeUndefined();
    // A Host header that is not a host is not echoed.
    const odd = (await wellKnown(app, { host: 'evil.example.com/<script>' })).json<typeof card>();
    expect(odd.supportedInterfaces[0]!.url).toBe('http://localhost');
  });

  it('uses PUBLIC_URL when set', async () => {
    const behindLb = await mesh.addApp({ PUBLIC_URL: 'https://mesh.example.org/' });
    const card = (await wellKnown(behindLb, { host: 'replica-7:8080' })).json<{ supportedInterfaces: { url: string }[] }>();
    expect(card.supportedInterfaces[0]!.url).toBe('https://mesh.example.org');
  });

  it('is cacheable, with an ETag', async () => {
    const res = await wellKnown(app);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    const again = await wellKnown(app, { 'if-none-match': String(res.headers.etag) });
    expect(again.statusCode).toBe(304);
  });

  it('is public in AUTH_MODE=token, unlike the member cards', async () => {
    const guarded = await startMesh({ AUTH_MODE: 'token', AUTH_TOKENS: 'shared-token' });
    const g = guarded.apps[0]!;
    expect((await wellKnown(g)).statusCode).toBe(200);
    expectJsonError(await getCard(g, 'anyone'), 401, 'unauthorized');
    expectJsonError(await getCard(g, 'anyone', {}, 'shared-token'), 404, 'instance_not_found');
  });
});
