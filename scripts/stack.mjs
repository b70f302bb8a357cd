#!/usr/bin/env node
// Local multi-replica stack without Docker: N x `node dist/main.js` behind haproxy.
//
//   npm run stack -- [--replicas N] [--port P]      (defaults: 3 replicas, load balancer on 8080)
//
// Redis comes from the environment, passed through unchanged to every replica (REDIS_URL, or
// REDIS_SENTINELS + REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES; MESH_NAMESPACE, AUTH_*, ...).
// Replicas listen on free ports on 127.0.0.1; only the load balancer's port is fixed.
// Ctrl-C / SIGTERM stops haproxy, then drains the replicas with SIGTERM (SIGKILL after 15 s);
// a second Ctrl-C kills everything at once.
//
// Plain Node on purpose (no TypeScript, nothing imported from test/): it must run from a fresh
// build with no dev tooling. The haproxy configuration mirrors test/helpers/lb.ts; keep them in step.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { haproxyConfig } from './haproxy-config.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = path.join(ROOT, 'dist', 'main.js');
const READY_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 15_000;

const log = (msg) => process.stderr.write(`[stack] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const opts = { replicas: 3, port: 8080 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? a.split('=', 2) : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${flag} needs a positive integer (got ${v})`);
      return n;
    };
    if (flag === '--replicas' || flag === '-n') opts.replicas = value();
    else if (flag === '--port' || flag === '-p') opts.port = value();
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: node scripts/stack.mjs [--replicas N] [--port P]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return opts;
}

function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // next
    }
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portInUse(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.setTimeout(500, () => (sock.destroy(), resolve(false)));
    sock.once('connect', () => (sock.destroy(), resolve(true)));
    sock.once('error', () => resolve(false));
  });
}

// Prefix every output line of a child with its name so interleaved logs stay readable.
function pipeWithPrefix(stream, prefix, out) {
  let partial = '';
  stream.on('data', (chunk) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) out.write(`${prefix} ${line}\n`);
  });
  stream.on('end', () => partial && out.write(`${prefix} ${partial}\n`));
}

function launch(name, cmd, args, env) {
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  pipeWithPrefix(child.stdout, `[${name}]`, process.stdout);
  pipeWithPrefix(child.stderr, `[${name}]`, process.stderr);
  child.exitedPromise = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  child.once('error', (err) => log(`${name}: ${err.message}`));
  return child;
}

async function waitReady(name, child, url) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before it was ready`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${name} not ready (GET ${url}/readyz != 200) within ${READY_TIMEOUT_MS / 1000} s`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`npm run build\` (npm run stack does)`);
  const haproxy = which('haproxy');
  if (!haproxy) throw new Error('haproxy not installed (apt-get install haproxy)');
  if (await portInUse(opts.port)) throw new Error(`port ${opts.port} is already in use (choose another with --port)`);
  if (!process.env.REDIS_URL && !process.env.REDIS_SENTINELS && !process.env.REDIS_CLUSTER_NODES) {
    log('REDIS_URL / REDIS_SENTINELS / REDIS_CLUSTER_NODES unset: replicas use their default redis://127.0.0.1:6379');
  }

  const dir = mkdtempSync(path.join(tmpdir(), 'mesh-stack-'));
  const replicas = []; // { name, port, url, child }
  let lb = null;
  let stopping = false;

  const shutdown = async (exitCode) => {
    if (stopping) return;
    stopping = true;
    log('stopping...');
    if (lb && lb.exitCode === null) {
      lb.kill('SIGTERM');
      await lb.exitedPromise;
    }
    const running = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    for (const r of running) r.child.kill('SIGTERM');
    const drained = Promise.all(running.map((r) => r.child.exitedPromise));
    const timedOut = await Promise.race([drained.then(() => false), sleep(DRAIN_TIMEOUT_MS).then(() => true)]);
    if (timedOut) {
      log(`replicas still running after ${DRAIN_TIMEOUT_MS / 1000} s: SIGKILL`);
      for (const r of running) r.child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    log('stopped');
    process.exit(exitCode);
  };
  const killAll = () => {
    for (const c of [lb, ...replicas.map((r) => r.child)]) if (c && c.exitCode === null) c.kill('SIGKILL');
  };
  process.on('SIGINT', () => (stopping ? (killAll(), process.exit(130)) : void shutdown(0)));
  process.on('SIGTERM', () => void shutdown(0));
  process.on('exit', killAll); // never leave children behind, whatever happens

  try {
    for (let i = 1; i <= opts.replicas; i++) {
      const port = await freePort();
      const name = `r${i}`;
      const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1' };
      const child = launch(name, process.execPath, [ENTRY], env);
      const replica = { name, port, url: `http://127.0.0.1:${port}`, child };
      replicas.push(replica);
      child.exitedPromise.then(({ code, signal }) => {
        if (!stopping) log(`${name} exited (code ${code}, signal ${signal}); the load balancer routes around it`);
      });
    }
    await Promise.all(replicas.map((r) => waitReady(r.name, r.child, r.url)));

    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      haproxyConfig(
        opts.port,
        replicas.map((r) => r.port),
      ),
    );
    lb = launch('lb', haproxy, ['-f', cfg, '-db'], process.env);
    lb.exitedPromise.then(({ code, signal }) => {
      if (stopping) return;
      log(`haproxy exited (code ${code}, signal ${signal})`);
      void shutdown(1);
    });
    const deadline = Date.now() + 10_000;
    while (!(await portInUse(opts.port))) {
      if (Date.now() > deadline || lb.exitCode !== null) throw new Error(`haproxy did not listen on ${opts.port}`);
      await sleep(50);
    }
  } catch (err) {
    log(`ERROR: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown(1);
    return;
  }

  for (const r of replicas) log(`${r.name}: ${r.url} (pid ${r.child.pid})`);
  log(`haproxy stats: http://127.0.0.1:${opts.port}/__lb/stats`);
  log('Ctrl-C to stop');
  process.stdout.write(`LB_URL=http://127.0.0.1:${opts.port}\n`);
}

main().catch((err) => {
  log(`ERROR: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
