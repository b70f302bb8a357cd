// Proves the test helpers themselves work, so failures elsewhere point at src/, not the harness.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { startLoadBalancer, type LoadBalancer } from '../helpers/lb.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { canConnect } from '../helpers/ports.js';
import { startRedis, startRedisProcess, type RedisHandle } from '../helpers/redis.js';

const clients: Redis[] = [];
function client(url: string): Redis {
  // Short timeouts: a paused server must show up as an error, not a 30 s hang.
  const c = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, commandTimeout: 500 });
  c.on('error', () => undefined); // reconnect noise during restarts is expected
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

describe('global setup', () => {
  it('provides a pingable Redis', async () => {
    const url = inject('redisUrl');
    expect(url).toMatch(/^redis:\/\//);
    expect(await client(url).ping()).toBe('PONG');
  });

  it('makes valid, distinct namespaces', () => {
    const a = uniqueNamespace();
    const b = uniqueNamespace('harness_x');
    for (const ns of [a, b]) expect(ns).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(a).not.toBe(b);
  });
});

describe('startRedis', () => {
  it('starts a Redis of the selected kind that answers PING, and stops it', async () => {
    const redis = await startRedis();
    try {
      expect(['container', 'process', 'external']).toContain(redis.kind);
      expect(await client(redis.url).ping()).toBe('PONG');
    } finally {
      await redis.stop();
    }
    if (redis.kind !== 'external') expect(await canConnect(redis.port)).toBe(false);
  });

  it('restarts on the same port keeping data with persistence, and pauses/resumes', async (ctx) => {
    const redis = await startRedis({ persistence: true });
    try {
      if (redis.kind === 'external') {
        await expect(redis.restart()).rejects.toThrow(/not supported/);
        ctx.skip();
      }
      const url = redis.url;
      await client(url).set('k', 'v');
      await redis.restart();
      expect(redis.url).toBe(url);
      expect(await client(url).get('k')).toBe('v');

      const c = client(url);
      await redis.pause?.();
      await expect(c.ping()).rejects.toThrow(/timed out/i);
      await redis.resume?.();
      await expect(c.ping()).resolves.toBe('PONG');
    } finally {
      await redis.stop();
    }
  });
});

describe('startRedisProcess', () => {
  const handles: RedisHandle[] = [];
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
  });

  it('keeps data across restart with persistence (same port)', async () => {
    const redis = await startRedisProcess({ persistence: true });
    handles.push(redis);
    const c = client(redis.url);
    await c.set('k', 'v');
    const pid = redis.pid;
    await redis.restart({ signal: 'SIGKILL' }); // crash: AOF with fsync always still has it
    expect(redis.pid).not.toBe(pid);
    expect(await client(redis.url).get('k')).toBe('v');
  });

  it('loses data across restart without persistence', async () => {
    const redis = await startRedisProcess();
    handles.push(redis);
    await client(redis.url).set('k', 'v');
    await redis.restart({ downMs: 100 });
    expect(await client(redis.url).get('k')).toBeNull();
  });

  it('pause() freezes the server until resume(), and pause(ms) resumes by itself', async () => {
    const redis = await startRedisProcess();
    handles.push(redis);
    const c = client(redis.url);
    expect(await c.ping()).toBe('PONG');

    await redis.pause();
    await expect(c.ping()).rejects.toThrow(/timed out/i);
    await redis.resume();
    await expect(c.ping()).resolves.toBe('PONG');

    await redis.pause(300);
    const t0 = Date.now();
    const c2 = new Redis(redis.url, { maxRetriesPerRequest: 1 }); // no timeout: waits it out
    clients.push(c2);
    expect(await c2.ping()).toBe('PONG');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
  });
});

// Two in-process backends that answer with their name; /readyz is 200 while `ready`.
async function backend(name: string) {
  const state = { ready: true, hits: 0 };
  const server = http.createServer((req, res) => {
    if (req.url === '/readyz') {
      res.writeHead(state.ready ? 200 : 503).end();
      return;
    }
    state.hits++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return { name, port, state, close };
}

async function getText(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

describe('startLoadBalancer', () => {
  let lb: LoadBalancer | undefined;
  afterAll(async () => {
    await lb?.stop();
  });

  it('round-robins, fails over without client errors when a backend closes, and drops unready ones', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const c = await backend('c');
    try {
      lb = await startLoadBalancer([a.port, b.port, c.port]);
      const balancer = lb;
      await expect.poll(() => balancer.backendStates(), { timeout: 5000 }).toEqual({ b1: 'UP', b2: 'UP', b3: 'UP' });

      const first = await Promise.all(Array.from({ length: 6 }, () => getText(`${balancer.url}/who`)));
      expect(first.every((r) => r.status === 200)).toBe(true);
      expect(new Set(first.map((r) => r.body))).toEqual(new Set(['a', 'b', 'c']));
      expect([a.state.hits, b.state.hits, c.state.hits]).toEqual([2, 2, 2]);

      // Closed backend, still marked UP: every request must be retried elsewhere, no 5xx.
      await b.close();
      const afterClose = [];
      for (let i = 0; i < 12; i++) afterClose.push(await getText(`${balancer.url}/who`));
      expect(afterClose.map((r) => r.status)).toEqual(Array(12).fill(200));
      expect(afterClose.some((r) => r.body === 'b')).toBe(false);
      await expect.poll(async () => (await balancer.backendStates()).b2, { timeout: 5000 }).toMatch(/^DOWN/);

      // An unready backend (503 on /readyz) leaves rotation too.
      c.state.ready = false;
      await expect.poll(async () => (await balancer.backendStates()).b3, { timeout: 5000 }).toMatch(/^DOWN/);
      const hitsBefore = c.state.hits;
      for (let i = 0; i < 4; i++) expect((await getText(`${balancer.url}/who`)).body).toBe('a');
      expect(c.state.hits).toBe(hitsBefore);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
