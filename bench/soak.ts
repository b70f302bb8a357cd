// Soak test (not in CI): a local stack - its own redis-server, N replicas (dist/main.js) and
// haproxy, all on 127.0.0.1 - under 1000 simulated agents for a fixed time, reporting errors and
// the memory of every replica (RSS from /proc) and of Redis (INFO memory) over time.
//
//   npm run soak -- --minutes 10 [--agents 1000] [--replicas 3] [--heartbeat-ms 5000]
//                   [--send-every-ms 30000] [--fetch-every-ms 10000] [--sample-ms 15000] [--json FILE]
//
// Each agent registers, heartbeats every --heartbeat-ms (±10%), sends a Notification to a random
// other agent every --send-every-ms and fetches + acks its inbox every --fetch-every-ms. The run
// stops by itself after --minutes (hard stop one minute later even if something hangs), tears the
// stack down and prints a summary: requests and errors by route and status, latency percentiles,
// messages sent vs received, and memory growth per replica and for Redis (first sample after the
// warm-up vs the last one, and MB per minute). Exit code 1 when a request answered 5xx other than
// 503 or an acknowledged message was never received. Traffic goes to loopback only.
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startLoadBalancer, type LoadBalancer } from '../test/helpers/lb.js';
import { startRedisProcess, type RedisProcessHandle } from '../test/helpers/redis-process.js';
import { startReplicas, type Replica } from '../test/helpers/replicas.js';

interface Options {
  minutes: number;
  agents: number;
  replicas: number;
  heartbeatMs: number;
  sendEveryMs: number;
  fetchEveryMs: number;
  sampleMs: number;
  json: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    minutes: 5,
    agents: 1000,
    replicas: 3,
    heartbeatMs: 5000,
    sendEveryMs: 30_000,
    fetchEveryMs: 10_000,
    sampleMs: 15_000,
    json: null,
  };
  const num = (flag: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number >= ${min} (got ${v})`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const [flag, inline] = a.includes('=') ? (a.split('=', 2) as [string, string]) : [a, undefined];
    const next = () => inline ?? argv[++i];
    switch (flag) {
      case '--minutes':
        o.minutes = num(flag, next(), 0.1);
        break;
      case '--agents':
        o.agents = Math.floor(num(flag, next(), 2));
        break;
      case '--replicas':
        o.replicas = Math.floor(num(flag, next(), 1));
        break;
      case '--heartbeat-ms':
        o.heartbeatMs = num(flag, next(), 100);
        break;
      case '--send-every-ms':
        o.sendEveryMs = num(flag, next(), 10);
        break;
      case '--fetch-every-ms':
        o.fetchEveryMs = num(flag, next(), 10);
        break;
      case '--sample-ms':
        o.sampleMs = num(flag, next(), 1000);
        break;
      case '--json':
        o.json = next() ?? null;
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          readFileSync(new URL(import.meta.url), 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('//'))
            .join('\n') + '\n',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a} (try --help)`);
    }
  }
  return o;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

class Stats {
  readonly counts = new Map<string, number>();
  readonly latencies: number[] = [];
  failures5xx = 0;
  add(route: string, status: number, ms: number): void {
    const k = `${route} ${status}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    if (this.latencies.length < 2_000_000) this.latencies.push(ms);
    if (status >= 500 && status !== 503) this.failures5xx++;
  }
  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
  errors(): number {
    let n = 0;
    for (const [k, v] of this.counts) {
      const status = Number(k.split(' ').pop());
      if (status === 0 || status >= 500) n += v;
    }
    return n;
  }
  percentile(p: number): number {
    if (this.latencies.length === 0) return 0;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
  }
}

async function call(
  stats: Stats,
  base: string,
  route: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const t = performance.now();
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    stats.add(route, res.status, performance.now() - t);
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
  } catch {
    stats.add(route, 0, performance.now() - t);
    return { status: 0, json: null };
  }
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

interface Sample {
  t: number;
  replicasRssMb: (number | null)[];
  redisUsedMb: number;
  redisRssMb: number;
  keys: number;
  requests: number;
  errors: number;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const runMs = o.minutes * 60_000;
  log(`starting: ${o.agents} agents, ${o.replicas} replicas, ${o.minutes} min`);
  // Hard stop: whatever hangs, the process ends a minute after the planned end.
  const hardStop = setTimeout(() => {
    log('hard stop: the run overran by a minute; exiting');
    process.exit(2);
  }, runMs + 120_000);
  hardStop.unref();

  let redis: RedisProcessHandle | null = null;
  let replicas: Replica[] = [];
  let lb: LoadBalancer | null = null;
  let admin: Redis | null = null;
  const stopStack = async () => {
    await lb?.stop().catch(() => undefined);
    await Promise.all(replicas.map((r) => r.stop().catch(() => undefined)));
    admin?.disconnect();
    await redis?.stop().catch(() => undefined);
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    log('SIGINT: finishing early');
  });

  const stats = new Stats();
  const samples: Sample[] = [];
  let sent = 0;
  const acked = new Set<string>();
  const received = new Set<string>();
  try {
    redis = await startRedisProcess();
    admin = new Redis(redis.url);
    replicas = await startReplicas(o.replicas, {
      REDIS_URL: redis.url,
      MESH_NAMESPACE: 'soak',
      LOG_LEVEL: 'warn',
      HEARTBEAT_INTERVAL_MS: String(o.heartbeatMs),
      STALE_TIMEOUT_MS: String(o.heartbeatMs * 3),
    });
    lb = await startLoadBalancer(replicas.map((r) => r.port));
    const base = lb.url;
    log(`stack up: redis ${redis.url}, replicas ${replicas.map((r) => r.port).join(',')}, lb ${base}`);

    const ids = Array.from({ length: o.agents }, (_, i) => `soak-${i}`);
    // Register in batches so start-up is not one thundering herd.
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids.slice(i, i + 50).map((id) =>
          call(stats, base, 'register', 'POST', '/registry/register', {
            instance_id: id,
            hostname: `${id}.soak`,
            port: 4000,
            capabilities: ['soak'],
            agent_profiles: [],
          }),
        ),
      );
    }
    log(`registered ${ids.length} agents`);

    const started = Date.now();
    const deadline = started + runMs;
    const running = () => !interrupted && Date.now() < deadline;
    const jitter = (ms: number) => ms * (0.9 + Math.random() * 0.2);

    const agentLoop = async (id: string) => {
      let nextHb = Date.now() + Math.random() * o.heartbeatMs;
      let nextSend = Date.now() + Math.random() * o.sendEveryMs;
      let nextFetch = Date.now() + Math.random() * o.fetchEveryMs;
      while (running()) {
        const now = Date.now();
        if (now >= nextHb) {
          nextHb = now + jitter(o.heartbeatMs);
          const hb = await call(stats, base, 'heartbeat', 'POST', `/registry/heartbeat/${id}`, { status: 'ok', metrics: { t: now } });
          if (hb.status === 404) {
            await call(stats, base, 'register', 'POST', '/registry/register', {
              instance_id: id,
              hostname: `${id}.soak`,
              port: 4000,
              capabilities: ['soak'],
              agent_profiles: [],
            });
          }
        }
        if (now >= nextSend) {
          nextSend = now + jitter(o.sendEveryMs);
          const to = ids[Math.floor(Math.random() * ids.length)] as string;
          if (to !== id) {
            const key = `${id}:${++sent}`;
            const r = await call(stats, base, 'send', 'POST', `/messages/send/${id}`, {
              target_instance: to,
              message_type: 'Notification',
              payload: { k: key },
              correlation_id: null,
            });
            if (r.status === 200) acked.add(key);
          }
        }
        if (now >= nextFetch) {
          nextFetch = now + jitter(o.fetchEveryMs);
          await fetchAndAck(id);
        }
        await sleep(Math.max(5, Math.min(nextHb, nextSend, nextFetch) - Date.now()));
      }
    };
    const fetchAndAck = async (id: string) => {
      const r = await call(stats, base, 'fetch', 'GET', `/messages/${id}?limit=500`);
      const msgs = (r.json as { messages?: { message_id: string; payload: { k?: string } | null }[] } | null)?.messages ?? [];
      for (const m of msgs) if (m.payload?.k) received.add(m.payload.k);
      if (msgs.length > 0) await call(stats, base, 'ack', 'POST', `/messages/ack/${id}`, { message_ids: msgs.map((m) => m.message_id) });
    };

    const sampler = (async () => {
      while (running()) {
        const mem = await admin.info('memory');
        const field = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(mem)?.[1] ?? 0) / 1024 / 1024;
        const s: Sample = {
          t: Math.round((Date.now() - started) / 1000),
          replicasRssMb: replicas.map((r) => rssMb(r.pid)),
          redisUsedMb: field('used_memory'),
          redisRssMb: field('used_memory_rss'),
          keys: await admin.dbsize(),
          requests: stats.total(),
          errors: stats.errors(),
        };
        samples.push(s);
        log(
          `t=${s.t}s req=${s.requests} err=${s.errors} replicas RSS ${s.replicasRssMb.map((m) => (m === null ? '-' : m.toFixed(0))).join('/')} MB, ` +
            `redis used ${s.redisUsedMb.toFixed(1)} MB rss ${s.redisRssMb.toFixed(1)} MB keys ${s.keys}`,
        );
        const wait = Math.min(o.sampleMs, deadline - Date.now());
        if (wait > 0) await sleep(wait);
      }
    })();

    await Promise.all([...ids.map(agentLoop), sampler]);
    // Drain: every agent fetches what is left, so "acked but never received" means lost.
    for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map(fetchAndAck));
  } finally {
    log('stopping the stack');
    await stopStack();
    clearTimeout(hardStop);
  }

  const lost = [...acked].filter((k) => !received.has(k)).length;
  const warm = samples[Math.min(samples.length - 1, Math.max(1, Math.floor(samples.length / 5)))];
  const last = samples[samples.length - 1];
  const minutes = warm && last ? Math.max((last.t - warm.t) / 60, 1 / 60) : 1;
  const growth =
    warm && last
      ? {
          fromSecond: warm.t,
          toSecond: last.t,
          replicasRssMb: last.replicasRssMb.map((m, i) =>
            m === null || warm.replicasRssMb[i] == null ? null : +(m - warm.replicasRssMb[i]).toFixed(1),
          ),
          replicasRssMbPerMin: last.replicasRssMb.map((m, i) =>
            m === null || warm.replicasRssMb[i] == null ? null : +((m - warm.replicasRssMb[i]) / minutes).toFixed(2),
          ),
          redisUsedMb: +(last.redisUsedMb - warm.redisUsedMb).toFixed(2),
          redisUsedMbPerMin: +((last.redisUsedMb - warm.redisUsedMb) / minutes).toFixed(3),
        }
      : null;
  const summary = {
    options: o,
    requests: stats.total(),
    errors: stats.errors(),
    unexpected5xx: stats.failures5xx,
    byRouteStatus: Object.fromEntries([...stats.counts.entries()].sort()),
    latencyMs: { p50: +stats.percentile(50).toFixed(1), p99: +stats.percentile(99).toFixed(1), max: +stats.percentile(100).toFixed(1) },
    messages: { acked: acked.size, received: received.size, lost },
    memoryGrowth: growth,
    samples,
  };
  process.stdout.write(`${JSON.stringify({ ...summary, samples: undefined }, null, 2)}\n`);
  if (o.json) writeFileSync(o.json, JSON.stringify(summary, null, 2));
  process.exit(stats.failures5xx > 0 || lost > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
