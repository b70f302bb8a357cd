// Security headers (helmet, API-appropriate), no caching of API answers, CORS off unless
// CORS_ORIGINS is set, sane request ids, and JSON answers for requests Node's parser rejects.
import { connect } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import { meshPerSuite, registerBody, startMesh } from '../helpers/app.js';
import { call, expectJsonError } from '../helpers/security.js';

function expectApiHeaders(res: LightMyRequestResponse, what: string): void {
  const h = res.headers;
  expect(h['x-content-type-options'], what).toBe('nosniff');
  expect(h['x-frame-options'], what).toBe('DENY');
  expect(h['referrer-policy'], what).toBe('no-referrer');
  expect(h['strict-transport-security'], what).toMatch(/max-age=\d+/);
  expect(h['cross-origin-resource-policy'], what).toBe('same-origin');
  const csp = String(h['content-security-policy']);
  expect(csp, what).toContain("default-src 'none'");
  expect(csp, what).toContain("frame-ancestors 'none'");
  expect(h['cache-control'], what).toBe('no-store');
  expect(h['x-powered-by'], what).toBeUndefined();
}

/** Writes raw bytes to a listening app and returns the raw answer. */
async function rawHttp(app: FastifyInstance, bytes: string): Promise<string> {
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  return new Promise((resolve, reject) => {
    const socket = connect(address.port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('end', () => resolve(data));
    socket.on('close', () => resolve(data));
    socket.on('error', (err) => (data ? resolve(data) : reject(err)));
    socket.write(bytes);
  });
}

describe('security headers', () => {
  const mesh = meshPerSuite();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    await call(app, 'POST', '/registry/register', { body: registerBody('hdr-a') });
  });

  it('on successes, errors and probes alike', async () => {
    const cases: [string, Promise<LightMyRequestResponse>][] = [
      ['agents', call(app, 'GET', '/registry/agents')],
      ['register', call(app, 'POST', '/registry/register', { body: registerBody('hdr-b') })],
      ['health', call(app, 'GET', '/health')],
      ['livez', call(app, 'GET', '/livez')],
      ['404', call(app, 'GET', '/nope')],
      ['400', call(app, 'POST', '/registry/register', { body: { instance_id: '{' } })],
      ['415', app.inject({ method: 'POST', url: '/registry/register', payload: 'x', headers: { 'content-type': 'text/plain' } })],
    ];
    for (const [what, p] of cases) expectApiHeaders(await p, what);
    // 204 answers (ack, deregister) get them too.
    expectApiHeaders(await call(app, 'DELETE', '/registry/deregister/hdr-b'), 'deregister');
  });

  it('x-request-id: a sane caller id is echoed, a hostile one is replaced', async () => {
    const ok = await call(app, 'GET', '/livez', { headers: { 'x-request-id': 'trace-123:abc' } });
    expect(ok.headers['x-request-id']).toBe('trace-123:abc');
    const made = new Set<string>();
    for (const bad of ['x'.repeat(200), 'has space', 'semi;colon', '']) {
      const res = await call(app, 'GET', '/livez', { headers: { 'x-request-id': bad } });
      // The replica's own: a per-process random prefix and a counter, never the caller's value.
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{24}-[0-9a-z]+$/);
      made.add(String(res.headers['x-request-id']));
    }
    expect(made.size).toBe(4);
  });

  it('/docs gets a CSP that lets Swagger UI load its own assets', async () => {
    // /docs is always mounted: a missing route must fail here, not pass silently.
    expect(app.hasRoute({ method: 'GET', url: '/docs' }) || app.hasRoute({ method: 'GET', url: '/docs/' })).toBe(true);
    let res = await call(app, 'GET', '/docs');
    if (res.statusCode >= 300 && res.statusCode < 400) res = await call(app, 'GET', String(res.headers.location ?? '/docs/'));
    expect(res.statusCode).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("img-src 'self' data:");
    expect(csp).not.toContain("default-src 'none'");
    expect(res.headers['cache-control']).not.toBe('no-store');
    // Every script the page references is served from /docs itself.
    const html = res.body;
    for (const src of [...html.matchAll(/<script[^>]+src="([^"]+)"/g)].map((m) => m[1]!)) {
      const url = new URL(src, 'http://x/docs/').pathname;
      expect(url.startsWith('/docs/'), src).toBe(true);
      expect((await call(app, 'GET', url)).statusCode, url).toBe(200);
    }
    // The OpenAPI document itself is JSON under the API policy.
    if (app.hasRoute({ method: 'GET', url: '/openapi.json' })) {
      expect(String((await call(app, 'GET', '/openapi.json')).headers['content-security-policy'])).toContain("default-src 'none'");
    }
  });
});

describe('CORS', () => {
  it('is off unless CORS_ORIGINS is set: no CORS headers, preflights are 404', async () => {
    const mesh = await startMesh();
    try {
      const app = mesh.apps[0]!;
      const res = await call(app, 'GET', '/registry/agents', { headers: { origin: 'https://evil.example' } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const pre = await call(app, 'OPTIONS', '/registry/agents', {
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      });
      expect(pre.statusCode).toBe(404);
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await mesh.close();
    }
  });

  it('allows exactly the configured origins, preflights without a token, errors readable by the page', async () => {
    const mesh = await startMesh({
      CORS_ORIGINS: 'https://app.example.com, http://localhost:3000',
      AUTH_MODE: 'token',
      AUTH_TOKENS: 'cors-token',
    });
    try {
      const app = mesh.apps[0]!;
      const origin = 'https://app.example.com';
      const pre = await call(app, 'OPTIONS', '/registry/register', {
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(pre.statusCode).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(origin);
      expect(String(pre.headers['access-control-allow-headers'])).toMatch(/authorization/);
      expect(String(pre.headers['access-control-allow-headers'])).toMatch(/x-instance-token/);
      expect(String(pre.headers['access-control-allow-methods'])).toMatch(/POST/);
      expect(pre.headers['access-control-allow-credentials']).toBeUndefined();

      const ok = await call(app, 'GET', '/registry/agents', { token: 'cors-token', headers: { origin } });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['access-control-allow-origin']).toBe(origin);
      expect(String(ok.headers['access-control-expose-headers'])).toMatch(/x-request-id/);
      expect(String(ok.headers.vary)).toMatch(/origin/i);

      const denied = await call(app, 'GET', '/registry/agents', { headers: { origin } });
      expectJsonError(denied, 401, 'unauthorized');
      expect(denied.headers['access-control-allow-origin']).toBe(origin);

      const other = await call(app, 'GET', '/registry/agents', { token: 'cors-token', headers: { origin: 'https://evil.example' } });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      expect(
        (await call(app, 'GET', '/registry/agents', { token: 'cors-token', headers: { origin: 'http://localhost:3000' } })).headers[
          'access-control-allow-origin'
        ],
      ).toBe('http://localhost:3000');
    } finally {
      await mesh.close();
    }
  });

  it('CORS_ORIGINS=* allows any origin; malformed origins are a config error', async () => {
    const mesh = await startMesh({ CORS_ORIGINS: '*' });
    try {
      const res = await call(mesh.apps[0]!, 'GET', '/livez', { headers: { origin: 'https://any.example' } });
      expect(res.headers['access-control-allow-origin']).toBe('*');
    } finally {
      await mesh.close();
    }
    expect(() => configFrom({ CORS_ORIGINS: 'app.example.com' })).toThrow(/CORS_ORIGINS/);
    expect(() => configFrom({ CORS_ORIGINS: 'https://a.example/path' })).toThrow(/CORS_ORIGINS/);
  });
});

describe('requests the HTTP parser rejects', () => {
  const mesh = meshPerSuite();
  let app: FastifyInstance;
  beforeAll(async () => {
    app = mesh.apps[0]!;
    await app.listen({ port: 0, host: '127.0.0.1' });
  });

  const jsonOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: string; code: string };

  it('a malformed request line is a JSON 400', async () => {
    const raw = await rawHttp(app, 'GARBAGE\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toMatch(/content-type: application\/json/i);
    expect(jsonOf(raw)).toEqual({ error: 'Malformed HTTP request', code: 'bad_request' });
  });

  it('invalid header bytes are a JSON 400', async () => {
    const raw = await rawHttp(app, 'GET /livez HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(jsonOf(raw).code).toBe('bad_request');
  });

  it('oversized headers are a JSON 431', async () => {
    const raw = await rawHttp(app, `GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    expect(jsonOf(raw).code).toBe('headers_too_large');
  });

  it('the server keeps serving afterwards', async () => {
    const raw = await rawHttp(app, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
  });
});
