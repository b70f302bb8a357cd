// The process entry points as an operator meets them: `node dist/main.js --help` prints usage and
// touches nothing, a replica that cannot bind its port leaves nothing behind in Redis, and
// `npm run dev` cleans up the private Redis it started.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { redisEnv } from '../helpers/app.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { freePort } from '../helpers/ports.js';
import { spawnTracked, waitUntil } from '../helpers/procs.js';
import { createTestClient, scanAll } from '../helpers/topology.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = path.join(ROOT, 'dist', 'main.js');

/** A TCP server that counts connections: where a process would find "Redis". */
async function connectionCounter(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return { port, connections: () => n, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('node dist/main.js', () => {
  it('--help prints the usage with every variable and exits 0 without connecting anywhere', async () => {
    const fake = await connectionCounter();
    try {
      const r = spawnSync(process.execPath, [ENTRY, '--help'], {
        env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${fake.port}` },
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^agent-mesh registry \d+\.\d+\.\d+/);
      for (const name of ['PORT', 'REDIS_URL', 'AUTH_MODE', 'REQUEST_TIMEOUT_MS']) expect(r.stdout).toContain(name);
      expect(fake.connections()).toBe(0);
      const unknown = spawnSync(process.execPath, [ENTRY, '--frobnicate'], { encoding: 'utf8', timeout: 15_000 });
      expect(unknown.status).toBe(2);
      expect(unknown.stderr).toContain('--frobnicate');
    } finally {
      await fake.close();
    }
  });

  it('a replica whose port is taken exits non-zero and writes nothing to Redis', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    const namespace = uniqueNamespace();
    const env = redisEnv();
    const redis = createTestClient(env);
    try {
      const child = spawnTracked(process.execPath, [ENTRY], {
        cwd: ROOT,
        env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', MESH_NAMESPACE: namespace, LOG_LEVEL: 'warn' },
      });
      await child.exited;
      expect(child.exitInfo()!.code).not.toBe(0);
      expect(child.logs()).toMatch(/EADDRINUSE/);
      // Not even the maintenance job scheduler: it is created only once the replica listens.
      expect(await scanAll(redis, `mesh:{${namespace}}:*`)).toEqual([]);
    } finally {
      redis.disconnect();
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe('npm run dev', () => {
  it('removes the folder of the private redis-server it started when it stops', async () => {
    const before = new Set(readdirSync(tmpdir()).filter((d) => d.startsWith('agent-mesh-dev-redis-')));
    const dead = await freePort();
    const port = await freePort();
    const child = spawnTracked(process.execPath, [path.join(ROOT, 'scripts', 'dev.mjs')], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${dead}`, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    });
    const created = () => readdirSync(tmpdir()).filter((d) => d.startsWith('agent-mesh-dev-redis-') && !before.has(d));
    await waitUntil(
      async () => {
        if (child.exitInfo() !== null) throw new Error(`npm run dev exited early:\n${child.logs()}`);
        try {
          return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
        } catch {
          return false;
        }
      },
      60_000,
      () => `dev server not ready:\n${child.logs()}`,
    );
    const dirs = created();
    expect(dirs).toHaveLength(1);
    await child.terminate('SIGTERM', 20_000);
    await waitUntil(
      async () => !existsSync(path.join(tmpdir(), dirs[0]!)),
      10_000,
      () => `${dirs[0]} still exists:\n${child.logs()}`,
    );
  });
});
