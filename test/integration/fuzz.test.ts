// Property-based fuzzing of every route with fast-check: thousands of random and malformed bodies,
// paths, ids (unicode, control characters, `{}` hash-tag tricks, huge strings, deep JSON, wrong
// types, duplicate and prototype keys) and tokens. Properties:
//   - never a 5xx; every 4xx is JSON `{error, code}` (except the contract's two bodiless/ack 404s);
//   - a batch of rejected requests leaves the namespace's Redis state exactly as it was;
//   - nothing ever creates a key outside `mesh:{<ns>}:` (ids and names carry a random marker, and
//     the whole db is scanned for keys containing it).
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  ID_PATTERN,
  NAME_PATTERN,
  ackBody,
  heartbeatBody,
  registerBody as registerSchema,
  requestBody,
  sendBody,
} from '../../src/http/schemas.js';
import { meshPerSuite, registerBody, type TestMesh } from '../helpers/app.js';
import { keysContaining, snapshotKeys } from '../helpers/security.js';
import { match } from '../helpers/match.js';

const MARK = `mk${randomBytes(5).toString('hex')}`;
const MAX_PAYLOAD = 4096;
const BODY_LIMIT = 16384;
const SEED_IDS = ['fz-a', 'fz-b', 'fz-c'];

interface Req {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  url: string;
  /** Raw body text (sent as is). */
  body?: string;
  headers: Record<string, string>;
}

// ---- strings -------------------------------------------------------------------------------------

const SPECIALS = [
  '',
  ' ',
  '{',
  '}',
  '{}',
  '{default}',
  '}{',
  '*',
  '?',
  '[a-z]',
  ':',
  '::',
  '..',
  '../..',
  '/',
  '\\',
  '%00',
  '%2F',
  '\u0000',
  '\r\n',
  '\t',
  '\u202e',
  '\ufeff',
  '\ud800',
  '🙂',
  'ünï',
  '日本語',
  '__proto__',
  'constructor',
  'prototype',
  'NaN',
  'null',
  'true',
  '-1',
  'a'.repeat(128),
  'a'.repeat(129),
  'mesh:{other}:inst:x',
];

const controlChars = fc.string({ unit: fc.integer({ min: 0, max: 31 }).map((c) => String.fromCharCode(c)), maxLength: 8 });
const weird: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...SPECIALS), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: controlChars, weight: 1 },
  { arbitrary: fc.integer({ min: 129, max: 3000 }).map((n) => 'x'.repeat(n)), weight: 1 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9._:\-{}*?]{1,30}$/), weight: 3 },
);
/** Strings carrying the marker, often with key-injection characters around it. */
const marked: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('', '{', '}', '*', ':', '{x}', 'a:', '}{'), weird, fc.constantFrom('', '{', '}', '*', ':inst:', ':{ns}:'))
  .map(([pre, mid, post]) => `${pre}${MARK}${mid}${post}`);
const validMarkedId = fc.stringMatching(/^[A-Za-z0-9._:-]{0,60}$/).map((s) => `${MARK}${s}`);
const invalidId = fc.oneof(weird, marked).filter((s) => !ID_PATTERN.test(s));
const invalidName = fc.oneof(weird, marked).filter((s) => !NAME_PATTERN.test(s));

// ---- JSON values and raw bodies --------------------------------------------------------------------

const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  weird,
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(weird, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

const deepJson = fc
  .tuple(fc.integer({ min: 60, max: 5000 }), fc.constantFrom('[', '{"a":'))
  .map(([d, open]) => (open === '[' ? `${'['.repeat(d)}1${']'.repeat(d)}` : `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`));

const malformedText = fc.oneof(
  fc.constantFrom(
    '{',
    '}',
    '{"a":',
    '[1,]',
    "{'a':1}",
    'nul',
    'undefined',
    '{"a":1}}',
    '\u0000',
    '{"__proto__":{"x":1}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '',
    ' ',
    'null',
    '[]',
    '0',
    '"s"',
  ),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: BODY_LIMIT - 100, max: BODY_LIMIT * 2 }).map((n) => JSON.stringify({ pad: 'p'.repeat(n) })),
  deepJson,
);

/** `{...base, [k]: v}` as JSON text with a duplicated key: `"k": first, ..., "k": last`. */
function withDuplicate(base: Record<string, unknown>, key: string, first: unknown, last: unknown): string {
  const inner = JSON.stringify(base).slice(1, -1);
  return `{${JSON.stringify(key)}:${JSON.stringify(first) ?? 'null'}${inner ? `,${inner}` : ''},${JSON.stringify(key)}:${JSON.stringify(last) ?? 'null'}}`;
}

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'APPLICATION/JSON',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/vnd.api+json',
      '*/*',
      'application/json, text/plain',
    ),
    weight: 2,
  },
  { arbitrary: fc.stringMatching(/^[a-z]{1,8}\/[a-z+.-]{1,12}$/), weight: 1 },
);

// ---- routes --------------------------------------------------------------------------------------

/** Percent-encodes a path segment; lone surrogates become invalid UTF-8 bytes (%ED%A0%80). */
function enc(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    out += c >= 0xd800 && c <= 0xdfff ? '%ED%A0%80' : encodeURIComponent(ch);
  }
  return out;
}

interface RouteSpec {
  method: Req['method'];
  path: (id: string) => string;
  /** A body that would pass validation (undefined: the route takes none). */
  valid?: (other: string) => Record<string, unknown>;
  /** The route's own body schema: to keep only bodies it must refuse. */
  schema?: z.ZodType;
}

/** What secure-json-parse refuses: a `__proto__` key, or a `constructor` key holding `prototype`. */
function hasPoisonKeys(text: string): boolean {
  // Iterative, like secure-json-parse itself (a reviver would recurse and overflow on deep input).
  const stack: unknown[] = [JSON.parse(text)];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Object.hasOwn(node, '__proto__')) return true;
    const ctor = (node as Record<string, unknown>).constructor;
    if (Object.hasOwn(node, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return true;
    for (const v of Object.values(node)) stack.push(v);
  }
  return false;
}

/** True when the server must refuse `text` as this route's body (bad JSON, or fails the schema). */
function refusedBody(route: RouteSpec, text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return true;
  }
  // Prototype keys are refused by the parser; oversized bodies and payloads by the size limits.
  if (hasPoisonKeys(text) || Buffer.byteLength(text) > BODY_LIMIT) return true;
  const parsed = route.schema!.safeParse(value);
  if (!parsed.success) return true;
  const payload = (parsed.data as { payload?: unknown }).payload;
  return payload !== undefined && Buffer.byteLength(JSON.stringify(payload)) > MAX_PAYLOAD;
}

/** /messages/request waits for a Response: whatever the body says, keep its timeout tiny. */
function tameRequest(text: string): string {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (!('timeout_ms' in o) || (typeof o.timeout_ms === 'number' && o.timeout_ms > 20)) {
        o.timeout_ms = 5;
        return JSON.stringify(o);
      }
    }
  } catch {
    // not JSON: refused anyway
  }
  return text;
}

const ROUTES: Record<string, RouteSpec> = {
  register: { method: 'POST', path: () => '/registry/register', valid: () => registerBody(`${MARK}-r`), schema: registerSchema },
  agents: { method: 'GET', path: () => '/registry/agents' },
  agent: { method: 'GET', path: (id) => `/registry/agents/${enc(id)}` },
  leader: { method: 'GET', path: () => '/registry/leader' },
  heartbeat: {
    method: 'POST',
    path: (id) => `/registry/heartbeat/${enc(id)}`,
    valid: () => ({ status: 'ok', metrics: null }),
    schema: heartbeatBody,
  },
  deregister: { method: 'DELETE', path: (id) => `/registry/deregister/${enc(id)}` },
  send: {
    method: 'POST',
    path: (id) => `/messages/send/${enc(id)}`,
    valid: (other) => ({ target_instance: other, message_type: 'Notification', payload: { n: 1 }, correlation_id: null }),
    schema: sendBody,
  },
  request: {
    method: 'POST',
    path: (id) => `/messages/request/${enc(id)}`,
    valid: (other) => ({ target_instance: other, message_type: 'Query', payload: null, timeout_ms: 20 }),
    schema: requestBody,
  },
  fetch: { method: 'GET', path: (id) => `/messages/${enc(id)}` },
  ack: { method: 'POST', path: (id) => `/messages/ack/${enc(id)}`, valid: () => ({ message_ids: ['x'] }), schema: ackBody },
  ackAlias: { method: 'POST', path: (id) => `/messages/${enc(id)}/ack`, valid: () => ({ message_ids: ['x'] }), schema: ackBody },
  stream: { method: 'GET', path: (id) => `/messages/${enc(id)}/stream` },
};
const ROUTE_NAMES = Object.keys(ROUTES);
const BODY_ROUTES = ROUTE_NAMES.filter((n) => ROUTES[n]!.valid);

/** One field of a valid body replaced by something of the wrong type or shape. */
function mutatedBody(route: RouteSpec, other: string): fc.Arbitrary<string> {
  const base = route.valid!(other);
  const keys = Object.keys(base);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...keys), wrongType).map(([k, v]) => JSON.stringify({ ...base, [k]: v })),
    fc.tuple(fc.constantFrom(...keys), fc.oneof(invalidId, invalidName, marked)).map(([k, v]) => JSON.stringify({ ...base, [k]: v })),
    fc.tuple(fc.constantFrom(...keys), fc.oneof(invalidName, marked)).map(([k, v]) => JSON.stringify({ ...base, [k]: [v] })),
    fc.constantFrom(...keys).map((k) => {
      const b: Record<string, unknown> = { ...base };
      delete b[k];
      return JSON.stringify(b);
    }),
    // Duplicate keys whose LAST value is invalid: the request must be refused.
    fc.tuple(fc.constantFrom(...keys), fc.oneof(invalidId, wrongType)).map(([k, v]) => withDuplicate(base, k, base[k], v)),
    fc.constantFrom(...keys).map((k) => JSON.stringify({ ...base, [k]: JSON.parse(`${'['.repeat(100)}1${']'.repeat(100)}`) as unknown })),
  );
}

/**
 * Requests that must all be refused (4xx) and change nothing: bad ids on every route, bad bodies,
 * bad media types, malformed JSON, over-limit bodies and bad query strings for the seeded ids.
 */
const rejectedRequest: fc.Arbitrary<Req> = fc.oneof(
  // An invalid id in the path of every id route.
  fc
    .tuple(fc.constantFrom(...ROUTE_NAMES.filter((n) => ROUTES[n]!.path('X').includes('X'))), invalidId)
    .chain(([name, id]) => {
      const r = ROUTES[name]!;
      const body = r.valid ? JSON.stringify(r.valid('fz-b')) : undefined;
      return fc.constant<Req>({ method: r.method, url: r.path(id), body, headers: body ? { 'content-type': 'application/json' } : {} });
    })
    .filter((req) => !/\/(agents|heartbeat|deregister|send|request|ack)\/$|\/messages\/\/|\/messages\/$/.test(req.url)),
  // A seeded id with a mutated body (only mutations the schema refuses).
  fc.tuple(fc.constantFrom(...BODY_ROUTES), fc.constantFrom(...SEED_IDS)).chain(([name, id]) => {
    const r = ROUTES[name]!;
    return mutatedBody(r, 'fz-b')
      .map((body) => (name === 'request' ? tameRequest(body) : body))
      .filter((body) => refusedBody(r, body))
      .map<Req>((body) => ({ method: r.method, url: r.path(id), body, headers: { 'content-type': 'application/json' } }));
  }),
  // A seeded id with malformed text, or a valid body under a non-JSON media type.
  fc
    .tuple(fc.constantFrom(...BODY_ROUTES), fc.constantFrom(...SEED_IDS), malformedText)
    .filter(([name, , body]) => refusedBody(ROUTES[name]!, body))
    .map<Req>(([name, id, body]) => ({
      method: ROUTES[name]!.method,
      url: ROUTES[name]!.path(id),
      body,
      headers: { 'content-type': 'application/json' },
    })),
  fc
    .tuple(
      fc.constantFrom(...BODY_ROUTES),
      fc.constantFrom(...SEED_IDS),
      fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'text/json'),
    )
    .map<Req>(([name, id, ct]) => ({
      method: ROUTES[name]!.method,
      url: ROUTES[name]!.path(id),
      body: JSON.stringify(ROUTES[name]!.valid!('fz-b')),
      headers: { 'content-type': ct },
    })),
  // Bad query strings.
  fc
    .tuple(
      fc.constantFrom('/messages/fz-a', '/registry/agents'),
      fc.constantFrom(
        'limit=0',
        'limit=-5',
        'limit=1e9',
        'limit=abc',
        'limit=',
        'limit=1&limit=2',
        'wait=61',
        'wait=-1',
        'wait=x',
        'cursor=abc',
        'capability=%7Bx%7D',
        'capability=*',
      ),
    )
    .filter(
      ([p, q]) =>
        !(p === '/registry/agents' && q.startsWith('wait')) &&
        !(p === '/messages/fz-a' && (q.startsWith('cursor') || q.startsWith('capability'))),
    )
    .map<Req>(([p, q]) => ({ method: 'GET', url: `${p}?${q}`, headers: {} })),
);

/** Anything at all, valid or not (state may change): random ids, bodies, media types, paths. */
const anyRequest: fc.Arbitrary<Req> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...ROUTE_NAMES),
      fc.oneof(validMarkedId, marked, invalidId, fc.constantFrom(...SEED_IDS)),
      fc.oneof(validMarkedId, marked, fc.constantFrom(...SEED_IDS)),
      fc.oneof(fc.constant('valid'), fc.constant('mutated'), fc.constant('malformed'), fc.constant('anything')),
      contentType,
    )
    .chain(([name, id, other, kind, ct]) => {
      const r = ROUTES[name]!;
      // A live id on the stream route would hold the SSE stream open: keep those ids unknown.
      const pathId = name === 'stream' && ID_PATTERN.test(id) ? `nostream-${MARK}` : id;
      if (!r.valid) return fc.constant<Req>({ method: r.method, url: r.path(pathId), headers: {} });
      let body: fc.Arbitrary<string>;
      if (kind === 'valid') {
        // Valid register bodies carry a marked id and marked capabilities.
        body =
          name === 'register'
            ? fc
                .tuple(fc.oneof(validMarkedId, marked), fc.array(fc.oneof(marked, validMarkedId), { maxLength: 3 }))
                .map(([rid, caps]) =>
                  JSON.stringify({ ...registerBody(rid, { hostname: 'fuzz.local' }), capabilities: caps, agent_profiles: caps }),
                )
            : fc.constant(JSON.stringify(r.valid(other)));
      } else if (kind === 'mutated') body = mutatedBody(r, other);
      else if (kind === 'malformed') body = malformedText;
      else body = fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? '');
      return body.map<Req>((b) => ({
        method: r.method,
        url: r.path(pathId),
        body: name === 'request' ? tameRequest(b) : b,
        headers: { 'content-type': ct },
      }));
    }),
  // Random paths and methods.
  fc
    .tuple(
      fc.constantFrom<Req['method']>('GET', 'POST', 'DELETE', 'PUT', 'PATCH'),
      fc.array(fc.oneof(weird, marked, fc.constantFrom('registry', 'messages', 'agents', 'send', 'ack', 'stream', 'events')), {
        minLength: 0,
        maxLength: 5,
      }),
      fc.option(
        fc.dictionary(fc.oneof(weird, fc.constantFrom('limit', 'wait', 'cursor', 'capability', '__proto__')), weird, { maxKeys: 3 }),
      ),
    )
    .map<Req>(([method, segs, query]) => {
      let url = `/${segs.map(enc).join('/')}`;
      // Never a valid long-poll: a valid wait would hold the request open.
      const q = query ? Object.entries(query).filter(([k]) => k !== 'wait') : [];
      if (q.length) url += `?${q.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`;
      // Streams (message SSE, the events feed) would stay open: point them at something that ends.
      if (/^\/messages\/[^/]+\/stream/.test(url)) url = `/messages/${enc(`nostream-${MARK}`)}/stream`;
      if (/^\/registry\/events\b/.test(url)) url = `/registry/events-${MARK}`;
      return { method, url, headers: {} };
    }),
);

// ---- checks --------------------------------------------------------------------------------------

function describeReq(req: Req): string {
  const body =
    req.body === undefined
      ? ''
      : ` body=${JSON.stringify(req.body.length > 300 ? `${req.body.slice(0, 300)}…(${req.body.length})` : req.body)}`;
  return `${req.method} ${req.url.length > 300 ? `${req.url.slice(0, 300)}…` : req.url} ${JSON.stringify(req.headers)}${body}`;
}

async function send(app: FastifyInstance, req: Req): Promise<LightMyRequestResponse> {
  return app.inject({ method: req.method, url: req.url, headers: req.headers, ...(req.body !== undefined ? { payload: req.body } : {}) });
}

/** The contract's own 404: heartbeat answers `{acknowledged: false, ...}`. */
function isContract404(req: Req, res: LightMyRequestResponse): boolean {
  if (res.statusCode !== 404) return false;
  if (req.method === 'POST' && req.url.startsWith('/registry/heartbeat/')) {
    return res.json<{ acknowledged?: unknown }>().acknowledged === false;
  }
  return false;
}

/**
 * /messages/request answers 504 `timeout` when no Response arrives in timeout_ms: the designed
 * outcome of that route (the upstream agent did not answer), not a server failure.
 */
function isRequestTimeout(req: Req, res: LightMyRequestResponse): boolean {
  return res.statusCode === 504 && req.url.startsWith('/messages/request/') && res.json<{ code?: unknown }>().code === 'timeout';
}

function checkResponse(req: Req, res: LightMyRequestResponse): void {
  const what = `${res.statusCode} ${res.body.slice(0, 300)} <- ${describeReq(req)}`;
  if (isRequestTimeout(req, res)) return;
  expect(res.statusCode, what).toBeLessThan(500);
  if (res.statusCode < 400 || isContract404(req, res)) return;
  expect(String(res.headers['content-type']), what).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error?: unknown; code?: unknown };
  expect(typeof body.code, what).toBe('string');
  expect(typeof body.error, what).toBe('string');
  expect(res.body, what).not.toMatch(/\bat .+\.(ts|js):\d+|node_modules/);
}

async function seed(app: FastifyInstance, token?: string): Promise<void> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  for (const id of SEED_IDS) {
    const res = await app.inject({
      method: 'POST',
      url: '/registry/register',
      headers,
      payload: registerBody(id, { capabilities: ['fuzz'] }),
    });
    expect(res.statusCode, res.body).toBe(200);
  }
}

/** Namespaces of this file's meshes: the only places a marked key may live. */
const namespaces: string[] = [];

async function expectNoKeysOutside(mesh: TestMesh): Promise<void> {
  const prefixes = namespaces.map((ns) => `mesh:{${ns}}:`);
  const stray = (await keysContaining(mesh.redis, MARK)).filter((k) => !prefixes.some((p) => k.startsWith(p)));
  expect(stray, `keys outside ${prefixes.join(' ')}`).toEqual([]);
}

/** What a fuzz run reached: route shapes (path with ids elided) and error codes answered. */
class Coverage {
  readonly routes = new Set<string>();
  readonly codes = new Set<string>();
  add(req: Req, res: LightMyRequestResponse): void {
    const path = req.url.split('?')[0]!;
    const known =
      /^\/(registry\/(register|agents|leader|events|heartbeat|deregister)|messages\/(send|request|ack|[^/]+\/(stream|ack)|[^/]+$)|health|livez|readyz|metrics)/.exec(
        path,
      );
    if (known)
      this.routes.add(
        `${req.method} ${known[0].replace(/\/[^/]+\/(stream|ack)$/, '/{id}/$1').replace(/^\/messages\/[^/]+$/, '/messages/{id}')}`,
      );
    if (res.statusCode >= 400 && res.headers['content-type']?.toString().startsWith('application/json')) {
      const code = res.json<{ code?: unknown }>().code;
      if (typeof code === 'string') this.codes.add(code);
    }
  }
  expectAtLeast(o: { routes: number; codes: string[] }): void {
    expect(this.routes.size, [...this.routes].join(', ')).toBeGreaterThanOrEqual(o.routes);
    expect([...this.codes], 'error codes answered').toEqual(match.arrayContaining(o.codes));
  }
}

// ---- properties ----------------------------------------------------------------------------------

describe('fuzz: AUTH_MODE=none', () => {
  const mesh = meshPerSuite({
    MAX_PAYLOAD_BYTES: MAX_PAYLOAD,
    BODY_LIMIT_BYTES: BODY_LIMIT,
    STALE_TIMEOUT_MS: 600_000,
    HEARTBEAT_INTERVAL_MS: 1000,
  });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    namespaces.push(mesh.namespace);
    await seed(app);
  });

  it('rejected requests: 4xx JSON with a code, and the namespace state is unchanged', async () => {
    const seen = new Coverage();
    await fc.assert(
      fc.asyncProperty(fc.array(rejectedRequest, { minLength: 60, maxLength: 60 }), async (batch) => {
        const before = await snapshotKeys(mesh.redis, await mesh.namespaceKeys());
        for (const req of batch) {
          const res = await send(app, req);
          seen.add(req, res);
          checkResponse(req, res);
          expect(res.statusCode, `${res.statusCode} ${res.body.slice(0, 200)} <- ${describeReq(req)}`).toBeGreaterThanOrEqual(400);
        }
        expect(await snapshotKeys(mesh.redis, await mesh.namespaceKeys())).toEqual(before);
      }),
      { numRuns: 25 },
    );
    // The generator reached the rules it is meant to exercise, not one rejection over and over.
    seen.expectAtLeast({ routes: 8, codes: ['invalid_request', 'invalid_json', 'unsupported_media_type', 'payload_too_large'] });
    await expectNoKeysOutside(mesh);
  });

  it('anything at all: never a 5xx, every error JSON with a code, no key outside the namespace', async () => {
    const seen = new Coverage();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(anyRequest, async (req) => {
        const res = await send(app, req);
        seen.add(req, res);
        if (res.statusCode < 300) accepted++;
        checkResponse(req, res);
      }),
      { numRuns: 2500 },
    );
    seen.expectAtLeast({ routes: 8, codes: ['invalid_request', 'not_found'] });
    // The generator is not only producing rejects (random: a valid marked registration may or may
    // not be among them, and a later random deregister may remove it, so that is checked below).
    expect(accepted).toBeGreaterThan(0);
    // A marked registration through the same path lands inside the namespace, like every key.
    const control = await app.inject({
      method: 'POST',
      url: '/registry/register',
      payload: registerBody(`${MARK}-control`, { capabilities: [`${MARK}-cap`] }),
    });
    expect(control.statusCode).toBe(200);
    expect((await keysContaining(mesh.redis, MARK)).length).toBeGreaterThan(0);
    await expectNoKeysOutside(mesh);
    // And the server still works.
    expect((await app.inject({ method: 'GET', url: '/registry/agents' })).statusCode).toBe(200);
  });
});

describe('fuzz: AUTH_MODE=instance without valid tokens', () => {
  const REG = `reg-${randomBytes(8).toString('hex')}`;
  const ADMIN = `adm-${randomBytes(8).toString('hex')}`;
  const mesh = meshPerSuite({
    AUTH_MODE: 'instance',
    AUTH_TOKENS: REG,
    ADMIN_TOKENS: ADMIN,
    STALE_TIMEOUT_MS: 600_000,
    HEARTBEAT_INTERVAL_MS: 1000,
  });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    namespaces.push(mesh.namespace);
    await seed(app, REG);
  });

  const authHeader = fc.oneof(
    fc.constant<string | null>(null),
    fc.constantFrom(
      'Bearer',
      'Bearer ',
      'Basic abc',
      `Bearer ${REG}x`,
      `Bearer x${ADMIN}`,
      `bearer ${REG.slice(0, -1)}`,
      'Bearer \u0000',
      `Token ${ADMIN}`,
    ),
    weird.map((w) => `Bearer ${w}`),
    weird,
  );

  it('every request with a missing, garbage or near-miss token is refused and changes nothing', async () => {
    const seen = new Coverage();
    const req = fc.tuple(fc.oneof(anyRequest, rejectedRequest), authHeader, fc.option(weird)).map<Req>(([r, auth, inst]) => {
      const headers = { ...r.headers };
      // Only header values Node would accept on the wire (no control characters or non-latin1).
      const safe = (v: string) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v);
      if (auth !== null && safe(auth)) headers.authorization = auth;
      if (inst !== null && safe(inst)) headers['x-instance-token'] = inst;
      return { ...r, headers };
    });
    await fc.assert(
      fc.asyncProperty(fc.array(req, { minLength: 50, maxLength: 50 }), async (batch) => {
        const before = await snapshotKeys(mesh.redis, await mesh.namespaceKeys());
        for (const r of batch) {
          const res = await send(app, r);
          seen.add(r, res);
          checkResponse(r, res);
          expect(res.statusCode, `${res.statusCode} <- ${describeReq(r)}`).toBeGreaterThanOrEqual(400);
        }
        expect(await snapshotKeys(mesh.redis, await mesh.namespaceKeys())).toEqual(before);
      }),
      { numRuns: 20 },
    );
    // Refused for lack of credentials, not only for malformed input.
    seen.expectAtLeast({ routes: 8, codes: ['unauthorized'] });
    await expectNoKeysOutside(mesh);
  });
});
