// The startup and run-time check that Redis will not evict keys (src/redis/eviction.ts): a master
// whose maxmemory-policy is not noeviction is refused (REDIS_EVICTION_CHECK=enforce) or reported
// (warn), a Redis that refuses CONFIG is "unchecked", every Cluster master is read, and /readyz
// shows the result. Each case runs on its own redis-server: the policy is changed with CONFIG SET,
// which must never happen on the run's shared Redis (other files start apps against it).
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, createLogger } from '../../src/app.js';
import { configFrom, type Config } from '../../src/config.js';
import { EvictionPolicyError, type EvictionReport } from '../../src/redis/eviction.js';
import { eventually } from '../helpers/app.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { spawnTracked } from '../helpers/procs.js';
import { startRedisProcess, type RedisProcessHandle } from '../helpers/redis.js';
import { startCluster, startSentinel, type ClusterTopology } from '../helpers/topology.js';
import { match } from '../helpers/match.js';

const servers: { stop(): Promise<void> }[] = [];
const apps: FastifyInstance[] = [];
const clients: Redis[] = [];
afterAll(async () => {
  await Promise.allSettled(apps.map((a) => a.close()));
  for (const c of clients) c.disconnect();
  await Promise.allSettled(servers.map((s) => s.stop()));
}, 60_000);

async function privateRedis(): Promise<{ server: RedisProcessHandle; admin: Redis }> {
  const server = await startRedisProcess();
  servers.push(server);
  const admin = new Redis(server.url);
  clients.push(admin);
  return { server, admin };
}

/** A logger whose lines the test can read. */
function capturingLogger(config: Config) {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as { level: number; msg: string });
      done();
    },
  });
  return { logger: createLogger({ ...config, LOG_LEVEL: 'info' }, sink), lines };
}

function cfg(redisEnv: Record<string, string>, more: Record<string, string | number> = {}): Config {
  return configFrom({ ...redisEnv, MESH_NAMESPACE: uniqueNamespace('evict'), LOG_LEVEL: 'silent', ...more });
}

async function start(config: Config) {
  const { logger, lines } = capturingLogger(config);
  const app = await buildApp(config, { logger, maintenance: false });
  apps.push(app);
  await app.ready();
  return { app, lines };
}

async function readyz(app: FastifyInstance): Promise<{ statusCode: number; body: { status: string; eviction: EvictionReport } }> {
  const res = await app.inject({ url: '/readyz' });
  return { statusCode: res.statusCode, body: res.json() };
}

/** Connections a refused startup left behind on the server (it must close them all). */
async function meshConnections(admin: Redis): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((l) => /name=agent-mesh:/.test(l)).length;
}

describe('Redis eviction policy check', () => {
  it('starts on noeviction and shows the policy and maxmemory of the master in /readyz', async () => {
    const { server, admin } = await privateRedis();
    await admin.config('SET', 'maxmemory', '64mb');
    const { app, lines } = await start(cfg({ REDIS_URL: server.url }));
    const r = await readyz(app);
    expect(r.statusCode).toBe(200);
    expect(r.body).toEqual({
      status: 'ready',
      eviction: {
        result: 'ok',
        mode: 'enforce',
        nodes: [{ node: `127.0.0.1:${server.port}`, policy: 'noeviction', maxmemory_bytes: 64 * 1024 * 1024 }],
        checked_at: match.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    });
    expect(lines.some((l) => /maxmemory is 0/.test(l.msg))).toBe(false);
  });

  it('warns at startup when maxmemory is 0 (Redis would be OOM-killed instead of refusing writes)', async () => {
    const { server } = await privateRedis();
    const { app, lines } = await start(cfg({ REDIS_URL: server.url }));
    expect((await readyz(app)).body.eviction.nodes[0]?.maxmemory_bytes).toBe(0);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(match.arrayContaining([match.stringMatching(/maxmemory is 0/)]));
  });

  it('refuses to start on a policy that evicts, with a message that says how to fix it, and closes its connections', async () => {
    const { server, admin } = await privateRedis();
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const err = await buildApp(cfg({ REDIS_URL: server.url }), { maintenance: false }).then(
      (app) => {
        apps.push(app);
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EvictionPolicyError);
    const message = (err as Error).message;
    expect(message).toContain(`127.0.0.1:${server.port} has maxmemory-policy allkeys-lru`);
    expect(message).toContain('maxmemory-policy noeviction');
    expect(message).toContain('REDIS_EVICTION_CHECK=warn');
    await eventually(async () => (await meshConnections(admin)) === 0, 5000, 50);
  });

  it('REDIS_EVICTION_CHECK=warn starts anyway, logs an error and reports "evicting" in /readyz', async () => {
    const { server, admin } = await privateRedis();
    await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
    const { app, lines } = await start(cfg({ REDIS_URL: server.url }, { REDIS_EVICTION_CHECK: 'warn' }));
    const r = await readyz(app);
    expect(r.statusCode).toBe(200);
    expect(r.body.eviction).toMatchObject({ result: 'evicting', mode: 'warn', nodes: [{ policy: 'volatile-lru' }] });
    const errorsLogged = lines.filter((l) => l.level === 50).map((l) => l.msg);
    expect(errorsLogged).toEqual([match.stringMatching(/Redis may evict keys: .* has maxmemory-policy volatile-lru.*Starting anyway/)]);
  });

  it('a Redis that refuses CONFIG (managed Redis): enforce refuses, warn starts and says it could not check', async () => {
    const { server, admin } = await privateRedis();
    // Like a managed Redis: everything allowed but CONFIG.
    await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', '&*', '+@all', '-config');
    const url = `redis://app:app-secret@127.0.0.1:${server.port}`;
    const err = await buildApp(cfg({ REDIS_URL: url }), { maintenance: false }).then(
      (app) => {
        apps.push(app);
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EvictionPolicyError);
    expect((err as Error).message).toMatch(/Could not read Redis' maxmemory-policy \(NOPERM.*REDIS_EVICTION_CHECK=warn/);

    const { app, lines } = await start(cfg({ REDIS_URL: url }, { REDIS_EVICTION_CHECK: 'warn' }));
    const r = await readyz(app);
    expect(r.statusCode).toBe(200);
    expect(r.body.eviction).toMatchObject({ result: 'unchecked', mode: 'warn', nodes: [], error: match.stringMatching(/^NOPERM/) });
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(
      match.arrayContaining([match.stringMatching(/Could not read .*not checked/)]),
    );
  });

  it('re-reads the policy while running: a CONFIG SET shows up in /readyz and the log, and so does the fix', async () => {
    const { server, admin } = await privateRedis();
    const { app, lines } = await start(cfg({ REDIS_URL: server.url }, { REDIS_EVICTION_CHECK_INTERVAL_MS: 100 }));
    expect((await readyz(app)).body.eviction.result).toBe('ok');
    await admin.config('SET', 'maxmemory-policy', 'allkeys-random');
    // Reported, not drained: /readyz stays 200 (taking every replica out would be an outage).
    await eventually(
      async () => {
        const r = await readyz(app);
        return r.statusCode === 200 && r.body.eviction.result === 'evicting' && r.body.eviction.nodes[0]?.policy === 'allkeys-random';
      },
      10_000,
      50,
    );
    expect(lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([match.stringMatching(/no longer noeviction/)]);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await eventually(async () => (await readyz(app)).body.eviction.result === 'ok', 10_000, 50);
    expect(lines.some((l) => /noeviction again/.test(l.msg))).toBe(true);
  });

  it('Cluster: reads every master and refuses when one of them may evict', async () => {
    const cluster: ClusterTopology = await startCluster();
    servers.push(cluster);
    const { app } = await start(cfg(cluster.env));
    const r = await readyz(app);
    expect(r.body.eviction.result).toBe('ok');
    expect(r.body.eviction.nodes.map((n) => n.node).sort()).toEqual(cluster.nodes.map((n) => `${n.host}:${n.port}`).sort());

    const third = cluster.nodes[2];
    if (!third) throw new Error('cluster has no third node');
    const node = new Redis(third.port, third.host);
    clients.push(node);
    await node.config('SET', 'maxmemory-policy', 'allkeys-lfu');
    const err = await buildApp(cfg(cluster.env), { maintenance: false }).then(
      (a) => {
        apps.push(a);
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EvictionPolicyError);
    expect((err as Error).message).toContain(`${third.host}:${third.port} has maxmemory-policy allkeys-lfu`);
    // Only the bad master is named.
    expect((err as Error).message.match(/has maxmemory-policy/g)).toHaveLength(1);
  }, 60_000);

  it('Sentinel: reads the current master (not the sentinels) and refuses when it may evict', async () => {
    const sentinel = await startSentinel();
    servers.push(sentinel);
    const master = await sentinel.masterAddr();
    const { app } = await start(cfg(sentinel.env));
    expect((await readyz(app)).body.eviction).toMatchObject({
      result: 'ok',
      nodes: [{ node: `${master.host}:${master.port}`, policy: 'noeviction' }],
    });
    const m = new Redis(master.port, master.host);
    clients.push(m);
    await m.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const err = await buildApp(cfg(sentinel.env), { maintenance: false }).then(
      (a) => {
        apps.push(a);
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EvictionPolicyError);
    expect((err as Error).message).toContain(`${master.host}:${master.port} has maxmemory-policy allkeys-lru`);
  }, 60_000);

  it('the server process exits 2 with one clear line (no stack) when it refuses', async () => {
    const entry = path.join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'main.js');
    const { server, admin } = await privateRedis();
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const child = spawnTracked(process.execPath, [entry], {
      env: {
        ...process.env,
        REDIS_URL: server.url,
        PORT: '0',
        HOST: '127.0.0.1',
        MESH_NAMESPACE: uniqueNamespace('evict'),
        LOG_LEVEL: 'warn',
      },
    });
    const exit = await Promise.race([child.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
    if (exit === null) await child.terminate('SIGKILL');
    expect(exit, child.logs()).toEqual({ code: 2, signal: null });
    expect(child.logs()).toMatch(/^refusing to start: Redis may evict keys: 127\.0\.0\.1:\d+ has maxmemory-policy allkeys-lru/m);
    expect(child.logs()).not.toMatch(/\n\s+at /);
  });
});
