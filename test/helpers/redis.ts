// One entry point for "give me a Redis" in tests, whatever this machine has:
//   REDIS_URL set            -> 'external'  (someone else's server: never flushed, never restarted)
//   Docker engine reachable  -> 'container' (testcontainers; image REDIS_IMAGE ?? redis:7)
//   otherwise                -> 'process'   (private redis-server child on a free port)
// TEST_REDIS=process|container|external forces a mode (and fails loudly if it cannot be had).
// In the automatic mode a container that cannot start (no image, engine trouble) falls back to
// a process with a warning, so a half-working Docker never turns into a red test run.
import { dockerAvailable, startRedisContainer } from './redis-container.js';
import { startRedisProcess } from './redis-process.js';

export { startRedisProcess, type RedisProcessHandle } from './redis-process.js';

export type RedisKind = 'container' | 'process' | 'external';

export interface StartRedisOptions {
  /** AOF on (appendfsync always): data survives restart(). Default false: restart empties it. */
  persistence?: boolean;
}

export interface RedisRestartOptions {
  /** SIGTERM (default, clean shutdown) or SIGKILL (crash). */
  signal?: 'SIGTERM' | 'SIGKILL';
  /** Keep the server down this long before starting it again (clients see refused connects). */
  downMs?: number;
}

export interface RedisHandle {
  readonly kind: RedisKind;
  /** redis://host:port */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops and removes what we started; a no-op for 'external'. */
  stop(): Promise<void>;
  /** Same host and port afterwards; data kept iff started with persistence. Throws for 'external'. */
  restart(opts?: RedisRestartOptions): Promise<void>;
  /** Freeze the server (answers nothing); auto-resume after `ms` if given. Absent for 'external'. */
  pause?(ms?: number): Promise<void>;
  resume?(): Promise<void>;
}

function externalRedis(url: string): RedisHandle {
  const u = new URL(url);
  return {
    kind: 'external',
    url,
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    async stop() {
      // not ours to stop
    },
    async restart() {
      throw new Error(
        'restart() is not supported for an external Redis (REDIS_URL is set); ' +
          'use startRedisProcess() for tests that restart or pause Redis',
      );
    },
  };
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  const forced = process.env.TEST_REDIS;
  switch (forced) {
    case 'process':
      return startRedisProcess(opts);
    case 'container':
      return startRedisContainer(opts);
    case 'external': {
      const url = process.env.REDIS_URL;
      if (!url) throw new Error('TEST_REDIS=external needs REDIS_URL');
      return externalRedis(url);
    }
    case undefined:
    case '':
      break;
    default:
      throw new Error(`TEST_REDIS must be process, container or external (got ${JSON.stringify(forced)})`);
  }
  if (process.env.REDIS_URL) return externalRedis(process.env.REDIS_URL);
  if (await dockerAvailable()) {
    try {
      return await startRedisContainer(opts);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(`[test redis] container failed (${msg.split('\n')[0]}); using a redis-server process\n`);
    }
  }
  return startRedisProcess(opts);
}
