// Shared pieces of the SDK tests: a real in-process server listening on a free port, agent
// bookkeeping so every test closes what it joined, and small async helpers.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { inject } from 'vitest';
import { MeshAgent, type MeshAgentOptions } from '../../sdk/src/index.js';
import { startMesh, type Overrides, type TestMesh } from '../helpers/app.js';

export { eventually, sleep } from '../helpers/app.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = path.join(REPO_ROOT, 'sdk', 'dist', 'esm', 'cli', 'main.js');

export interface TestServer {
  mesh: TestMesh;
  url: string;
  close(): Promise<void>;
}

/** A real Fastify app (buildApp) on its own namespace, listening on 127.0.0.1:<free port>. */
export async function startServer(overrides: Overrides = {}): Promise<TestServer> {
  const mesh = await startMesh(overrides);
  const app = mesh.apps[0]!;
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    mesh,
    url,
    async close() {
      const closing = mesh.close();
      // A fetch aborted while its connection was still being set up (an agent closing mid
      // long-poll) leaves a socket that never carried a request: Node's server counts it neither
      // idle nor busy, and close() would wait for headersTimeout (60 s) on it.
      setImmediate(() => app.server.closeAllConnections());
      await closing;
    },
  };
}

/** Joins agents and closes them all at the end (afterEach). */
export class AgentPool {
  private readonly agents: MeshAgent[] = [];
  constructor(private readonly defaults: () => Partial<MeshAgentOptions> & { url: string }) {}

  async join(o: Partial<MeshAgentOptions> = {}): Promise<MeshAgent> {
    const agent = await MeshAgent.join({ hostname: 'agent.test', port: 4000, ...this.defaults(), ...o });
    this.agents.push(agent);
    return agent;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.agents.splice(0).map((a) => a.close()));
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command asynchronously (never spawnSync: the server under test lives in this process). */
export function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  cwd = REPO_ROOT,
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** `node dist/cli/main.js ...args` against `url`. */
export function mesh(url: string, ...args: string[]): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { MESH_URL: url, MESH_TOKEN: '' });
}

/**
 * The env that points a replica process at this run's Redis: the harness's `redisEnv` (standalone,
 * Sentinel or Cluster) when it provides one, else the plain `redisUrl`.
 */
export function replicaRedisEnv(): Record<string, string> {
  const env = (inject as (key: string) => unknown)('redisEnv') as Record<string, string> | undefined;
  return env && Object.keys(env).length > 0 ? { ...env } : { REDIS_URL: inject('redisUrl') };
}
