// Defects found by outside clients and attackers (issue 12), one test each: error shapes at the
// router level, hostile bodies, auth ordering and takeovers, SSE headers and backpressure, status
// flapping, secrets in URLs, lapsed tokens, and maintenance repairing itself after data loss.
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { buildApp, createLogger } from '../../src/app.js';
import { recordGraceMs } from '../../src/registry/instances.js';
import { eventually, heartbeat, meshesClosedAfterAll, meshPerSuite, register, registerBody, sleep, startMesh } from '../helpers/app.js';
import { call, expectJsonError } from '../helpers/security.js';
import { match } from '../helpers/match.js';
import type { EventsPage, HeartbeatResponse, RegisterResponse } from '../../sdk/src/types.js';

const startMeshOnce = meshesClosedAfterAll();

/** An app listening on an ephemeral port (for tests that need a real socket). */
async function listening(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

function expectSecurityHeaders(headers: Record<string, unknown>): void {
  expect(headers['content-security-policy']).toMatch(/default-src 'none'/);
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['x-request-id']).toBeTruthy();
}

describe('router-level errors are JSON with our headers', () => {
  const mesh = meshPerSuite();

  it('bad percent-encoding: 400 bad_url, no URL echoed', async () => {
    const res = await mesh.apps[0]!.inject({ method: 'POST', url: '/registry/heartbeat/a%zz', payload: { status: 'x' } });
    expectJsonError(res, 400, 'bad_url');
    expect(res.body).not.toContain('%zz');
    expect(Object.keys(res.json()).sort()).toEqual(['code', 'error']);
    expectSecurityHeaders(res.headers);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('a 600-character path segment: 414 uri_too_long, no URL echoed', async () => {
    const id = 'a'.repeat(600);
    const res = await mesh.apps[0]!.inject({ method: 'POST', url: `/registry/heartbeat/${id}`, payload: { status: 'x' } });
    expectJsonError(res, 414, 'uri_too_long');
    expect(res.body).not.toContain(id);
    expectSecurityHeaders(res.headers);
  });

  it('event ids beyond 2^64-1 are 400 invalid_request, in the JSON and the SSE form', async () => {
    const app = mesh.apps[0]!;
    for (const since of ['99999999999999999999', '1-99999999999999999999', '18446744073709551616']) {
      expectJsonError(await app.inject({ url: `/registry/events?format=json&since=${since}` }), 400, 'invalid_request');
    }
    const sse = await app.inject({ url: '/registry/events', headers: { 'last-event-id': '99999999999999999999-0' } });
    expectJsonError(sse, 400, 'invalid_request');
    // The largest valid id is still accepted.
    const max = await app.inject({ url: '/registry/events?format=json&since=18446744073709551615-18446744073709551615' });
    expect(max.statusCode).toBe(200);
    expect(max.json<EventsPage>().events).toEqual([]);
  });
});

describe('hostile bodies', () => {
  const mesh = meshPerSuite({ REQUEST_TIMEOUT_MS: 1000 });

  it('refuses a 900 KB body nested 450,000 levels before parsing it (json_too_deep)', async () => {
    const app = mesh.apps[0]!;
    await register(app, 'deep-src');
    const levels = 450_000;
    const payload = `{"target_instance":null,"message_type":"Query","correlation_id":null,"payload":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    expect(payload.length).toBeGreaterThan(900_000);
    const started = performance.now();
    const res = await app.inject({
      method: 'POST',
      url: '/messages/send/deep-src',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    const ms = performance.now() - started;
    expectJsonError(res, 400, 'json_too_deep');
    // JSON.parse of this body took 0.5-0.9 s here; the scan stops at level 66. Generous for a loaded
    // machine, still far below a parse.
    expect(ms).toBeLessThan(250);
  });

  it('brackets inside strings do not count, and the deepest legal payload still passes', async () => {
    const app = mesh.apps[0]!;
    await register(app, 'deep-dst');
    let payload: unknown = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[';
    for (let i = 0; i < 64; i++) payload = [payload];
    const ok = await app.inject({
      method: 'POST',
      url: '/messages/send/deep-src',
      payload: { target_instance: 'deep-dst', message_type: 'Query', payload, correlation_id: null },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    payload = [payload];
    const tooDeep = await app.inject({
      method: 'POST',
      url: '/messages/send/deep-src',
      payload: { target_instance: 'deep-dst', message_type: 'Query', payload, correlation_id: null },
    });
    expectJsonError(tooDeep, 400, 'json_too_deep');
  });

  it('a client that trickles its body is cut off after REQUEST_TIMEOUT_MS', async () => {
    const app = await mesh.addApp({ REQUEST_TIMEOUT_MS: 1000 });
    const base = await listening(app);
    const { port } = new URL(base);
    const socket: Socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('POST /registry/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
    const started = Date.now();
    const drip = setInterval(() => socket.writable && socket.write(' '), 100);
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    clearInterval(drip);
    const ms = Date.now() - started;
    // Without a request timeout the socket stays open as long as bytes keep coming (Node's default
    // is 300 s); here it closes after about 1 s. Generous upper bound for a loaded machine.
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(8000);
    if (answer) expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a long-poll may outlast the request timeout (it limits receiving the request, not the answer)', async () => {
    const app = await mesh.addApp({ REQUEST_TIMEOUT_MS: 500 });
    const base = await listening(app);
    await register(app, 'slow-reader');
    const started = Date.now();
    const res = await fetch(`${base}/messages/slow-reader?wait=2`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ messages: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });
});

describe('auth ordering and takeovers', () => {
  it('instance mode: an anonymous register gets 401 before its body is looked at', async () => {
    const mesh = await startMeshOnce({ AUTH_MODE: 'instance', AUTH_TOKENS: 'reg-secret' });
    const app = mesh.apps[0]!;
    expectJsonError(await call(app, 'POST', '/registry/register', { body: { instance_id: '!!' } }), 401, 'unauthorized');
    expectJsonError(await call(app, 'POST', '/registry/register', { body: { nonsense: true }, token: 'wrong' }), 401, 'unauthorized');
    // With the registration bearer the body rules apply.
    expectJsonError(
      await call(app, 'POST', '/registry/register', { body: { instance_id: '!!' }, token: 'reg-secret' }),
      400,
      'invalid_request',
    );
  });

  it('a live record registered without a token cannot be taken over in instance mode (409)', async () => {
    const open = await startMeshOnce();
    await register(open.apps[0]!, 'tokenless');
    const secured = await open.addApp({ AUTH_MODE: 'instance', AUTH_TOKENS: 'reg-secret' });
    const res = await call(secured, 'POST', '/registry/register', { body: registerBody('tokenless', { port: 9999 }), token: 'reg-secret' });
    expectJsonError(res, 409, 'instance_id_in_use');
    // Nothing changed: the record still has its original port and no token.
    expect(await open.redis.hget(open.keys.inst('tokenless'), 'port')).toBe('4000');
    expect(await open.redis.hget(open.keys.inst('tokenless'), 'tok')).toBeNull();
    // Once it is gone, the id can be registered (and owned) through the secured replica.
    expect((await open.apps[0]!.inject({ method: 'DELETE', url: '/registry/deregister/tokenless' })).statusCode).toBe(204);
    const taken = await call(secured, 'POST', '/registry/register', { body: registerBody('tokenless'), token: 'reg-secret' });
    expect(taken.statusCode).toBe(200);
    expect(taken.json<RegisterResponse>().instance_token).toEqual(match.any(String));
  });

  it("a lapsed instance's token stops authorizing reads at its deadline, before cleanup", async () => {
    const mesh = await startMeshOnce({ AUTH_MODE: 'instance', STALE_TIMEOUT_MS: 300, HEARTBEAT_INTERVAL_MS: 50 });
    const app = mesh.apps[0]!;
    const token = (await register(app, 'lapser')).instance_token!;
    expect((await call(app, 'GET', '/registry/agents', { token })).statusCode).toBe(200);
    await eventually(async () => (await call(app, 'GET', '/registry/agents', { token })).statusCode === 401, 5000, 50);
    // Cleanup has not run (no maintenance in this mesh): the token hash is still stored...
    expect(await mesh.redis.hlen(mesh.keys.tokens)).toBe(1);
    expectJsonError(await call(app, 'GET', '/registry/leader', { token }), 401, 'unauthorized');
    expectJsonError(await call(app, 'GET', '/registry/events?format=json', { token }), 401, 'unauthorized');
    // ...and acting as itself still reaches the heartbeat route, whose 404 says "register again".
    const hb = await call(app, 'POST', '/registry/heartbeat/lapser', { token, body: { status: 'ok' } });
    expect(hb.statusCode).toBe(404);
    expect(hb.json<HeartbeatResponse>().acknowledged).toBe(false);
  });

  it('/metrics is never more open than /registry/leader', async () => {
    const mesh = await startMeshOnce({ AUTH_MODE: 'instance', ADMIN_TOKENS: 'admin-secret' });
    const app = mesh.apps[0]!;
    const anonymous = await app.inject({ url: '/metrics' });
    expectJsonError(anonymous, 401, 'unauthorized');
    expect(anonymous.body).not.toContain('leader_id');
    const admin = await call(app, 'GET', '/metrics', { token: 'admin-secret' });
    expect(admin.statusCode).toBe(200);
    expect(admin.body).toContain('mesh_live_instances');
    // A METRICS_TOKEN still works on its own.
    const scraper = await mesh.addApp({ METRICS_TOKEN: 'scrape' });
    expect((await call(scraper, 'GET', '/metrics', { token: 'scrape' })).statusCode).toBe(200);
    expect((await call(scraper, 'GET', '/metrics', { token: 'admin-secret' })).statusCode).toBe(401);
  });
});

describe('server-sent event answers', () => {
  it('carry the security headers, the request id and CORS, like JSON answers', async () => {
    const mesh = await startMeshOnce({ CORS_ORIGINS: 'https://console.example.com' });
    const app = await mesh.addApp({ CORS_ORIGINS: 'https://console.example.com' });
    const base = await listening(app);
    await register(app, 'sse-headers');
    for (const path of ['/registry/events', '/messages/sse-headers/stream']) {
      const abort = new AbortController();
      const res = await fetch(`${base}${path}`, { headers: { origin: 'https://console.example.com' }, signal: abort.signal });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(/^text\/event-stream/);
      expectSecurityHeaders(Object.fromEntries(res.headers));
      expect(res.headers.get('access-control-allow-origin'), path).toBe('https://console.example.com');
      abort.abort();
    }
  });

  it('the message stream honours backpressure and caps streams per instance', async () => {
    const mesh = await startMeshOnce({ STREAMS_PER_INSTANCE_MAX: 2, MAX_PAYLOAD_BYTES: 300_000, BODY_LIMIT_BYTES: 400_000 });
    const app = mesh.apps[0]!;
    const base = await listening(app);
    const { port } = new URL(base);
    await register(app, 'bp-src');
    await register(app, 'bp-dst');
    const big = 'x'.repeat(200_000);
    for (let i = 0; i < 40; i++) {
      const r = await app.inject({
        method: 'POST',
        url: '/messages/send/bp-src',
        payload: { target_instance: 'bp-dst', message_type: 'Notification', payload: big, correlation_id: null },
      });
      expect(r.statusCode).toBe(200);
    }
    // Two clients that open the stream and never read.
    const sockets: Socket[] = [];
    const serverSockets: Socket[] = [];
    app.server.on('connection', (s: Socket) => serverSockets.push(s));
    for (let i = 0; i < 2; i++) {
      const s = connect({ port: Number(port), host: '127.0.0.1' });
      s.pause();
      s.write(`GET /messages/bp-dst/stream HTTP/1.1\r\nHost: x\r\n\r\n`);
      sockets.push(s);
    }
    await eventually(async () => serverSockets.length >= 2 && serverSockets.every((s) => s.bytesWritten > 0), 5000, 20);
    // A third stream for the same instance is refused.
    expectJsonError(await app.inject({ url: '/messages/bp-dst/stream' }), 429, 'too_many_streams');
    await sleep(300);
    // 8 MB are pending; a stream that ignored backpressure buffered all of them in the replica.
    // Honouring it, each holds about one event beyond what the kernel took.
    for (const s of serverSockets) expect(s.writableLength).toBeLessThan(1_000_000);
    for (const s of sockets) s.destroy();
    // Closed streams free their slots.
    await eventually(
      async () => {
        const abort = new AbortController();
        const res = await fetch(`${base}/messages/bp-dst/stream`, { signal: abort.signal });
        abort.abort();
        return res.status === 200;
      },
      5000,
      50,
    );
  });
});

describe('status flapping', () => {
  it('an instance flipping its status records at most one updated event per interval, and the last status wins', async () => {
    const mesh = await startMeshOnce({ STATUS_EVENT_INTERVAL_MS: 1000 });
    const app = mesh.apps[0]!;
    await register(app, 'flapper');
    const before = await mesh.redis.xlen(mesh.keys.events);
    const started = Date.now();
    for (let i = 0; i < 300; i++) await heartbeat(app, 'flapper', { status: i % 2 === 0 ? 'busy' : 'idle' });
    // One announcement per started interval at most (the flips take well under a second unloaded).
    const allowed = 1 + Math.floor((Date.now() - started) / 1000);
    const updates = async () =>
      (await mesh.redis.xrange(mesh.keys.events, '-', '+')).filter(([, f]) => f[1] === 'updated' && f[3] === 'flapper');
    // 300 flips without coalescing were 300 events; the first announcement only now.
    const during = await updates();
    expect(during.length).toBeGreaterThanOrEqual(1);
    expect(during.length).toBeLessThanOrEqual(allowed);
    expect((await mesh.redis.xlen(mesh.keys.events)) - before).toBeLessThanOrEqual(allowed);
    // The record has the latest status at once, and the feed announces it at the first heartbeat
    // after the interval.
    expect(await mesh.redis.hget(mesh.keys.inst('flapper'), 'status')).toBe('idle');
    await sleep(1050);
    await heartbeat(app, 'flapper', { status: 'idle' });
    const after = await updates();
    const last = after.at(-1)![1];
    expect(last[last.lastIndexOf('status') + 1]).toBe('idle');
  });
});

describe('logs', () => {
  it('never contain credentials sent in a query string', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const mesh = await startMeshOnce();
    const config = { ...mesh.config, LOG_LEVEL: 'info' as const };
    const app = await buildApp(config, { logger: createLogger(config, sink), maintenance: false });
    try {
      await app.inject({ url: '/registry/agents?limit=5&token=sup3r-secret-1&access_token=sup3r-secret-2&api%5Fkey=sup3r-secret-3' });
      await app.inject({ url: '/nope?password=sup3r-secret-4' });
      const all = lines.join('');
      expect(all).toContain('/registry/agents?limit=5&token=[redacted]');
      expect(all).not.toMatch(/sup3r-secret/);
    } finally {
      await app.close();
    }
  });
});

describe('maintenance repairs itself and records expire as a backstop', () => {
  it('recreates the job scheduler when Redis lost it, and purges again', async () => {
    const mesh = await startMesh({ CLEANUP_INTERVAL_MS: 200, STALE_TIMEOUT_MS: 300, HEARTBEAT_INTERVAL_MS: 50 }, { maintenance: true });
    try {
      const app = mesh.apps[0]!;
      // What a FLUSHALL or a restart without persistence does to this namespace's maintenance state.
      const bullKeys = async () => (await mesh.namespaceKeys()).filter((k) => k.includes(':bull:'));
      await eventually(async () => (await bullKeys()).length > 0, 5000, 50);
      await mesh.redis.del(...(await bullKeys()));
      await register(app, 'after-wipe');
      // Without repair nothing would ever purge it: the scheduler is gone.
      await eventually(async () => (await mesh.redis.exists(mesh.keys.inst('after-wipe'))) === 0, 10_000, 100);
      expect(app.mesh.maintenance!.stats.repairs).toBeGreaterThanOrEqual(1);
    } finally {
      await mesh.close();
    }
  });

  it('instance records carry a TTL a bounded time past their deadline, renewed by heartbeats', async () => {
    const mesh = await startMeshOnce({ STALE_TIMEOUT_MS: 5000, HEARTBEAT_INTERVAL_MS: 1000, CLEANUP_INTERVAL_MS: 7000 });
    const app = mesh.apps[0]!;
    await register(app, 'ttl-rec');
    const bound = 5000 + recordGraceMs(mesh.config);
    const first = await mesh.redis.pttl(mesh.keys.inst('ttl-rec'));
    expect(first).toBeGreaterThan(bound - 2000);
    expect(first).toBeLessThanOrEqual(bound);
    await sleep(300);
    await heartbeat(app, 'ttl-rec');
    const renewed = await mesh.redis.pttl(mesh.keys.inst('ttl-rec'));
    expect(renewed).toBeGreaterThan(bound - 2000);
    expect(renewed).toBeLessThanOrEqual(bound);
  });
});
