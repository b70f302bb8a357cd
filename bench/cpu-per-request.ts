// `npm run bench:cpu [-- --requests=100000]`: replica CPU (user + system, from
// /proc/<pid>/stat) per heartbeat, against the Fastify + minimal Lua baseline, each under the same
// autocannon load. CPU per request is steadier than req/s on a noisy 2-core machine, so it shows
// what a change to the hot path costs or saves. Not part of `npm run bench`.
import { readFileSync } from 'node:fs';
import type autocannon from 'autocannon';
import { load } from './lib/load.js';
import { agentId, HEARTBEAT_BODY, openMesh, populate } from './lib/mesh.js';
import { startRedis, startReplica, startServer, type Child } from './lib/procs.js';

const requests = Number(/--requests=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 100_000);
const TICKS = 100; // USER_HZ

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

async function measure(target: Child, ids: string[]): Promise<{ usPerRequest: number; rps: number }> {
  let i = 0;
  const run = () =>
    load({
      url: target.url,
      connections: 32,
      duration: 0,
      amount: requests,
      method: 'POST',
      body: HEARTBEAT_BODY,
      setup: (req: autocannon.Request) => {
        req.path = `/registry/heartbeat/${ids[i++ % ids.length]!}`;
        return req;
      },
    });
  await run(); // warm-up
  const c0 = cpuSeconds(target.pid);
  const r = await run();
  return { usPerRequest: ((cpuSeconds(target.pid) - c0) * 1e6) / r.total, rps: r.rps };
}

const redis = await startRedis();
const ids = Array.from({ length: 1000 }, (_, i) => agentId('cpu', i));
const mesh = openMesh(redis.redisUrl, 'bench-cpu', { STALE_TIMEOUT_MS: 3_600_000 });
await populate(mesh, 'cpu', 0, ids.length);
await mesh.close();
const lua = await startServer('fastify-lua.mjs', { REDIS_URL: redis.redisUrl });
const replica = await startReplica({
  redisUrl: redis.redisUrl,
  namespace: 'bench-cpu',
  env: { STALE_TIMEOUT_MS: 3_600_000, LOG_LEVEL: 'warn' },
});
try {
  for (let round = 0; round < 3; round++) {
    const a = await measure(lua, ids);
    const b = await measure(replica, ids);
    process.stdout.write(
      `round ${round + 1}: baseline ${a.usPerRequest.toFixed(1)} us/req (${Math.round(a.rps)} req/s), ` +
        `heartbeat route ${b.usPerRequest.toFixed(1)} us/req (${Math.round(b.rps)} req/s), CPU ratio ${(a.usPerRequest / b.usPerRequest).toFixed(3)}\n`,
    );
  }
} finally {
  await Promise.all([lua.stop(), replica.stop(), redis.stop()]);
}
process.exit(0);
