// AUTH_MODE none | token | instance: what each mode opens and closes, every forbidden action tried
// (no token, wrong token, another instance's token, a deregistered or expired instance's token,
// hijack by re-register), and tokens never written to the logs.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, createLogger } from '../../src/app.js';
import { hashToken } from '../../src/http/bearer.js';
import { asHttpAnswer, rejectionOf } from '../helpers/domain-errors.js';
import { meshPerSuite, registerBody, sleep, startMesh } from '../helpers/app.js';
import { actingRoutes, call, expectJsonError, readRoutes } from '../helpers/security.js';

const PROBES = ['/health', '/livez', '/readyz'];

async function registerWith(app: FastifyInstance, id: string, token: string | null, headers: Record<string, string> = {}) {
  return call(app, 'POST', '/registry/register', { token, body: registerBody(id), headers });
}

/** Registers and returns the instance token (instance mode). */
async function registerOk(app: FastifyInstance, id: string, token: string | null): Promise<string> {
  const res = await registerWith(app, id, token);
  expect(res.statusCode, res.body).toBe(200);
  const t = res.json<{ instance_token: string | null }>().instance_token;
  if (!t) throw new Error(`no instance token for ${id}`);
  return t;
}

/** An SSE stream answered 200 over real HTTP (inject would wait for the stream to end). */
async function streamStatus(app: FastifyInstance, id: string, token: string): Promise<number> {
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const abort = new AbortController();
  try {
    const res = await fetch(`${address}/messages/${id}/stream`, {
      headers: { authorization: `Bearer ${token}` },
      signal: abort.signal,
    });
    return res.status;
  } finally {
    abort.abort();
  }
}

describe('AUTH_MODE=none', () => {
  const mesh = meshPerSuite();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
  });

  it('everything is open and no instance token is issued', async () => {
    const res = await registerWith(app, 'none-a', null);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ instance_token: null });
    await registerWith(app, 'none-b', null);
    for (const r of readRoutes('none-a')) expect((await call(app, r.method, r.url)).statusCode, r.url).toBe(200);
    for (const r of actingRoutes('none-a', 'none-b')) {
      if (r.name === 'stream' || r.name === 'long-poll' || r.name === 'request' || r.name === 'deregister') continue;
      const res = await call(app, r.method, r.url, { body: r.body });
      expect(res.statusCode, `${r.name} ${res.body}`).toBeLessThan(300);
    }
    // A garbage bearer is ignored, not rejected: none means none.
    expect((await call(app, 'GET', '/registry/agents', { token: 'whatever' })).statusCode).toBe(200);
    expect((await call(app, 'DELETE', '/registry/deregister/none-a')).statusCode).toBe(204);
  });

  it('no tok field or tokens hash is written', async () => {
    await registerWith(app, 'none-c', null);
    expect(await mesh.redis.hget(mesh.keys.inst('none-c'), 'tok')).toBeNull();
    expect(await mesh.redis.exists(`${mesh.keys.prefix}tokens`)).toBe(0);
  });
});

describe('AUTH_MODE=token', () => {
  const SHARED = ['shared-token-one', 'shared-token-two'];
  const ADMIN = 'admin-token-xyz';
  const mesh = meshPerSuite({ AUTH_MODE: 'token', AUTH_TOKENS: SHARED.join(','), ADMIN_TOKENS: ADMIN });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
  });

  it('probes stay open', async () => {
    for (const p of PROBES) expect((await call(app, 'GET', p)).statusCode, p).toBe(200);
  });

  it('the API description stays open: /openapi.json and /docs hold no mesh data', async () => {
    expect((await call(app, 'GET', '/openapi.json')).statusCode).toBe(200);
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });

  it('every other route is 401 JSON without a token, with a wrong one, or with a malformed header', async () => {
    const routes = [
      { method: 'POST' as const, url: '/registry/register', body: registerBody('tok-x') },
      ...readRoutes('tok-x'),
      ...actingRoutes('tok-x', 'tok-y'),
    ];
    const variants: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token' },
      { authorization: `Bearer ${SHARED[0]}x` },
      { authorization: `Basic ${Buffer.from(`u:${SHARED[0]}`).toString('base64')}` },
      { authorization: SHARED[0]! },
      { authorization: 'Bearer ' },
      { authorization: `Bearer ${SHARED[0]} extra` },
      { 'x-instance-token': SHARED[0]! },
    ];
    for (const r of routes) {
      for (const headers of variants) {
        const res = await call(app, r.method, r.url, { body: 'body' in r ? r.body : undefined, headers });
        expectJsonError(res, 401, 'unauthorized');
      }
    }
    expect(await mesh.namespaceKeys()).toEqual([]);
  });

  it('authentication comes before validation: a bad body without a token is 401, not 400', async () => {
    const res = await call(app, 'POST', '/registry/register', { body: { instance_id: '{bad}' } });
    expectJsonError(res, 401, 'unauthorized');
  });

  it('each shared token and the admin token work for every route', async () => {
    for (const [i, token] of [...SHARED, ADMIN].entries()) {
      const a = `tok-a${i}`;
      const b = `tok-b${i}`;
      const reg = await registerWith(app, a, token);
      expect(reg.statusCode, reg.body).toBe(200);
      expect(reg.json()).toMatchObject({ instance_token: null });
      expect((await registerWith(app, b, token)).statusCode).toBe(200);
      for (const r of readRoutes(a)) expect((await call(app, r.method, r.url, { token })).statusCode, r.url).toBe(200);
      for (const r of actingRoutes(a, b)) {
        if (r.name === 'stream' || r.name === 'long-poll' || r.name === 'request') continue;
        const res = await call(app, r.method, r.url, { token, body: r.body });
        expect(res.statusCode, `${r.name} ${res.body}`).toBeLessThan(300);
      }
    }
  });

  it('the scheme is case-insensitive and surrounding spaces are tolerated', async () => {
    for (const authorization of [`bearer ${SHARED[0]}`, `BEARER   ${SHARED[1]}`, `Bearer ${SHARED[0]}  `]) {
      expect((await call(app, 'GET', '/registry/agents', { headers: { authorization } })).statusCode, authorization).toBe(200);
    }
  });

  it('a route added later (e.g. /registry/events) is protected too', async () => {
    // Same config as the mesh (token mode), built by hand so a route can be added before ready().
    const extra = await buildApp(mesh.config, { maintenance: false });
    try {
      extra.get('/x-late-route', async () => ({ ok: true }));
      await extra.ready();
      expectJsonError(await call(extra, 'GET', '/x-late-route'), 401, 'unauthorized');
      expect((await call(extra, 'GET', '/x-late-route', { token: SHARED[0] })).statusCode).toBe(200);
      if (extra.hasRoute({ method: 'GET', url: '/registry/events' })) {
        expectJsonError(await call(extra, 'GET', '/registry/events'), 401, 'unauthorized');
      }
    } finally {
      await extra.close();
    }
  });

  it('an unknown route is a JSON 404 with or without a token', async () => {
    expectJsonError(await call(app, 'GET', '/nope'), 404, 'not_found');
    expectJsonError(await call(app, 'GET', '/nope', { token: SHARED[0] }), 404, 'not_found');
  });
});

describe('AUTH_MODE=instance', () => {
  const REG = 'registration-token';
  const ADMIN = 'admin-token-abc';
  const mesh = meshPerSuite({ AUTH_MODE: 'instance', AUTH_TOKENS: REG, ADMIN_TOKENS: ADMIN });
  let app: FastifyInstance;
  let tokA: string;
  let tokB: string;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    tokA = await registerOk(app, 'inst-a', REG);
    tokB = await registerOk(app, 'inst-b', REG);
  });

  it('probes stay open', async () => {
    for (const p of PROBES) expect((await call(app, 'GET', p)).statusCode, p).toBe(200);
  });

  it('register needs the registration bearer (or an admin token) when AUTH_TOKENS is set', async () => {
    expectJsonError(await registerWith(app, 'inst-r', null), 401, 'unauthorized');
    expectJsonError(await registerWith(app, 'inst-r', 'nope'), 401, 'unauthorized');
    // An instance token is not a registration token.
    expectJsonError(await registerWith(app, 'inst-r', tokA), 401, 'unauthorized');
    expect(await mesh.redis.exists(mesh.keys.inst('inst-r'))).toBe(0);
    const res = await registerWith(app, 'inst-r', ADMIN);
    expect(res.statusCode).toBe(200);
    expect(res.json<{ instance_token: string }>().instance_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('instance tokens are random 256-bit values stored only as their sha256', async () => {
    expect(tokA).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokA).not.toBe(tokB);
    expect(await mesh.redis.hget(mesh.keys.inst('inst-a'), 'tok')).toBe(hashToken(tokA));
    expect(await mesh.redis.hget(`${mesh.keys.prefix}tokens`, hashToken(tokA))).toBe('inst-a');
    // The raw token is nowhere in the namespace.
    for (const key of await mesh.namespaceKeys()) {
      if ((await mesh.redis.type(key)) !== 'hash') continue;
      const h = await mesh.redis.hgetall(key);
      expect(JSON.stringify(h)).not.toContain(tokA);
    }
  });

  it('hijack by re-register is refused: no token, wrong token, another instance token, a shared token', async () => {
    const before = await mesh.redis.hgetall(mesh.keys.inst('inst-a'));
    for (const presented of [null, 'wrong', tokB, REG, ADMIN, `${tokA}x`]) {
      const headers: Record<string, string> = presented ? { 'x-instance-token': presented } : {};
      const res = await call(app, 'POST', '/registry/register', {
        token: REG,
        body: registerBody('inst-a', { hostname: 'evil.example', port: 6666 }),
        headers,
      });
      expectJsonError(res, 409, 'instance_id_in_use');
    }
    // Even with the instance's own token as bearer but not as x-instance-token.
    expectJsonError(await registerWith(app, 'inst-a', tokA), 401, 'unauthorized');
    expect(await mesh.redis.hgetall(mesh.keys.inst('inst-a'))).toEqual(before);
  });

  it('the holder re-registers with x-instance-token; the token is kept, not re-issued', async () => {
    const res = await call(app, 'POST', '/registry/register', {
      token: REG,
      body: registerBody('inst-a', { capabilities: ['x'] }),
      headers: { 'x-instance-token': tokA },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ instance_token: null });
    expect((await call(app, 'POST', '/registry/heartbeat/inst-a', { token: tokA, body: { status: 'ok' } })).statusCode).toBe(200);
  });

  it('reading the registry needs any valid token', async () => {
    for (const r of readRoutes('inst-a')) {
      expectJsonError(await call(app, r.method, r.url), 401, 'unauthorized');
      expectJsonError(await call(app, r.method, r.url, { token: 'wrong' }), 401, 'unauthorized');
      for (const token of [REG, ADMIN, tokA, tokB]) {
        expect((await call(app, r.method, r.url, { token })).statusCode, `${r.url} with ${token}`).toBe(200);
      }
    }
  });

  it('acting as an instance: 401 without/with a wrong or shared token, 403 with another instance token', async () => {
    for (const r of actingRoutes('inst-a', 'inst-b')) {
      expectJsonError(await call(app, r.method, r.url, { body: r.body }), 401, 'unauthorized');
      expectJsonError(await call(app, r.method, r.url, { body: r.body, token: 'wrong' }), 401, 'unauthorized');
      expectJsonError(await call(app, r.method, r.url, { body: r.body, token: REG }), 401, 'unauthorized');
      // x-instance-token is only for re-registering; acting needs the bearer.
      expectJsonError(await call(app, r.method, r.url, { body: r.body, headers: { 'x-instance-token': tokA } }), 401, 'unauthorized');
      expectJsonError(await call(app, r.method, r.url, { body: r.body, token: tokB }), 403, 'forbidden');
    }
    // None of that changed anything: inst-a is still there with its token.
    expect(await mesh.redis.hget(mesh.keys.inst('inst-a'), 'tok')).toBe(hashToken(tokA));
  });

  it("nobody can read or ack another instance's messages", async () => {
    const sent = await call(app, 'POST', '/messages/send/inst-a', {
      token: tokA,
      body: { target_instance: 'inst-b', message_type: 'Query', payload: { secret: 1 }, correlation_id: null },
    });
    expect(sent.statusCode, sent.body).toBe(200);
    const mid = sent.json<{ message_id: string }>().message_id;
    expectJsonError(await call(app, 'GET', '/messages/inst-b', { token: tokA }), 403, 'forbidden');
    expectJsonError(await call(app, 'POST', '/messages/ack/inst-b', { token: tokA, body: { message_ids: [mid] } }), 403, 'forbidden');
    // Acking someone else's message id as yourself does nothing to their copy.
    expect((await call(app, 'POST', '/messages/ack/inst-a', { token: tokA, body: { message_ids: [mid] } })).statusCode).toBe(204);
    const mine = await call(app, 'GET', '/messages/inst-b', { token: tokB });
    expect(mine.statusCode).toBe(200);
    expect(mine.json<{ messages: { message_id: string }[] }>().messages.map((m) => m.message_id)).toEqual([mid]);
    expect((await call(app, 'POST', '/messages/ack/inst-b', { token: tokB, body: { message_ids: [mid] } })).statusCode).toBe(204);
  });

  it('each instance can do everything as itself', async () => {
    for (const r of actingRoutes('inst-a', 'inst-b')) {
      if (r.name === 'stream' || r.name === 'deregister') continue;
      const res = await call(app, r.method, r.url, { token: tokA, body: r.body });
      // request: 504 timeout (nobody answers) is past auth.
      expect([200, 204, 504], `${r.name} ${res.body}`).toContain(res.statusCode);
    }
    expect(await streamStatus(app, 'inst-a', tokA)).toBe(200);
  });

  it('admin tokens act as anyone and can deregister anyone', async () => {
    const tokC = await registerOk(app, 'inst-c', REG);
    for (const r of actingRoutes('inst-c', 'inst-b')) {
      if (r.name === 'stream' || r.name === 'long-poll' || r.name === 'request' || r.name === 'deregister') continue;
      const res = await call(app, r.method, r.url, { token: ADMIN, body: r.body });
      expect(res.statusCode, `${r.name} ${res.body}`).toBeLessThan(300);
    }
    expect((await call(app, 'DELETE', '/registry/deregister/inst-c', { token: ADMIN })).statusCode).toBe(204);
    // Its token died with it.
    expect(await mesh.redis.hget(`${mesh.keys.prefix}tokens`, hashToken(tokC))).toBeNull();
    expectJsonError(await call(app, 'POST', '/registry/heartbeat/inst-c', { token: tokC, body: { status: 'ok' } }), 401, 'unauthorized');
  });

  it("a deregistered instance's token stops working everywhere", async () => {
    const tokD = await registerOk(app, 'inst-d', REG);
    expect((await call(app, 'DELETE', '/registry/deregister/inst-d', { token: tokD })).statusCode).toBe(204);
    expect(await mesh.redis.hget(`${mesh.keys.prefix}tokens`, hashToken(tokD))).toBeNull();
    for (const r of [...readRoutes('inst-a'), ...actingRoutes('inst-d', 'inst-b')]) {
      expectJsonError(await call(app, r.method, r.url, { token: tokD, body: 'body' in r ? r.body : undefined }), 401, 'unauthorized');
    }
    // The id is free again: whoever registers it gets a new token; the old one stays dead.
    const tokD2 = await registerOk(app, 'inst-d', REG);
    expect(tokD2).not.toBe(tokD);
    expectJsonError(await call(app, 'POST', '/registry/heartbeat/inst-d', { token: tokD, body: { status: 'ok' } }), 401, 'unauthorized');
    expect((await call(app, 'POST', '/registry/heartbeat/inst-d', { token: tokD2, body: { status: 'ok' } })).statusCode).toBe(200);
  });

  it('the deregister script re-checks the token (a stale lookup cannot remove a new registration)', async () => {
    await registerOk(app, 'inst-e', REG);
    const err = await rejectionOf(
      app.mesh.instances.deregister('inst-e', { enforce: true, presentedHash: hashToken('someone-elses-old-token') }),
    );
    expect(asHttpAnswer(err)).toMatchObject({ statusCode: 403, code: 'forbidden' });
    expect(await mesh.redis.exists(mesh.keys.inst('inst-e'))).toBe(1);
  });
});

describe('AUTH_MODE=instance, expiry and open registration', () => {
  // No AUTH_TOKENS: registration is open, acting still needs the instance token.
  const mesh = meshPerSuite({ AUTH_MODE: 'instance', HEARTBEAT_INTERVAL_MS: 50, STALE_TIMEOUT_MS: 200 });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
  });

  it('registers without a bearer and still guards every action', async () => {
    const tok = await registerOk(app, 'open-a', null);
    await registerOk(app, 'open-b', null);
    expectJsonError(await call(app, 'POST', '/registry/heartbeat/open-a', { body: { status: 'ok' } }), 401, 'unauthorized');
    expectJsonError(await call(app, 'GET', '/registry/agents'), 401, 'unauthorized');
    expect((await call(app, 'POST', '/registry/heartbeat/open-a', { token: tok, body: { status: 'ok' } })).statusCode).toBe(200);
    expectJsonError(await registerWith(app, 'open-a', null), 409, 'instance_id_in_use');
  });

  it('an expired instance loses its token when cleanup purges it; the id can be taken again', async () => {
    const tok = await registerOk(app, 'open-x', null);
    await sleep(300);
    await app.mesh.instances.cleanupBatch(100);
    expect(await mesh.redis.hget(`${mesh.keys.prefix}tokens`, hashToken(tok))).toBeNull();
    expectJsonError(await call(app, 'POST', '/registry/heartbeat/open-x', { token: tok, body: { status: 'ok' } }), 401, 'unauthorized');
    const tok2 = await registerOk(app, 'open-x', null);
    expect(tok2).not.toBe(tok);
  });

  it('a lapsed (not yet cleaned) id is re-registered with a fresh token and the old token is revoked', async () => {
    const tok = await registerOk(app, 'open-y', null);
    await sleep(300);
    const tok2 = await registerOk(app, 'open-y', null);
    expect(tok2).not.toBe(tok);
    expect(await mesh.redis.hget(`${mesh.keys.prefix}tokens`, hashToken(tok))).toBeNull();
    expectJsonError(await call(app, 'GET', '/messages/open-y', { token: tok }), 401, 'unauthorized');
  });
});

describe('tokens never reach the logs', () => {
  it('authorization, x-instance-token and instance_token are redacted at trace level', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const mesh = await startMesh(
      { AUTH_MODE: 'instance', AUTH_TOKENS: 'reg-secret-for-logs', ADMIN_TOKENS: 'admin-secret-for-logs' },
      { apps: 0 },
    );
    const config = { ...mesh.config, LOG_LEVEL: 'trace' as const };
    const logger = createLogger(config, sink);
    const app = await buildApp(config, { logger, maintenance: false });
    await app.ready();
    const secrets = ['reg-secret-for-logs', 'admin-secret-for-logs'];
    try {
      const reg = await registerWith(app, 'log-a', 'reg-secret-for-logs');
      const tok = reg.json<{ instance_token: string }>().instance_token;
      secrets.push(tok);
      await call(app, 'POST', '/registry/register', {
        token: 'reg-secret-for-logs',
        body: registerBody('log-a'),
        headers: { 'x-instance-token': tok },
      });
      await call(app, 'POST', '/registry/heartbeat/log-a', { token: tok, body: { status: 'ok' } });
      await call(app, 'GET', '/registry/agents', { token: 'admin-secret-for-logs' });
      await call(app, 'GET', '/messages/log-a', { token: 'wrong-secret-for-logs' });
      secrets.push('wrong-secret-for-logs');
      await call(app, 'POST', '/registry/heartbeat/log-a', {
        token: tok,
        body: '{not json' as unknown as object,
        headers: { 'content-type': 'application/json' },
      });
      // Code that logs a request's headers or a register reply gets them censored too.
      app.log.info({ req: { headers: { authorization: `Bearer ${tok}`, 'x-instance-token': tok } } }, 'headers logged');
      app.log.info({ headers: { authorization: `Bearer ${tok}` } }, 'bare headers logged');
      app.log.info({ reply: { instance_token: tok } }, 'reply logged');
    } finally {
      await app.close();
      await mesh.close();
    }
    const all = lines.join('');
    expect(lines.length).toBeGreaterThan(5);
    expect(all).toContain('[redacted]');
    for (const s of secrets) expect(all, `secret ${s} in logs`).not.toContain(s);
  });
});
