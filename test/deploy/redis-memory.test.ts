// The deployed Redis (k8s StatefulSet and docker-compose) refuses writes when full instead of
// evicting keys or being OOM-killed: maxmemory-policy noeviction and a maxmemory well below the
// container limit. The drift checks are run on the real files (no problem), on broken copies (the
// problem is named), and the real arguments are given to a real redis-server, which must come up
// with exactly that policy and limit and pass the server's own startup check.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { readMemoryPolicies, summarize } from '../../src/redis/eviction.js';
import { freePort } from '../helpers/ports.js';
import { spawnTracked, which } from '../helpers/procs.js';
import { waitForPing } from '../helpers/redis-ping.js';
import { composeProblems } from './lib/compose-drift.js';
import { loadCompose } from './lib/compose-validate.js';
import { find, NAMES, redisProblems } from './lib/k8s-drift.js';
import { renderKustomization } from './lib/k8s-validate.js';
import { composeBytes, k8sBytes, redisBytes, redisMemoryProblems } from './lib/redis-memory.js';
import { arrAt, at, objAt, PROJECT_ROOT, type JsonObject } from './lib/yaml-util.js';
import { match } from '../helpers/match.js';

const objects = renderKustomization(path.join(PROJECT_ROOT, 'k8s')).objects;
const compose = loadCompose(path.join(PROJECT_ROOT, 'docker-compose.yml'), {});
const haproxyText = readFileSync(path.join(PROJECT_ROOT, 'deploy', 'haproxy.cfg'), 'utf8');

function stsContainer(objs: JsonObject[]): JsonObject {
  const c = at(find(objs, 'StatefulSet', NAMES.redis), 'spec', 'template', 'spec', 'containers', 0);
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new Error('Redis container missing');
  return c;
}

function k8sArgs(): string[] {
  const c = stsContainer(objects);
  return [...arrAt(c, 'command'), ...arrAt(c, 'args')].map(String);
}

function composeArgs(): string[] {
  return arrAt(objAt(compose, 'services', 'redis'), 'command').map(String);
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('deployed Redis memory settings', () => {
  it('k8s and compose pass the drift checks', () => {
    expect(redisProblems(objects)).toEqual([]);
    expect(composeProblems(compose, haproxyText)).toEqual([]);
  });

  it('size parsers follow Redis, Kubernetes and Compose units', () => {
    expect(redisBytes('320mb')).toBe(320 * 1024 ** 2);
    expect(redisBytes('1m')).toBe(1e6);
    expect(redisBytes('1GB')).toBe(1024 ** 3);
    expect(redisBytes('12x')).toBeNull();
    expect(k8sBytes('512Mi')).toBe(512 * 1024 ** 2);
    expect(k8sBytes('1G')).toBe(1e9);
    expect(composeBytes('512m')).toBe(512 * 1024 ** 2);
    expect(composeBytes('1g')).toBe(1024 ** 3);
  });

  it('broken copies: an evicting policy, no maxmemory, maxmemory too close to the memory limit', () => {
    expect(redisMemoryProblems('redis-server --maxmemory 100mb --maxmemory-policy allkeys-lru', null)).toEqual([
      'Redis must run with --maxmemory-policy noeviction (has allkeys-lru)',
    ]);
    expect(redisMemoryProblems('redis-server --maxmemory-policy noeviction', null).join('\n')).toMatch(
      /must run with a --maxmemory limit \(has none\)/,
    );
    expect(redisMemoryProblems('redis-server --maxmemory 0 --maxmemory-policy noeviction', null).join('\n')).toMatch(
      /--maxmemory limit \(has 0\)/,
    );
    expect(redisMemoryProblems('redis-server --maxmemory 500mb --maxmemory-policy noeviction', 512 * 1024 ** 2).join('\n')).toMatch(
      /more than 75 % of the container memory limit/,
    );

    const k = structuredClone(objects);
    const c = stsContainer(k);
    c.args = ['redis-server', '--appendonly', 'yes', '--dir', '/data'];
    expect(redisProblems(k)).toEqual([
      'Redis must run with --maxmemory-policy noeviction (has none: the server default)',
      match.stringMatching(/--maxmemory limit \(has none\)/),
    ]);
    c.args = ['redis-server', '--appendonly', 'yes', '--maxmemory', '480mb', '--maxmemory-policy', 'noeviction'];
    expect(redisProblems(k).join('\n')).toMatch(/--maxmemory 480mb is more than 75 %/);

    const d = structuredClone(compose);
    const redis = objAt(d, 'services', 'redis');
    if (!redis) throw new Error('compose redis missing');
    redis.command = ['redis-server', '--appendonly', 'yes', '--maxmemory', '320mb', '--maxmemory-policy', 'volatile-lru'];
    expect(composeProblems(d, haproxyText)).toContain('Redis must run with --maxmemory-policy noeviction (has volatile-lru)');
  });

  for (const [name, args] of [
    ['k8s StatefulSet', k8sArgs],
    ['docker-compose', composeArgs],
  ] as const) {
    it(`${name}: a real redis-server started with these arguments has noeviction and that maxmemory, and passes the startup check`, async () => {
      const bin = await which('redis-server');
      if (!bin) throw new Error('redis-server not installed');
      const a = args();
      expect(a[0]).toBe('redis-server');
      const dir = mkdtempSync(path.join(tmpdir(), 'redis-args-'));
      dirs.push(dir);
      const port = await freePort();
      // The manifest's arguments, with the data dir, port and persistence made local to the test.
      const local = a.slice(1).map((x, i, all) => (all[i - 1] === '--dir' ? dir : x));
      const child = spawnTracked(bin, [
        ...local,
        '--dir',
        dir,
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
      ]);
      const client = new Redis(port, '127.0.0.1', { lazyConnect: true });
      try {
        await waitForPing('127.0.0.1', port, 15_000, () => child.logs());
        await client.connect();
        const nodes = await readMemoryPolicies(client);
        const want = redisBytes(a[a.indexOf('--maxmemory') + 1] ?? '');
        expect(nodes).toEqual([{ node: `127.0.0.1:${port}`, policy: 'noeviction', maxmemory_bytes: want }]);
        expect(summarize(nodes)).toBe('ok');
      } finally {
        client.disconnect();
        await child.terminate('SIGKILL');
      }
    });
  }
});
