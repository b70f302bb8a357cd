// GET /ui: the built console served from memory by every replica, with its own CSP, caching
// headers (the page revalidates, hashed assets are immutable), gzip, and public in every
// AUTH_MODE (the page holds no data: it asks for a token). Not a browser test: see console.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshesClosedAfterAll } from '../helpers/app.js';
import { buildConsole } from '../helpers/browser.js';
import { call, expectJsonError } from '../helpers/security.js';

const startMesh = meshesClosedAfterAll();
let built: Awaited<ReturnType<typeof buildConsole>>;
let app: FastifyInstance;
let script: string;
let style: string;

beforeAll(async () => {
  built = await buildConsole();
  app = (await startMesh({ UI_DIR: built.dir })).apps[0]!;
  const html = (await app.inject({ url: '/ui' })).body;
  script = /<script type="module" src="(\/ui\/assets\/app-[A-Z0-9]+\.js)"><\/script>/.exec(html)![1]!;
  style = /<link rel="stylesheet" href="(\/ui\/assets\/app-[A-Z0-9]+\.css)"/.exec(html)![1]!;
});
afterAll(() => built?.remove());

const header = (headers: Record<string, unknown>, name: string): string => {
  const v = headers[name];
  return typeof v === 'string' ? v : '';
};

const csp = (headers: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(
    header(headers, 'content-security-policy')
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([k = '', ...v]): [string, string] => [k, v.join(' ')]),
  );

describe('GET /ui', () => {
  it('serves the page, revalidated by ETag (a new build shows at the next load)', async () => {
    const res = await app.inject({ url: '/ui' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    const etag = String(res.headers.etag);
    expect(etag).toMatch(/^"[\w-]{20,}"$/);
    expect(res.body).toContain('<div id="app"></div>');
    const again = await app.inject({ url: '/ui', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await app.inject({ method: 'HEAD', url: '/ui' })).statusCode).toBe(200);
  });

  it('has no inline script or style, and a CSP that allows only its own files and this origin', async () => {
    const res = await app.inject({ url: '/ui' });
    // Every script is an external file; no style attribute or element in the page.
    expect(res.body.match(/<script\b[^>]*>/g)).toEqual([`<script type="module" src="${script}">`]);
    expect(res.body).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    const p = csp(res.headers);
    expect(p).toMatchObject({
      'default-src': "'none'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'img-src': "'self'",
      'frame-ancestors': "'none'",
      'script-src-attr': "'none'",
    });
    expect(JSON.stringify(p)).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves the hashed assets as immutable, gzipped when accepted', async () => {
    for (const [url, type] of [
      [script, 'text/javascript; charset=utf-8'],
      [style, 'text/css; charset=utf-8'],
    ] as const) {
      const plain = await app.inject({ url });
      expect(plain.statusCode, url).toBe(200);
      expect(plain.headers['content-type']).toBe(type);
      expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(plain.headers['content-encoding']).toBeUndefined();
      const gz = await app.inject({ url, headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gz.headers.vary).toMatch(/accept-encoding/i);
      expect(gz.rawPayload.length).toBeLessThan(plain.rawPayload.length);
      expect(gunzipSync(gz.rawPayload).equals(plain.rawPayload)).toBe(true);
      expect((await app.inject({ url, headers: { 'if-none-match': String(plain.headers.etag) } })).statusCode).toBe(304);
    }
  });

  it('keeps the bundle small: script and stylesheet under 40 KiB gzipped together', () => {
    const gz = built.files.filter((f) => /\.(js|css)$/.test(f.name)).reduce((n, f) => n + f.gzipBytes, 0);
    expect(gz).toBeGreaterThan(1000);
    expect(gz).toBeLessThan(40 * 1024);
  });

  it('unknown or malformed asset names are JSON errors, never a file from elsewhere', async () => {
    expectJsonError(await app.inject({ url: '/ui/assets/app-NOPE.js' }), 404, 'not_found');
    for (const url of ['/ui/assets/..%2F..%2Fpackage.json', '/ui/assets/%2Fetc%2Fpasswd', '/ui/assets/.env']) {
      const res = await app.inject({ url });
      expect([400, 404], url).toContain(res.statusCode);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
    }
  });

  it('API answers keep the API policy (no scripts at all)', async () => {
    const res = await app.inject({ url: '/registry/agents' });
    // default-src 'none' with no script-src: scripts fall back to default-src, so none may run.
    const policy = csp(res.headers);
    expect(policy['default-src']).toBe("'none'");
    expect(policy['script-src'] ?? policy['default-src']).toBe("'none'");
    expect(res.headers['cache-control']).toBe('no-store');
  });
});

describe('GET /ui with auth and without a build', () => {
  it('is public in token and instance modes (the page asks for a token); the API stays closed', async () => {
    const modes: Record<string, string>[] = [
      { AUTH_MODE: 'token', AUTH_TOKENS: 'tok' },
      { AUTH_MODE: 'instance', ADMIN_TOKENS: 'adm' },
    ];
    for (const mode of modes) {
      const a = (await startMesh({ UI_DIR: built.dir, ...mode })).apps[0]!;
      expect((await a.inject({ url: '/ui' })).statusCode, mode.AUTH_MODE).toBe(200);
      expect((await a.inject({ url: script })).statusCode, mode.AUTH_MODE).toBe(200);
      for (const url of ['/registry/stats', '/registry/agents', '/registry/events?format=json']) {
        expectJsonError(await call(a, 'GET', url), 401, 'unauthorized');
      }
    }
  });

  it('answers 404 console_not_built when the console was not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'mesh-no-console-'));
    try {
      const a = (await startMesh({ UI_DIR: empty })).apps[0]!;
      expectJsonError(await a.inject({ url: '/ui' }), 404, 'console_not_built');
      expectJsonError(await a.inject({ url: script }), 404, 'console_not_built');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
