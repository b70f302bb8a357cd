// In-process apps on the run's shared Redis, each test file in its own namespace. Several apps with
// the same namespace behave like several replicas (separate connections, subscribers and workers).
import type { FastifyInstance } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { buildApp } from '../../src/app.js';
import { configFrom, type Config } from '../../src/config.js';
import { meshKeys, type MeshKeys } from '../../src/redis/keys.js';
import { uniqueNamespace } from './ns.js';
import { redisEnv } from './env.js';
import { createTestClient, scanAll } from './topology.js';

export { currentTopology, redisEnv } from './env.js';

export type Overrides = Record<string, string | number | boolean>;

export interface TestMesh {
  namespace: string;
  config: Config;
  keys: MeshKeys;
  /**
   * A client for assertions on Redis state, of the run's topology: a plain client (standalone),
   * a Sentinel-aware one (sentinel) or an ioredis Cluster (cluster).
   */
  redis: Redis | Cluster;
  apps: FastifyInstance[];
  /** Builds one more app (replica) on the same namespace. */
  addApp(overrides?: Overrides, opts?: { maintenance?: boolean }): Promise<FastifyInstance>;
  /** Every key of this namespace (SCAN, tests only). */
  namespaceKeys(): Promise<string[]>;
  close(): Promise<void>;
}

export async function startMesh(overrides: Overrides = {}, opts: StartOptions = {}): Promise<TestMesh> {
  const namespace = uniqueNamespace();
  const base: Overrides = {
    ...redisEnv(),
    MESH_NAMESPACE: namespace,
    LOG_LEVEL: 'silent',
    ...overrides,
  };
  const config = configFrom(base);
  const redis = createTestClient(Object.fromEntries(Object.entries(base).map(([k, v]) => [k, String(v)])));
  const apps: FastifyInstance[] = [];
  const mesh: TestMesh = {
    namespace,
    config,
    keys: meshKeys(namespace),
    redis,
    apps,
    async addApp(more = {}, o = {}) {
      const app = await buildApp(configFrom({ ...base, ...more }), { maintenance: o.maintenance ?? opts.maintenance ?? false });
      await app.ready();
      // As main.ts does once it listens (in-process apps are driven by inject, never listen).
      await app.mesh.maintenance?.start();
      apps.push(app);
      return app;
    },
    async namespaceKeys() {
      // On a cluster every master is scanned (the namespace's hash tag puts all its keys on one).
      return scanAll(redis, `mesh:{${namespace}}:*`);
    },
    async close() {
      await Promise.allSettled(apps.map((a) => a.close()));
      redis.disconnect();
    },
  };
  for (let i = 0; i < (opts.apps ?? 1); i++) await mesh.addApp();
  return mesh;
}

// How a test file gets its meshes, one helper per lifetime:
//   meshPerSuite()          one mesh for the tests of the file or describe block it is called in
//   meshPerTest()           a startMesh whose meshes are closed after each test
//   meshesClosedAfterAll()  a startMesh whose meshes are closed after the file or describe block

export type StartOptions = { apps?: number; maintenance?: boolean };

/**
 * One mesh for the tests of the enclosing file or describe block: started before them (before the
 * block's own beforeAll hooks declared after this call), closed after them. Its fields are set
 * once the tests run.
 */
export function meshPerSuite(overrides: Overrides = {}, opts: StartOptions = {}): TestMesh {
  const mesh = {} as TestMesh;
  beforeAll(async () => {
    Object.assign(mesh, await startMesh(overrides, opts));
  });
  afterAll(async () => {
    await mesh.close?.();
  });
  return mesh;
}

/** A startMesh whose meshes are closed after the test that started them. */
export function meshPerTest(): (overrides?: Overrides, opts?: StartOptions) => Promise<TestMesh> {
  return closingIn(afterEach);
}

/** A startMesh whose meshes are closed after the enclosing file or describe block. */
export function meshesClosedAfterAll(): (overrides?: Overrides, opts?: StartOptions) => Promise<TestMesh> {
  return closingIn(afterAll);
}

function closingIn(hook: typeof afterAll): (overrides?: Overrides, opts?: StartOptions) => Promise<TestMesh> {
  let meshes: TestMesh[] = [];
  hook(async () => {
    const closing = meshes;
    meshes = [];
    await Promise.all(closing.map((m) => m.close()));
  });
  return async (overrides = {}, opts = {}) => {
    const m = await startMesh(overrides, opts);
    meshes.push(m);
    return m;
  };
}

export interface RegisterOpts {
  capabilities?: string[];
  agent_profiles?: string[];
  hostname?: string;
  port?: number;
}

export function registerBody(id: string, o: RegisterOpts = {}) {
  return {
    instance_id: id,
    hostname: o.hostname ?? `${id}.local`,
    port: o.port ?? 4000,
    capabilities: o.capabilities ?? [],
    agent_profiles: o.agent_profiles ?? [],
  };
}

export async function register(app: FastifyInstance, id: string, o: RegisterOpts = {}) {
  const res = await app.inject({ method: 'POST', url: '/registry/register', payload: registerBody(id, o) });
  if (res.statusCode !== 200) throw new Error(`register ${id}: ${res.statusCode} ${res.body}`);
  return res.json<{
    is_leader: boolean;
    leader_id: string | null;
    leader_term: number;
    peers: { instance_id: string; is_leader: boolean }[];
    instance_token: string | null;
  }>();
}

export async function heartbeat(app: FastifyInstance, id: string, body: object = { status: 'healthy', metrics: null }) {
  return app.inject({ method: 'POST', url: `/registry/heartbeat/${id}`, payload: body });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or the timeout passes. */
export async function eventually<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs = 5000, stepMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? String(last) : last === undefined ? '' : JSON.stringify(last);
      throw new Error(`condition not met within ${timeoutMs} ms${why ? `: ${why}` : ''}`);
    }
    await sleep(stepMs);
  }
}
