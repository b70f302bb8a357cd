// Child processes (and other resources) that tests start, with captured output and a
// last-resort cleanup when the test process exits, so no redis-server, replica or haproxy
// outlives the run even when a test forgets to stop it or throws half-way through setup.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { sleep } from './ports.js';

type Cleanup = () => void;

// Vitest re-imports helper modules for every test file in a worker, so the registry lives on
// globalThis: one 'exit' listener per process instead of one per file (MaxListeners warnings).
const KEY = Symbol.for('agent-mesh.test.cleanups');
type Holder = { [KEY]?: Set<Cleanup> };

function registry(): Set<Cleanup> {
  const g = globalThis as Holder;
  let set = g[KEY];
  if (!set) {
    const created = new Set<Cleanup>();
    set = created;
    g[KEY] = created;
    // 'exit' handlers must be synchronous: only signals and spawnSync work here.
    process.once('exit', () => {
      for (const fn of created) {
        try {
          fn();
        } catch {
          // best effort: keep cleaning the rest
        }
      }
    });
  }
  return set;
}

/** Runs `fn` synchronously if the process exits before the returned unregister is called. */
export function onProcessExit(fn: Cleanup): () => void {
  const set = registry();
  set.add(fn);
  return () => set.delete(fn);
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TrackedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Output so far (stdout and stderr interleaved, last ~256 KB). */
  logs(): string;
  /** null while running. */
  exitInfo(): ExitInfo | null;
  /** Resolves when the process has exited (immediately if it already has). */
  exited: Promise<ExitInfo>;
  /** Sends `signal` (SIGTERM by default), SIGKILL after `graceMs`; resolves with the exit. */
  terminate(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitInfo>;
}

const MAX_LOG = 256 * 1024;

export function spawnTracked(command: string, args: string[], options: Omit<SpawnOptions, 'stdio'> = {}): TrackedChild {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  const append = (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    if (buf.length > MAX_LOG) buf = buf.slice(buf.length - MAX_LOG);
  };
  // Always drain the pipes: a child blocked on a full pipe looks like a hung server.
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  let info: ExitInfo | null = null;
  const unregister = onProcessExit(() => {
    if (info === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const exited = new Promise<ExitInfo>((resolve) => {
    // 'error' without 'exit' happens when the binary cannot be spawned at all (ENOENT).
    child.once('error', (err) => {
      if (child.pid === undefined) {
        info = { code: null, signal: null };
        append(Buffer.from(`spawn ${command} failed: ${err.message}\n`));
        unregister();
        resolve(info);
      }
    });
    child.once('exit', (code, signal) => {
      info = { code, signal };
      unregister();
      resolve(info);
    });
  });

  const terminate = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000) => {
    if (info !== null) return info;
    child.kill(signal);
    // A SIGSTOPped process only acts on SIGTERM once it is continued.
    child.kill('SIGCONT');
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) child.kill('SIGKILL');
    return exited;
  };

  return {
    child,
    pid: child.pid ?? -1,
    logs: () => buf,
    exitInfo: () => info,
    exited,
    terminate,
  };
}

/** Polls `check` until it returns true; throws `describe()` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, describe: () => string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(describe());
    await sleep(intervalMs);
  }
}

/** Finds an executable on PATH (plus the sbin dirs a non-login root shell may lack). */
export async function which(name: string): Promise<string | null> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const full = `${dir}/${name}`;
    try {
      await access(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return null;
}
