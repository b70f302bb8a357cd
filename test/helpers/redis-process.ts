// A private redis-server child on an ephemeral port. Used when no Docker engine is reachable,
// and always by fault tests: SIGSTOP/SIGCONT on a pid we own is the most faithful "Redis hangs"
// we can make, and a restart keeps the port so clients reconnect to the same URL.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, sleep } from './ports.js';
import { spawnTracked, which, type TrackedChild } from './procs.js';
import { waitForPing } from './redis-ping.js';
import type { RedisHandle, RedisRestartOptions, StartRedisOptions } from './redis.js';

export interface RedisProcessHandle extends RedisHandle {
  readonly kind: 'process';
  /** pid of the current redis-server (changes on restart). */
  readonly pid: number;
  /** Data directory (AOF files live here when persistence is on). */
  readonly dir: string;
  /**
   * SIGSTOP: the server keeps its socket open but answers nothing (like a hung or
   * partitioned Redis). With `ms`, SIGCONT follows after that long (timer; this resolves at once).
   */
  pause(ms?: number): Promise<void>;
  /** SIGCONT (also cancels a pending timed resume). */
  resume(): Promise<void>;
  /** redis-server's own log so far. */
  logs(): string;
}

const READY_TIMEOUT_MS = 15_000;

export async function startRedisProcess(opts: StartRedisOptions = {}): Promise<RedisProcessHandle> {
  const bin = await which('redis-server');
  if (!bin) throw new Error('redis-server not installed (apt-get install redis-server)');
  const persistence = opts.persistence ?? false;
  const host = '127.0.0.1';
  const dir = await mkdtemp(path.join(tmpdir(), 'mesh-redis-'));

  const args = (port: number) => [
    '--port',
    String(port),
    '--bind',
    host,
    '--save',
    '',
    // appendfsync always: an acknowledged write survives even a SIGKILL restart, so the
    // "data kept iff persistence" contract holds for crash-style restarts too.
    '--appendonly',
    persistence ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];

  const launch = async (port: number): Promise<TrackedChild> => {
    const child = spawnTracked(bin, args(port), { cwd: dir });
    const exitedEarly = child.exited.then((e) => {
      throw new Error(`redis-server on port ${port} exited during startup (code ${e.code}, signal ${e.signal}):\n${child.logs()}`);
    });
    try {
      await Promise.race([waitForPing(host, port, READY_TIMEOUT_MS, () => `\n${child.logs()}`), exitedEarly]);
    } catch (err) {
      await child.terminate('SIGKILL');
      throw err;
    }
    exitedEarly.catch(() => undefined); // a later exit is reported by stop()/restart(), not here
    return child;
  };

  // The picked port can be taken by someone else before redis binds it: retry a few times.
  let child: TrackedChild | undefined;
  let port = 0;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort(host);
    try {
      child = await launch(port);
    } catch (err) {
      const inUse = err instanceof Error && /in use/i.test(err.message);
      if (!inUse || attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  let current: TrackedChild = child;
  let resumeTimer: NodeJS.Timeout | undefined;
  const clearResume = () => {
    if (resumeTimer) clearTimeout(resumeTimer);
    resumeTimer = undefined;
  };
  const signal = (sig: NodeJS.Signals) => {
    if (current.exitInfo() === null) process.kill(current.pid, sig);
  };

  return {
    kind: 'process',
    host,
    port,
    url: `redis://${host}:${port}`,
    dir,
    get pid() {
      return current.pid;
    },
    logs: () => current.logs(),
    async pause(ms?: number) {
      clearResume();
      signal('SIGSTOP');
      if (ms !== undefined) resumeTimer = setTimeout(() => signal('SIGCONT'), ms);
    },
    async resume() {
      clearResume();
      signal('SIGCONT');
    },
    async restart(ro: RedisRestartOptions = {}) {
      clearResume();
      // SIGTERM = clean SHUTDOWN (AOF flushed, no RDB since --save ''); SIGKILL = crash.
      await current.terminate(ro.signal ?? 'SIGTERM');
      if (ro.downMs) await sleep(ro.downMs);
      current = await launch(port); // same port: clients keep their URL
    },
    async stop() {
      clearResume();
      await current.terminate('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
