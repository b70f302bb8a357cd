// Input validation on every route: the limits of the issue (ids, hostnames, ports, names, status,
// metrics, message types, correlation ids, payload and body sizes, media types), JSON-only errors
// with a stable code and the offending field named, prototype-pollution and duplicate-key bodies.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshPerSuite, registerBody, startMesh, type TestMesh } from '../helpers/app.js';
import { call, expectJsonError, snapshotKeys } from '../helpers/security.js';

const MAX_PAYLOAD = 2048;
const BODY_LIMIT = 8192;

const mesh = meshPerSuite({ MAX_PAYLOAD_BYTES: MAX_PAYLOAD, BODY_LIMIT_BYTES: BODY_LIMIT });
let app: FastifyInstance;

beforeAll(async () => {
  app = mesh.apps[0]!;
  for (const id of ['val-a', 'val-b']) {
    expect((await call(app, 'POST', '/registry/register', { body: registerBody(id) })).statusCode).toBe(200);
  }
});

/** 400 invalid_request whose message names `field`. */
function expectInvalid(res: Awaited<ReturnType<typeof call>>, field: string) {
  const body = expectJsonError(res, 400, 'invalid_request');
  expect(body.error, res.body).toContain(field);
  return body;
}

const register = (body: unknown) => call(app, 'POST', '/registry/register', { body });
const send = (body: unknown, source = 'val-a') => call(app, 'POST', `/messages/send/${source}`, { body });
const sendOk = { target_instance: 'val-b', message_type: 'Notification', payload: null, correlation_id: null };

const BAD_IDS = [
  '',
  '.starts-with-dot',
  '-dash',
  '_under',
  'has space',
  'brace{tag}',
  '{default}',
  'star*',
  'slash/inside',
  'question?',
  'percent%',
  'ünïcode',
  '日本',
  'emoji-🙂',
  'tab\tinside',
  'nul\u0000',
  'newline\n',
  'a'.repeat(129),
];
const GOOD_IDS = ['a', 'A1', '0', 'with.dots_and-dashes:and:colons', 'a'.repeat(128)];

describe('instance ids: ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ everywhere', () => {
  it('register rejects each bad id and names body.instance_id', async () => {
    for (const id of BAD_IDS) expectInvalid(await register(registerBody(id)), 'body.instance_id');
    for (const id of [42, null, ['a'], { id: 'a' }, true]) {
      expectInvalid(await register({ ...registerBody('x'), instance_id: id }), 'body.instance_id');
    }
  });

  it('register accepts the edges of the pattern', async () => {
    for (const id of GOOD_IDS) {
      const res = await register(registerBody(id, { hostname: 'h.local' }));
      expect(res.statusCode, `${JSON.stringify(id)} ${res.body}`).toBe(200);
    }
  });

  it('every route with an id in the path rejects bad ids (params.*)', async () => {
    const routes = (id: string) =>
      [
        ['GET', `/registry/agents/${id}`, undefined, 'params.id'],
        ['POST', `/registry/heartbeat/${id}`, { status: 'ok' }, 'params.id'],
        ['DELETE', `/registry/deregister/${id}`, undefined, 'params.id'],
        ['POST', `/messages/send/${id}`, sendOk, 'params.source_id'],
        ['POST', `/messages/request/${id}`, { target_instance: 'val-b', payload: null }, 'params.source_id'],
        ['GET', `/messages/${id}`, undefined, 'params.id'],
        ['POST', `/messages/ack/${id}`, { message_ids: [] }, 'params.id'],
        ['POST', `/messages/${id}/ack`, { message_ids: [] }, 'params.id'],
        ['GET', `/messages/${id}/stream`, undefined, 'params.id'],
      ] as const;
    // Path-safe bad ids (the others cannot be a path segment at all).
    for (const raw of ['.dot', '-dash', 'brace{x}', 'star*', 'ünï', '%7Bdefault%7D', 'sp%20ace', 'nul%00', 'a'.repeat(129)]) {
      for (const [method, url, body, field] of routes(encodeURI(raw).replace(/%25/g, '%'))) {
        const res = await call(app, method, url, { body });
        expectInvalid(res, field);
      }
    }
  });

  it('target_instance in send is an id too', async () => {
    for (const id of BAD_IDS) expectInvalid(await send({ ...sendOk, target_instance: id }), 'body.target_instance');
  });
});

describe('register body', () => {
  it('hostname: RFC 1123, at most 253 characters, or an IP address', async () => {
    const label = 'a'.repeat(63);
    const h253 = [label, label, label, 'a'.repeat(61)].join('.');
    expect(h253).toHaveLength(253);
    for (const hostname of [
      'localhost',
      'a',
      'my-host.example.com',
      'a1.b2.c3',
      h253,
      `${label}.com`,
      '10.0.0.1',
      '::1',
      'fe80::1',
      'host.example.com.',
    ]) {
      const res = await register({ ...registerBody('host-ok'), hostname });
      expect(res.statusCode, `${hostname} ${res.body}`).toBe(200);
    }
    for (const hostname of [
      '',
      `${h253}a`,
      `${'a'.repeat(64)}.com`,
      '-leading.example',
      'trailing-.example',
      'under_score.example',
      'sp ace',
      'ünïcode.example',
      'a..b',
      'http://x',
      'host:80',
      'x/y',
      '{ns}',
      42,
      null,
    ]) {
      expectInvalid(await register({ ...registerBody('host-bad'), hostname }), 'body.hostname');
    }
  });

  it('port: an integer 1-65535', async () => {
    for (const port of [1, 80, 65535]) expect((await register(registerBody('port-ok', { port }))).statusCode).toBe(200);
    for (const port of [0, -1, 65536, 1.5, '80', null, Number.POSITIVE_INFINITY, true]) {
      expectInvalid(await register({ ...registerBody('port-bad'), port }), 'body.port');
    }
  });

  it('capabilities and agent_profiles: at most 64 names of at most 128 safe characters', async () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `cap-${i}`);
    for (const field of ['capabilities', 'agent_profiles'] as const) {
      const ok = await register({ ...registerBody('caps-ok'), [field]: names(64) });
      expect(ok.statusCode, ok.body).toBe(200);
      expect((await register({ ...registerBody('caps-ok'), [field]: ['a'.repeat(128), 'x.y_z:w/v@u+t-s'] })).statusCode).toBe(200);
      expectInvalid(await register({ ...registerBody('caps-bad'), [field]: names(65) }), `body.${field}`);
      for (const bad of ['', 'a'.repeat(129), 'sp ace', 'brace{x}', 'star*', 'q?', 'ünï', '-lead', 'new\nline', 5, null]) {
        expectInvalid(await register({ ...registerBody('caps-bad'), [field]: ['fine', bad] }), `body.${field}.1`);
      }
      for (const bad of ['code', { a: 1 }, null])
        expectInvalid(await register({ ...registerBody('caps-bad'), [field]: bad }), `body.${field}`);
    }
    expect(await mesh.redis.exists(mesh.keys.inst('caps-bad'))).toBe(0);
  });

  it('missing fields are named; unknown fields are ignored', async () => {
    for (const field of ['instance_id', 'hostname', 'port', 'capabilities', 'agent_profiles']) {
      const body: Record<string, unknown> = { ...registerBody('miss') };
      delete body[field];
      expectInvalid(await register(body), `body.${field}`);
    }
    const res = await register({ ...registerBody('extra'), extra_field: { deep: [1, 2] }, is_leader: true });
    expect(res.statusCode).toBe(200);
  });
});

describe('heartbeat body', () => {
  const hb = (body: unknown) => call(app, 'POST', '/registry/heartbeat/val-a', { body });

  it('status: a string of at most 64 characters', async () => {
    expect((await hb({ status: 's'.repeat(64), metrics: null })).statusCode).toBe(200);
    for (const status of ['s'.repeat(65), 5, null, { a: 1 }]) expectInvalid(await hb({ status, metrics: null }), 'body.status');
    expectInvalid(await hb({ metrics: null }), 'body.status');
  });

  it('metrics: an object of any JSON values, at most 64 keys, 8 levels and 4 KiB', async () => {
    const flat = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    expect((await hb({ status: 'ok', metrics: flat(64) })).statusCode).toBe(200);
    expect((await hb({ status: 'ok', metrics: { s: 'x', n: 1.5, b: true, z: null } })).statusCode).toBe(200);
    // Seed: HashMap<String, serde_json::Value>: nested objects and arrays are values too.
    expect((await hb({ status: 'ok', metrics: { nested: { a: 1 }, list: [1, 2], tasks: { queued: [{ id: 1 }] } } })).statusCode).toBe(200);
    expectInvalid(await hb({ status: 'ok', metrics: flat(65) }), 'body.metrics');
    let deep: unknown = 1;
    for (let i = 0; i < 8; i++) deep = [deep];
    expect((await hb({ status: 'ok', metrics: { d: deep } })).statusCode).toBe(400);
    expectInvalid(await hb({ status: 'ok', metrics: [1, 2] }), 'body.metrics');
    expectInvalid(await hb({ status: 'ok', metrics: 'cpu=1' }), 'body.metrics');
    expectInvalid(await hb({ status: 'ok', metrics: { ['k'.repeat(129)]: 1 } }), 'body.metrics');
    // 4 KiB is bytes: 1000 three-byte characters in a value are ~3 KB of UTF-8, 1400 are over.
    expect((await hb({ status: 'ok', metrics: { a: '€'.repeat(1000) } })).statusCode).toBe(200);
    expectInvalid(await hb({ status: 'ok', metrics: { a: '€'.repeat(1024), b: '€'.repeat(400) } }), 'body.metrics');
    expectInvalid(
      await hb({ status: 'ok', metrics: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'x'.repeat(1000)])) }),
      'body.metrics',
    );
  });
});

describe('send body', () => {
  it('message_type: the PascalCase variants or {Custom: name}', async () => {
    for (const message_type of ['Query', 'Response', 'GraphSync', 'WorkflowStageResult', { Custom: 'x' }, { Custom: 'c'.repeat(128) }]) {
      const res = await send({ ...sendOk, message_type });
      expect(res.statusCode, `${JSON.stringify(message_type)} ${res.body}`).toBe(200);
    }
    for (const message_type of [
      'query',
      'QUERY',
      'Unknown',
      '',
      5,
      null,
      { Custom: '' },
      { Custom: 'c'.repeat(129) },
      { Custom: 5 },
      { Custom: 'a', Other: 'b' },
      { custom: 'a' },
      ['Query'],
    ]) {
      expectInvalid(await send({ ...sendOk, message_type }), 'body.message_type');
    }
  });

  it('correlation_id: at most 128 characters or null', async () => {
    expect((await send({ ...sendOk, correlation_id: 'c'.repeat(128) })).statusCode).toBe(200);
    for (const correlation_id of ['c'.repeat(129), '', 5, { a: 1 }]) {
      expectInvalid(await send({ ...sendOk, correlation_id }), 'body.correlation_id');
    }
  });

  it('payload: required (null allowed), at most MAX_PAYLOAD_BYTES (413), at most 64 levels deep', async () => {
    const { payload: _omit, ...noPayload } = sendOk;
    expectInvalid(await send(noPayload), 'body.payload');
    for (const payload of [null, 0, 'str', [1, 'a'], { a: { b: [null] } }])
      expect((await send({ ...sendOk, payload })).statusCode).toBe(200);
    const big = await send({ ...sendOk, payload: 'x'.repeat(MAX_PAYLOAD) });
    expectJsonError(big, 413, 'payload_too_large');
    expect(big.json()).toMatchObject({ limit: MAX_PAYLOAD });
    expect((await send({ ...sendOk, payload: 'x'.repeat(MAX_PAYLOAD - 2) })).statusCode).toBe(200);
    let deep: unknown = 1;
    for (let i = 0; i < 64; i++) deep = [deep];
    expect((await send({ ...sendOk, payload: deep })).statusCode).toBe(200);
    // One level more is refused before parsing (the body would nest 66 levels).
    const tooDeep = expectJsonError(await send({ ...sendOk, payload: [deep] }), 400, 'json_too_deep');
    expect(tooDeep.error).toContain('65 levels');
  });

  it('target_capability is a safe name', async () => {
    for (const target_capability of ['sp ace', 'brace{x}', '*', 'a'.repeat(129)]) {
      expectInvalid(await send({ ...sendOk, target_instance: null, target_capability }), 'body.target_capability');
    }
  });
});

describe('ack body and query strings', () => {
  it('message_ids: an array of at most 1000 strings of at most 128 characters', async () => {
    const ack = (body: unknown) => call(app, 'POST', '/messages/ack/val-b', { body });
    expect((await ack({ message_ids: Array.from({ length: 1000 }, (_, i) => `m${i}`) })).statusCode).toBe(204);
    expectInvalid(await ack({ message_ids: Array.from({ length: 1001 }, (_, i) => `m${i}`) }), 'body.message_ids');
    expectInvalid(await ack({ message_ids: ['m'.repeat(129)] }), 'body.message_ids.0');
    for (const message_ids of ['m1', [1], null, { a: 1 }]) expectInvalid(await ack({ message_ids }), 'body.message_ids');
    expectInvalid(await ack({}), 'body.message_ids');
  });

  it('limit, wait, cursor and capability are checked', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1.5', 'limit=', 'limit=1&limit=2']) {
      expectInvalid(await call(app, 'GET', `/messages/val-a?${q}`), 'querystring.limit');
    }
    for (const q of ['wait=61', 'wait=-1', 'wait=abc', 'wait=Infinity'])
      expectInvalid(await call(app, 'GET', `/messages/val-a?${q}`), 'querystring.wait');
    expectInvalid(await call(app, 'GET', '/registry/agents?cursor=abc'), 'querystring.cursor');
    expectInvalid(await call(app, 'GET', '/registry/agents?limit=0'), 'querystring.limit');
    expectInvalid(await call(app, 'GET', '/registry/agents?capability=%7Bx%7D'), 'querystring.capability');
    // Unknown query parameters are ignored, including prototype keys.
    expect((await call(app, 'GET', '/registry/agents?__proto__=x&constructor=y&foo=bar')).statusCode).toBe(200);
  });
});

describe('bodies that are not what they claim', () => {
  const raw = (url: string, payload: string | Buffer, contentType?: string) =>
    app.inject({ method: 'POST', url, payload, headers: contentType ? { 'content-type': contentType } : {} });

  it('non-JSON media types are 415, broken JSON is 400 invalid_json, an empty JSON body is 400', async () => {
    for (const ct of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/octet-stream',
      'text/json',
    ]) {
      expectJsonError(await raw('/registry/register', 'instance_id=x', ct), 415, 'unsupported_media_type');
    }
    for (const body of ['{', '{"a":', "{'a':1}", '{"a":1}}', 'nul', '[1,]', '\u0000', '{"a":1e}', 'undefined']) {
      expectJsonError(await raw('/registry/register', body, 'application/json'), 400, 'invalid_json');
    }
    expectJsonError(await raw('/registry/register', '', 'application/json'), 400, 'invalid_json');
    // Valid JSON of the wrong shape names the body.
    for (const body of ['null', '42', '"str"', '[]', 'true'])
      expectInvalid(await raw('/registry/register', body, 'application/json'), 'body');
  });

  it('a POST without any body is a 400 naming the body', async () => {
    expectInvalid(await app.inject({ method: 'POST', url: '/registry/register' }), 'body');
    expectInvalid(await app.inject({ method: 'POST', url: '/messages/ack/val-a' }), 'body');
  });

  it('bodies over BODY_LIMIT_BYTES are 413 payload_too_large', async () => {
    const huge = JSON.stringify({ ...registerBody('big'), padding: 'x'.repeat(BODY_LIMIT) });
    expectJsonError(await raw('/registry/register', huge, 'application/json'), 413, 'payload_too_large');
    const hugeSend = JSON.stringify({ ...sendOk, payload: 'x'.repeat(BODY_LIMIT) });
    expectJsonError(await raw('/messages/send/val-a', hugeSend, 'application/json'), 413, 'payload_too_large');
  });

  it('__proto__ and constructor.prototype keys are refused with a 400 JSON and pollute nothing', async () => {
    const before = await snapshotKeys(mesh.redis, await mesh.namespaceKeys());
    const bodies = [
      '{"__proto__": {"polluted": true}, "instance_id": "pp", "hostname": "h", "port": 1, "capabilities": [], "agent_profiles": []}',
      '{"instance_id": "pp", "hostname": "h", "port": 1, "capabilities": [], "agent_profiles": [], "x": {"__proto__": {"polluted": true}}}',
      '{"constructor": {"prototype": {"polluted": true}}, "instance_id": "pp", "hostname": "h", "port": 1, "capabilities": [], "agent_profiles": []}',
    ];
    for (const body of bodies) expectJsonError(await raw('/registry/register', body, 'application/json'), 400, 'invalid_json');
    expectJsonError(
      await raw('/registry/heartbeat/val-a', '{"status": "ok", "metrics": {"__proto__": {"isAdmin": true}}}', 'application/json'),
      400,
      'invalid_json',
    );
    expectJsonError(
      await raw(
        '/messages/send/val-a',
        '{"target_instance": "val-b", "message_type": "Query", "payload": {"__proto__": {"x": 1}}}',
        'application/json',
      ),
      400,
      'invalid_json',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(await snapshotKeys(mesh.redis, await mesh.namespaceKeys())).toEqual(before);
  });

  it('a plain "constructor" key is just data', async () => {
    const res = await raw(
      '/registry/heartbeat/val-a',
      '{"status": "ok", "metrics": {"constructor": 1, "toString": "x"}}',
      'application/json',
    );
    expect(res.statusCode, res.body).toBe(200);
    const agent = await call(app, 'GET', '/registry/agents/val-a');
    expect(agent.json()).toMatchObject({ metrics: { constructor: 1, toString: 'x' } });
  });

  it('duplicate keys: the last one wins, and it is the one validated', async () => {
    const dup =
      '{"instance_id": "dup-a", "instance_id": "dup-b", "hostname": "h", "port": 1, "port": 2, "capabilities": [], "agent_profiles": []}';
    const res = await raw('/registry/register', dup, 'application/json');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ instance_id: 'dup-b' });
    expect(await mesh.redis.exists(mesh.keys.inst('dup-a'))).toBe(0);
    expect(await mesh.redis.hget(mesh.keys.inst('dup-b'), 'port')).toBe('2');
    // A valid value hidden behind an invalid last one is still refused.
    const sneaky =
      '{"instance_id": "ok-id", "instance_id": "{evil}", "hostname": "h", "port": 1, "capabilities": [], "agent_profiles": []}';
    expectInvalid(await raw('/registry/register', sneaky, 'application/json'), 'body.instance_id');
  });

  it('errors never leak a stack trace or internals', async () => {
    const res = await raw('/registry/register', '{"instance_id": ', 'application/json');
    expect(res.body).not.toMatch(/node_modules|at Object\.|\.js:\d+/);
  });
});

describe('default limits', () => {
  let m: TestMesh;
  beforeAll(async () => {
    m = await startMesh();
    for (const id of ['def-a', 'def-b']) await call(m.apps[0]!, 'POST', '/registry/register', { body: registerBody(id) });
  });
  afterAll(async () => m.close());

  it('payload default 256 KiB -> 413; body default 1 MiB -> 413', async () => {
    const a = m.apps[0]!;
    const at = (n: number) =>
      call(a, 'POST', '/messages/send/def-a', { body: { ...sendOk, target_instance: 'def-b', payload: 'x'.repeat(n) } });
    expect((await at(256 * 1024 - 2)).statusCode).toBe(200);
    expectJsonError(await at(256 * 1024), 413, 'payload_too_large');
    expectJsonError(await at(1024 * 1024), 413, 'payload_too_large');
    expect(m.config.MAX_PAYLOAD_BYTES).toBe(256 * 1024);
    expect(m.config.BODY_LIMIT_BYTES).toBe(1024 * 1024);
  });
});
