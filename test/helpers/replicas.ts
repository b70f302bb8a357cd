// Real server processes (`node dist/main.js`) for multi-replica and fault tests: each replica
// is what production runs, so kill -9, SIGTERM drains and restarts are the real thing.
// Needs `npm run build` first (`npm test` does it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { freePort } from './ports.js';
import { spawnTracked, waitUntil, type TrackedChild } from './procs.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = path.join(REPO_ROOT, 'dist', 'main.js');
const READY_TIMEOUT_MS = 20_000;

export interface Replica {
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly url: string;
  /** pid of the current process (changes on restart). */
  readonly pid: number;
  /** Sends `signal`; for terminating signals resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM and wait (SIGKILL after 15 s); resolves with the exit code (null if killed by a signal). */
  stop(): Promise<number | null>;
  /** Starts again on the same port with the same env (stopping the old process first if alive). */
  restart(): Promise<void>;
  /** stdout + stderr of the current process. */
  logs(): string;
  readonly running: boolean;
}

const live = new Set<Replica>();

async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function launch(port: number, env: Record<string, string>): Promise<TrackedChild> {
  const url = `http://127.0.0.1:${port}`;
  const child = spawnTracked(process.execPath, [ENTRY], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
  });
  try {
    await waitUntil(
      async () => {
        const exit = child.exitInfo();
        if (exit !== null) {
          throw new Error(
            `replica on port ${port} exited before it was ready (code ${exit.code}, signal ${exit.signal}):\n${child.logs()}`,
          );
        }
        return isReady(url);
      },
      READY_TIMEOUT_MS,
      () => `replica on port ${port} not ready (GET /readyz != 200) within ${READY_TIMEOUT_MS} ms:\n${child.logs()}`,
      100,
    );
  } catch (err) {
    await child.terminate('SIGKILL');
    throw err;
  }
  return child;
}

async function startReplica(env: Record<string, string>): Promise<Replica> {
  const port = await freePort();
  let current = await launch(port, env);
  const replica: Replica = {
    port,
    url: `http://127.0.0.1:${port}`,
    get pid() {
      return current.pid;
    },
    get running() {
      return current.exitInfo() === null;
    },
    logs: () => current.logs(),
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (current.exitInfo() !== null) return;
      current.child.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await current.exited;
      if (!replica.running) live.delete(replica);
    },
    async stop() {
      const exit = await current.terminate('SIGTERM', 15_000);
      live.delete(replica);
      return exit.code;
    },
    async restart() {
      await current.terminate('SIGTERM', 15_000);
      current = await launch(port, env);
      live.add(replica);
    },
  };
  live.add(replica);
  return replica;
}

/**
 * Starts `n` replicas in parallel, each on its own free port, and resolves once every one
 * answers GET /readyz with 200. `env` is added to this process's environment (REDIS_URL,
 * MESH_NAMESPACE, ...); `perReplica(i)` can add per-replica variables on top.
 */
export async function startReplicas(
  n: number,
  env: Record<string, string>,
  perReplica?: (index: number) => Record<string, string>,
): Promise<Replica[]> {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`npm run build\` first`);
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => startReplica({ ...env, ...(perReplica?.(i) ?? {}) })));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // All or nothing: don't leave the ones that did start running behind a thrown error.
    await Promise.all(started.map((r) => r.stop()));
    throw failed.reason;
  }
  return started;
}

/** Stops every replica this module started (SIGTERM, SIGKILL after 15 s). Use in afterAll/afterEach. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((r) => r.stop()));
}
