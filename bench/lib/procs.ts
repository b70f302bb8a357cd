// Child processes the benchmarks start: a private redis-server, registry replicas (node
// dist/main.js), baseline servers and etcd. Everything listens on 127.0.0.1 on a free port, and
// every child is killed by pid when the benchmark ends, fails or is interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sleep } from './stats.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HOST = '127.0.0.1';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function killAll(): void {
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  logs: () => string;
  /** SIGTERM (then SIGKILL after graceMs); resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crashed replica). */
  kill(): Promise<void>;
}

const MAX_LOG = 64 * 1024;

function startChild(
  name: string,
  command: string,
  args: string[],
  port: number,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; keepStdout?: boolean } = {},
): Child {
  // stdout is discarded unless asked for: replicas log at info level like in production, and a
  // pipe we read would make the benchmark process pay for their log lines too.
  const child = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    stdio: ['ignore', opts.keepStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  live.add(child);
  let buf = '';
  const append = (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    if (buf.length > MAX_LOG) buf = buf.slice(buf.length - MAX_LOG);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
  const pid = child.pid;
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    }
  };
  return {
    name,
    pid,
    port,
    url: `http://${HOST}:${port}`,
    logs: () => buf,
    async stop(graceMs = 5000) {
      signal('SIGTERM');
      const t = setTimeout(() => signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      signal('SIGKILL');
      await exited;
    },
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms:\n${logs().slice(-4000)}`);
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await res.arrayBuffer();
  return res.ok;
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface RedisServer extends Child {
  /** A command connection for the benchmark's own use (stats, direct script calls). */
  readonly client: Redis;
  readonly redisUrl: string;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = tempDir('bench-redis-');
  const child = startChild(
    'redis',
    'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', ''],
    port,
    { cwd: dir, keepStdout: true },
  );
  const redisUrl = `redis://${HOST}:${port}`;
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined); // refused while redis-server starts: waitFor retries
  await waitFor(
    'redis-server',
    async () => {
      if (client.status !== 'ready') await client.connect();
      return (await client.ping()) === 'PONG';
    },
    10_000,
    child.logs,
  );
  return {
    ...child,
    client,
    redisUrl,
    async stop(graceMs?: number) {
      client.disconnect();
      await child.stop(graceMs);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Registry replicas and baseline servers

export interface ReplicaOptions {
  redisUrl: string;
  namespace: string;
  env?: Record<string, string | number>;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  name?: string;
}

export async function startReplica(opts: ReplicaOptions): Promise<Child> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST,
    REDIS_URL: opts.redisUrl,
    MESH_NAMESPACE: opts.namespace,
    // BullMQ's own Lua calls would pollute the evalsha statistics; phases that need the sweep
    // call it directly.
    RUN_MAINTENANCE: 'false',
    LOG_LEVEL: 'info',
  };
  for (const [k, v] of Object.entries(opts.env ?? {})) env[k] = String(v);
  const child = startChild(
    opts.name ?? `replica:${port}`,
    process.execPath,
    [...(opts.nodeArgs ?? []), process.env.BENCH_ENTRY ?? 'dist/main.js'],
    port,
    {
      env,
    },
  );
  await waitFor(child.name, () => httpOk(`${child.url}/health`), 20_000, child.logs);
  return child;
}

/** A baseline server from bench/servers (plain JS, run with plain node like the replicas). */
export async function startServer(file: string, env: Record<string, string> = {}): Promise<Child> {
  const port = await freePort();
  const child = startChild(file, process.execPath, [path.join(ROOT, 'bench/servers', file)], port, {
    env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: String(port), HOST, ...env },
  });
  await waitFor(file, () => httpOk(`${child.url}/health`), 10_000, child.logs);
  return child;
}

// ---------------------------------------------------------------------------------------------
// etcd (peer anchor)

export interface EtcdServer extends Child {
  readonly version: string;
}

export async function startEtcd(): Promise<EtcdServer | null> {
  const bin = await which('etcd');
  if (!bin) return null;
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dir = tempDir('bench-etcd-');
  const clientUrl = `http://${HOST}:${clientPort}`;
  const peerUrl = `http://${HOST}:${peerPort}`;
  const child = startChild(
    'etcd',
    bin,
    [
      '--name',
      'bench',
      '--data-dir',
      dir,
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `bench=${peerUrl}`,
      '--log-level',
      'error',
    ],
    clientPort,
    { cwd: dir },
  );
  await waitFor('etcd', () => httpOk(`${clientUrl}/health`), 20_000, child.logs);
  const res = await fetch(`${clientUrl}/version`);
  const v = (await res.json()) as { etcdserver?: string };
  return { ...child, version: v.etcdserver ?? 'unknown' };
}

export async function which(cmd: string): Promise<string | null> {
  const { access, constants } = await import('node:fs/promises');
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return ticks / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;
