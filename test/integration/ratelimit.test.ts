// SEND_RATE_PER_SEC / SEND_BURST: one token bucket per sender in Redis (rate-limit.lua), shared by
// every replica; off by default; 429 rate_limited with Retry-After (whole seconds, rounded up).
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import { hashToken } from '../../src/http/bearer.js';
import { sendRateLimitSettings } from '../../src/registry/ratelimit.js';
import { meshPerSuite, registerBody, sleep } from '../helpers/app.js';
import { call, expectJsonError } from '../helpers/security.js';

const note = (target: string) => ({ target_instance: target, message_type: 'Notification', payload: null, correlation_id: null });

async function registerAll(app: FastifyInstance, ids: string[]): Promise<void> {
  for (const id of ids) expect((await call(app, 'POST', '/registry/register', { body: registerBody(id) })).statusCode).toBe(200);
}

describe('config', () => {
  it('is off by default; the burst defaults to the rate rounded up', () => {
    expect(sendRateLimitSettings(configFrom({}))).toBeNull();
    expect(sendRateLimitSettings(configFrom({ SEND_RATE_PER_SEC: 0 }))).toBeNull();
    expect(sendRateLimitSettings(configFrom({ SEND_RATE_PER_SEC: 2.5 }))).toEqual({ rate: 2.5, burst: 3 });
    expect(sendRateLimitSettings(configFrom({ SEND_RATE_PER_SEC: 0.2 }))).toEqual({ rate: 0.2, burst: 1 });
    expect(sendRateLimitSettings(configFrom({ SEND_RATE_PER_SEC: 5, SEND_BURST: 20 }))).toEqual({ rate: 5, burst: 20 });
    expect(() => configFrom({ SEND_RATE_PER_SEC: -1 })).toThrow(/SEND_RATE_PER_SEC/);
    expect(() => configFrom({ SEND_BURST: 0 })).toThrow(/SEND_BURST/);
    expect(() => configFrom({ SEND_BURST: 1.5 })).toThrow(/SEND_BURST/);
  });
});

describe('off by default', () => {
  const mesh = meshPerSuite();
  beforeAll(async () => {
    await registerAll(mesh.apps[0]!, ['free-a', 'free-b']);
  });

  it('sends are never limited and no bucket key is written', async () => {
    for (let i = 0; i < 40; i++)
      expect((await call(mesh.apps[0]!, 'POST', '/messages/send/free-a', { body: note('free-b') })).statusCode).toBe(200);
    expect((await mesh.namespaceKeys()).filter((k) => k.includes(':rl:'))).toEqual([]);
  });
});

describe('SEND_RATE_PER_SEC=2, SEND_BURST=3 on two replicas', () => {
  const mesh = meshPerSuite({ SEND_RATE_PER_SEC: 2, SEND_BURST: 3 }, { apps: 2 });
  let a: FastifyInstance;
  let b: FastifyInstance;
  beforeAll(async () => {
    [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    await registerAll(a, ['rl-a', 'rl-b', 'rl-c']);
  });

  it('allows the burst, then 429 rate_limited with Retry-After, across replicas', async () => {
    expect((await call(a, 'POST', '/messages/send/rl-a', { body: note('rl-b') })).statusCode).toBe(200);
    expect((await call(b, 'POST', '/messages/send/rl-a', { body: note('rl-b') })).statusCode).toBe(200);
    expect((await call(a, 'POST', '/messages/send/rl-a', { body: note('rl-b') })).statusCode).toBe(200);
    const limited = await call(b, 'POST', '/messages/send/rl-a', { body: note('rl-b') });
    const body = expectJsonError(limited, 429, 'rate_limited');
    expect(body.error).toContain('rl-a');
    expect(limited.headers['retry-after']).toBe('1');
    const retryMs = limited.json<{ retry_after_ms: number }>().retry_after_ms;
    expect(retryMs).toBeGreaterThan(0);
    expect(retryMs).toBeLessThanOrEqual(500);
    // The bucket is one key per sender, inside the namespace, with an expiry.
    const key = `${mesh.keys.prefix}rl:rl-a`;
    expect(await mesh.redis.type(key)).toBe('hash');
    expect(await mesh.redis.pttl(key)).toBeGreaterThan(0);
    // Other senders have their own bucket.
    expect((await call(a, 'POST', '/messages/send/rl-c', { body: note('rl-b') })).statusCode).toBe(200);
    // /messages/request sends too, so it draws from the same bucket.
    expectJsonError(
      await call(a, 'POST', '/messages/request/rl-a', { body: { target_instance: 'rl-b', payload: null, timeout_ms: 10 } }),
      429,
      'rate_limited',
    );
  });

  it('refills at the configured rate', async () => {
    let res = await call(a, 'POST', '/messages/send/rl-a', { body: note('rl-b') });
    while (res.statusCode === 200) res = await call(a, 'POST', '/messages/send/rl-a', { body: note('rl-b') });
    expect(res.statusCode).toBe(429);
    await sleep(res.json<{ retry_after_ms: number }>().retry_after_ms + 50);
    expect((await call(a, 'POST', '/messages/send/rl-a', { body: note('rl-b') })).statusCode).toBe(200);
    expect((await call(a, 'POST', '/messages/send/rl-a', { body: note('rl-b') })).statusCode).toBe(429);
  });

  it('a refused send is not queued', async () => {
    const before = await mesh.redis.xlen(`${mesh.keys.prefix}inbox:rl-b`);
    expect((await call(a, 'POST', '/messages/send/rl-a', { body: note('rl-b') })).statusCode).toBe(429);
    expect(await mesh.redis.xlen(`${mesh.keys.prefix}inbox:rl-b`)).toBe(before);
  });
});

describe('Retry-After rounds up to whole seconds', () => {
  const mesh = meshPerSuite({ SEND_RATE_PER_SEC: 0.4, SEND_BURST: 1 });
  beforeAll(async () => {
    await registerAll(mesh.apps[0]!, ['slow-a', 'slow-b']);
  });

  it('2.5 s to the next token -> Retry-After: 3', async () => {
    const app = mesh.apps[0]!;
    expect((await call(app, 'POST', '/messages/send/slow-a', { body: note('slow-b') })).statusCode).toBe(200);
    const res = await call(app, 'POST', '/messages/send/slow-a', { body: note('slow-b') });
    expectJsonError(res, 429, 'rate_limited');
    expect(res.headers['retry-after']).toBe('3');
    // The key lives until the bucket would be full again (2.5 s) plus a margin, not forever.
    const pttl = await mesh.redis.pttl(`${mesh.keys.prefix}rl:slow-a`);
    expect(pttl).toBeGreaterThan(2000);
    expect(pttl).toBeLessThanOrEqual(3500);
  });
});

describe('with AUTH_MODE=instance', () => {
  const mesh = meshPerSuite({ AUTH_MODE: 'instance', SEND_RATE_PER_SEC: 1, SEND_BURST: 1 });

  it("a send with someone else's token is refused before it can drain their bucket", async () => {
    const app = mesh.apps[0]!;
    const tok = async (id: string) =>
      (await call(app, 'POST', '/registry/register', { body: registerBody(id) })).json<{ instance_token: string }>().instance_token;
    const tokA = await tok('ia');
    const tokB = await tok('ib');
    expect(await mesh.redis.hget(`${mesh.keys.prefix}tokens`, hashToken(tokA))).toBe('ia');
    for (let i = 0; i < 5; i++)
      expectJsonError(await call(app, 'POST', '/messages/send/ia', { token: tokB, body: note('ib') }), 403, 'forbidden');
    expect(await mesh.redis.exists(`${mesh.keys.prefix}rl:ia`)).toBe(0);
    expect((await call(app, 'POST', '/messages/send/ia', { token: tokA, body: note('ib') })).statusCode).toBe(200);
  });
});
