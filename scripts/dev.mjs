#!/usr/bin/env node
// `npm run dev`: runs the server from source with tsx in watch mode. When nothing answers at
// REDIS_URL (default redis://127.0.0.1:6379), starts a private redis-server child on a free port
// so trying the registry needs no set-up. The child dies with this process, and its temporary
// folder is removed when it exits.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

function canConnect(host, port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const children = [];
const env = { ...process.env };
const uses = process.env.REDIS_SENTINELS || process.env.REDIS_CLUSTER_NODES;
if (!uses && !(await canConnect(url.hostname, Number(url.port || 6379)))) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-mesh-dev-redis-'));
  console.error(`[dev] nothing answers at ${url.href}: starting a private redis-server on 127.0.0.1:${port} (${dir})`);
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  redis.on('error', (err) => {
    console.error(`[dev] could not start redis-server (${err.message}); install it (apt-get install redis-server) or set REDIS_URL`);
    process.exit(1);
  });
  // Remove the folder once the server is gone, however this process ends.
  redis.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  children.push(redis);
  for (let i = 0; i < 50 && !(await canConnect('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 100));
  env.REDIS_URL = `redis://127.0.0.1:${port}`;
}

// The console at /ui is served from dist/ui: build it once so it is there (rerun
// `npm run build:ui` after changing ui/). A failed build only costs the console, not the server.
try {
  const { buildUi } = await import('./build-ui.mjs');
  await buildUi();
  console.error('[dev] console built: http://127.0.0.1:' + (process.env.PORT ?? 8080) + '/ui');
} catch (err) {
  console.error(`[dev] could not build the console (${err instanceof Error ? err.message : err}); /ui will answer 404`);
}

const server = spawn(process.execPath, ['--import', 'tsx', '--watch', 'src/main.ts'], { stdio: 'inherit', env });
children.push(server);
const stop = (signal) => {
  for (const c of children.reverse()) c.kill(signal);
};
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));
server.on('exit', (code) => {
  stop('SIGTERM');
  // Let redis-server exit (its 'exit' handler removes its folder) before this process does.
  const redis = children.find((c) => c !== server && c.exitCode === null && c.signalCode === null);
  if (redis) redis.once('exit', () => process.exit(code ?? 0));
  else process.exit(code ?? 0);
});
