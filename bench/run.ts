// `npm run bench [-- --quick] [-- --only=heartbeat,cleanup] [-- --runs=5 --duration=10 ...]`
// Scale: `npm run bench -- --only=scale [--population=100000] [--scale-seconds=10] [--no-storm]`
// (`--only=durability`: the cost of REDIS_SYNC_REPLICAS and Idempotency-Key, ~1 min)
//
// Starts its own redis-server (no persistence) and replicas (node dist/main.js) on 127.0.0.1,
// drives them with autocannon for bounded durations, stops everything, prints a markdown table
// and writes bench/results/latest.{md,json} (latest-partial.* for --quick or --only runs). Every
// machine-dependent figure is also a ratio to a baseline measured in the same run. Not a test:
// nothing here runs under vitest.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startRedis } from './lib/procs.js';
import { environment, markdown, type BenchContext, type BenchOptions } from './lib/report.js';
import { heartbeatPhase } from './phases/heartbeat.js';
import { registryPhase } from './phases/registry.js';
import { redisCostPhase } from './phases/redis-cost.js';
import { memoryPhase } from './phases/memory.js';
import { cleanupPhase } from './phases/cleanup.js';
import { messagingPhase } from './phases/messaging.js';
import { failoverPhase } from './phases/failover.js';
import { etcdPhase } from './phases/etcd.js';
import { scalePhase } from './phases/scale.js';
import { durabilityPhase } from './phases/durability.js';

const PHASES = {
  heartbeat: heartbeatPhase,
  registry: registryPhase,
  'redis-cost': redisCostPhase,
  memory: memoryPhase,
  cleanup: cleanupPhase,
  messaging: messagingPhase,
  failover: failoverPhase,
  etcd: etcdPhase,
  scale: scalePhase,
  durability: durabilityPhase,
} as const;
type PhaseName = keyof typeof PHASES;

const FULL: BenchOptions = {
  quick: false,
  runs: 3,
  duration: 5,
  warmup: 2,
  connections: 32,
  heartbeatPopulation: 1000,
  listSizes: [1000, 10_000],
  listDuration: 3,
  registerPerRun: 200,
  costCalls: 20_000,
  memoryInstances: 100_000,
  memoryMessages: 20_000,
  cleanupExpire: 10_000,
  cleanupLive: [10_000, 100_000],
  wakeTrials: 200,
  failoverTrials: 20,
  failoverStaleMs: 1000,
  failoverIntervalMs: 200,
  scalePopulations: [1000, 10_000, 50_000, 100_000],
  scaleSeconds: 10,
  scaleHeartbeatRate: 2000,
  scaleRegisterRate: 100,
  scaleStorm: true,
  only: null,
};

const QUICK: BenchOptions = {
  ...FULL,
  quick: true,
  duration: 2,
  warmup: 1,
  listDuration: 1,
  registerPerRun: 50,
  costCalls: 5000,
  memoryInstances: 20_000,
  memoryMessages: 5000,
  cleanupExpire: 5000,
  cleanupLive: [5000, 50_000],
  wakeTrials: 50,
  failoverTrials: 5,
  scalePopulations: [1000, 10_000],
  scaleSeconds: 4,
};

function parseArgs(argv: string[]): BenchOptions {
  const opts: BenchOptions = { ...(argv.includes('--quick') ? QUICK : FULL) };
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${arg}`);
    const [, key, value = ''] = m;
    const num = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`--${key} needs a positive number`);
      return n;
    };
    const list = () => value.split(',').map(Number);
    switch (key) {
      case 'quick':
        break;
      case 'only': {
        const names = value.split(',').filter(Boolean);
        for (const n of names) if (!(n in PHASES)) throw new Error(`unknown phase ${n} (${Object.keys(PHASES).join(', ')})`);
        opts.only = new Set(names);
        break;
      }
      case 'runs':
        opts.runs = Math.max(3, Math.round(num()));
        break;
      case 'duration':
        opts.duration = num();
        break;
      case 'warmup':
        opts.warmup = num();
        break;
      case 'connections':
        opts.connections = Math.round(num());
        break;
      case 'list-sizes':
        opts.listSizes = list();
        break;
      case 'memory-instances':
        opts.memoryInstances = Math.round(num());
        break;
      case 'cleanup-expire':
        opts.cleanupExpire = Math.round(num());
        break;
      case 'cleanup-live':
        opts.cleanupLive = list();
        break;
      case 'wake-trials':
        opts.wakeTrials = Math.round(num());
        break;
      case 'failover-trials':
        opts.failoverTrials = Math.round(num());
        break;
      case 'population': {
        // The largest population of the scale phase; the others are the standard steps below it.
        const top = Math.round(num());
        opts.scalePopulations = [...new Set([...[1000, 10_000, 50_000, 100_000].filter((p) => p < top), top])];
        break;
      }
      case 'scale-seconds':
        opts.scaleSeconds = num();
        break;
      case 'scale-heartbeat-rate':
        opts.scaleHeartbeatRate = num();
        break;
      case 'no-storm':
        opts.scaleStorm = false;
        break;
      default:
        throw new Error(`unknown option --${key}`);
    }
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const redis = await startRedis();
  const ctx: BenchContext = { opts, redis, rows: [], targets: [], details: {}, shared: new Map(), log };
  const env = await environment(redis);
  try {
    for (const [name, phase] of Object.entries(PHASES) as [PhaseName, (c: BenchContext) => Promise<void>][]) {
      if (opts.only && !opts.only.has(name)) continue;
      const t0 = Date.now();
      log(`== ${name}`);
      await redis.client.flushall();
      await phase(ctx);
      log(`   (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await redis.stop();
  }
  const etcd = ctx.details.etcd as { version?: string } | undefined;
  if (etcd?.version) env.etcd = etcd.version;
  const md = markdown(ctx, env) + `\nTotal bench time: ${((Date.now() - started) / 1000).toFixed(0)} s.\n`;
  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  // A smoke run (--quick or --only) must not replace the last full results.
  const name = opts.quick || opts.only ? 'latest-partial' : 'latest';
  writeFileSync(path.join(dir, `${name}.md`), md);
  writeFileSync(
    path.join(dir, `${name}.json`),
    `${JSON.stringify({ env, options: { ...opts, only: opts.only ? [...opts.only] : null }, rows: ctx.rows, targets: ctx.targets, details: ctx.details }, null, 1)}\n`,
  );
  process.stdout.write(`${md}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
