// Scale (issue 13): the registry at 1k, 10k, 50k and 100k live agents, registered through the HTTP
// API of two replicas. Per population: the longest single Redis call (SLOWLOG, every command timed)
// overall and per operation, latency of register / heartbeat / full listing / capability page /
// broadcast / fetch of a 30 MB inbox, the Redis time each of those costs, the register answer's
// size and Redis memory; a mixed load (heartbeats, registers, capability pages, a broadcast every
// 2 s, fetches of the 30 MB inbox); at the largest population, the storm of a whole fleet
// registering again after Redis lost its data. Cost curves (ratio to 1k) go to an SVG.
//
// `npm run bench -- --only=scale [--population=100000] [--scale-seconds=10]`
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { loadScriptSource, SCRIPT_NAMES } from '../../src/redis/script-runner.js';
import { ROOT, startReplica, type Child } from '../lib/procs.js';
import { closedLoop, openLoop, RawPool, type RawReply } from '../lib/raw-pool.js';
import { redisCpu, usedMemory } from '../lib/redis-info.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { percentile, sortedCopy, summarize } from '../lib/stats.js';
import { lineChart } from '../lib/svg.js';

const NS = 'bench-scale';
const CONSUMER = 'inbox-consumer';
const BROADCASTER = 'broadcaster';
/** 300 messages of 100 KiB: the "30 MB inbox" of the issue. */
const INBOX_MESSAGES = 300;
const INBOX_PAYLOAD = 100 * 1024;

interface SlowEntry {
  us: number;
  name: string;
  client: string;
  /** A command a script ran (SLOWLOG logs those too, from the address "?:0"): its time is in the script's. */
  nested: boolean;
}

/** SLOWLOG with every command: per-call Redis time, attributed to scripts by sha. */
class RedisCalls {
  private readonly bySha = new Map<string, string>();
  constructor(private readonly client: Redis) {
    for (const name of SCRIPT_NAMES) {
      this.bySha.set(createHash('sha1').update(loadScriptSource(name)).digest('hex'), name);
    }
  }

  async start(): Promise<void> {
    await this.client.config('SET', 'slowlog-log-slower-than', '0');
    await this.client.config('SET', 'slowlog-max-len', '1000000');
    await this.client.slowlog('RESET');
  }

  /** The calls logged since start(); logging stops (it costs Redis memory and time). */
  async take(): Promise<SlowEntry[]> {
    await this.client.config('SET', 'slowlog-log-slower-than', '-1');
    const raw = (await this.client.slowlog('GET', -1)) as [number, number, number, string[], string, string][];
    await this.client.slowlog('RESET');
    const out: SlowEntry[] = [];
    for (const [, , us, args, addr, clientName] of raw) {
      const cmd = String(args[0] ?? '').toLowerCase();
      if (cmd === 'slowlog' || cmd === 'config' || cmd === 'info') continue;
      const name = cmd === 'evalsha' ? (this.bySha.get(String(args[1])) ?? 'evalsha') : cmd === 'eval' ? 'eval' : cmd;
      out.push({ us, name, client: String(clientName ?? ''), nested: String(addr) === '?:0' });
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.client.config('SET', 'slowlog-log-slower-than', '10000');
    await this.client.config('SET', 'slowlog-max-len', '128');
    await this.client.slowlog('RESET');
  }
}

/** The requests' own commands: BullMQ's maintenance connection is background work. */
const foreground = (e: SlowEntry[]) => e.filter((x) => !x.client.includes('maintenance') && !x.client.includes('bull'));

function longest(entries: SlowEntry[]): SlowEntry | null {
  let best: SlowEntry | null = null;
  for (const e of entries) if (!best || e.us > best.us) best = e;
  return best;
}

interface OpFigures {
  /** SLOWLOG time per operation by command (script name for EVALSHA; a script's inner commands are listed too), us. */
  byCommand: Record<string, number>;
  p50: number;
  p99: number;
  /**
   * Redis time per operation: the SLOWLOG durations of its top-level calls (a script with its inner
   * commands, each command outside scripts), us. What the operation makes the Redis thread do,
   * without the server's background work or coarse CPU ticks: the figure the curves compare.
   */
  redisUs: number;
  /** Redis CPU per operation (INFO cpu: commands, scripts, network I/O and background work), us. */
  redisCpuUs: number;
  /** Longest single Redis call it made, us. */
  maxCallUs: number;
  maxCallName: string;
  bytes: number;
}

const latencies = (xs: number[]) => {
  const s = sortedCopy(xs);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
};

/**
 * SLOWLOG times a command by the wall clock: on a 2-core machine that also runs two replicas and
 * the load, Redis is often descheduled in the middle of a command, and the longest "call" is then
 * the scheduler's. In production Redis has a core of its own; here it gets real-time priority for
 * this phase (root only; otherwise the figures include that noise, and the log says so).
 */
function realtime(pid: number, on: boolean, log: (m: string) => void): void {
  const r = spawnSync('chrt', on ? ['-f', '-p', '10', String(pid)] : ['-o', '-p', '0', String(pid)], { encoding: 'utf8' });
  if (r.status !== 0 && on)
    log(`  (could not give Redis real-time priority: ${r.stderr.trim() || r.error?.message}; call times include scheduling)`);
}

export async function scalePhase(ctx: BenchContext): Promise<void> {
  const { opts, redis } = ctx;
  realtime(redis.pid, true, (m) => ctx.log(m));
  const populations = opts.scalePopulations;
  const seconds = opts.scaleSeconds;
  const calls = new RedisCalls(redis.client);
  const env = {
    STALE_TIMEOUT_MS: 7_200_000,
    HEARTBEAT_INTERVAL_MS: 5000,
    RUN_MAINTENANCE: 'true',
    LOG_LEVEL: 'warn',
    MAX_PAYLOAD_BYTES: 200 * 1024,
    BODY_LIMIT_BYTES: 400 * 1024,
    INBOX_MAX: 100_000,
    REDIS_COMMAND_TIMEOUT_MS: 10_000,
  };
  const replicas: Child[] = [];
  for (let i = 0; i < 2; i++) replicas.push(await startReplica({ redisUrl: redis.redisUrl, namespace: NS, name: `scale-${i}`, env }));
  const pool = new RawPool(
    replicas.map((r) => r.url),
    48,
  );
  const registerBody = (id: string, i: number) => ({
    instance_id: id,
    hostname: `agent-${i}.internal`,
    port: 8000 + (i % 1000),
    capabilities: ['work', `cap-${i % 100}`, 'summarize'],
    agent_profiles: ['default', 'reviewer'],
  });
  const heartbeatBody = { status: 'ready', metrics: { load: 0.42, queue: 3, tasks_done: 1234 } };
  const agent = (i: number) => `agent-${String(i).padStart(6, '0')}`;
  const ok = (r: RawReply, what: string) => {
    if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status}`);
    return r;
  };
  const per: Record<number, Record<string, OpFigures>> = {};
  const mixed: Record<number, Record<string, number>> = {};
  const memory: Record<number, number> = {};
  const throughput: Record<number, number> = {};
  let registered = 0;
  let extra = 0;

  try {
    // Helpers that exist at every population: a broadcaster and the consumer with a 30 MB inbox.
    for (const [i, id] of [BROADCASTER, CONSUMER].entries())
      ok(await pool.request('POST', '/registry/register', registerBody(id, i)), 'register');
    const big = 'x'.repeat(INBOX_PAYLOAD);
    await closedLoop(INBOX_MESSAGES, 16, async () =>
      ok(
        await pool.request('POST', `/messages/send/${BROADCASTER}`, {
          target_instance: CONSUMER,
          message_type: 'Notification',
          payload: big,
          correlation_id: null,
        }),
        'fill inbox',
      ),
    );
    const baseMemory = await usedMemory(redis.client);

    for (const population of populations) {
      // ---- grow to the population through the API, measuring register throughput -------------
      const from = registered;
      const regLat: number[] = [];
      const elapsed = await closedLoop(population - from, 128, async (k) => {
        const i = from + k;
        const r = ok(await pool.request('POST', '/registry/register', registerBody(agent(i), i)), 'register');
        if (k % 10 === 0) regLat.push(r.ms);
      });
      registered = population;
      throughput[population] = (population - from) / elapsed;
      ctx.log(`  ${population} live: registered ${population - from} at ${fmt(throughput[population])}/s`);
      memory[population] = ((await usedMemory(redis.client)) - baseMemory) / population;

      // ---- one operation at a time: latency, Redis time, longest call ------------------------
      const figures: Record<string, OpFigures> = {};
      const measure = async (name: string, n: number, fn: (i: number) => Promise<RawReply>) => {
        await calls.start();
        const cpu0 = await redisCpu(redis.client);
        const lat: number[] = [];
        let bytes = 0;
        for (let i = 0; i < n; i++) {
          const r = await fn(i);
          lat.push(r.ms);
          bytes += r.bytes;
        }
        // Redis' own CPU (INFO cpu) per operation: the commands, the scripts, the network I/O, and
        // whatever the server did in the background meanwhile (a slower operation's window holds
        // more of it). The curves use the SLOWLOG sum of top-level calls instead (redisUs).
        const cpuUs = ((await redisCpu(redis.client)) - cpu0) * 1e6;
        const entries = foreground(await calls.take());
        const top = longest(entries);
        const byCommand: Record<string, number> = {};
        for (const e of entries) byCommand[e.name] = (byCommand[e.name] ?? 0) + e.us / n;
        figures[name] = {
          byCommand,
          ...latencies(lat),
          redisUs: entries.reduce((sum, e) => (e.nested ? sum : sum + e.us), 0) / n,
          redisCpuUs: cpuUs / n,
          maxCallUs: top?.us ?? 0,
          maxCallName: top?.name ?? '',
          bytes: bytes / n,
        };
      };
      await measure('register', 200, async (i) =>
        ok(await pool.request('POST', '/registry/register', registerBody(`probe-${population}-${i}`, i)), 'probe register'),
      );
      extra += 200;
      await measure('heartbeat', 500, async (i) =>
        ok(await pool.request('POST', `/registry/heartbeat/${agent((i * 7919) % registered)}`, heartbeatBody), 'heartbeat'),
      );
      // Every agent holds `work`: a full page at every population (cap-<n> pages fill up only
      // from 10k on), so the curve compares like with like.
      await measure('capability page', 100, async (i) =>
        ok(
          await pool.request(
            'GET',
            `/registry/agents?capability=work&limit=100${i % 2 ? '' : `&cursor=${(i * 37) % Math.max(1, registered - 200)}`}`,
          ),
          'capability page',
        ),
      );
      // Enough operations per figure that one descheduled call does not decide the curve.
      await measure('broadcast', 25, async (i) =>
        ok(
          await pool.request('POST', `/messages/send/${BROADCASTER}`, {
            target_instance: null,
            message_type: 'Notification',
            payload: { n: i },
            correlation_id: null,
          }),
          'broadcast',
        ),
      );
      await measure('fetch 30 MB inbox', 30, async () => ok(await pool.request('GET', `/messages/${CONSUMER}?limit=1000`), 'fetch'));
      await measure('full listing', population >= 50_000 ? 2 : 3, async () =>
        ok(await pool.request('GET', '/registry/agents'), 'full listing'),
      );
      per[population] = figures;
      for (const [name, f] of Object.entries(figures)) {
        ctx.log(
          `    ${name}: p50 ${fmt(f.p50)} ms p99 ${fmt(f.p99)} ms, Redis ${fmt(f.redisUs)} us/op (CPU ${fmt(f.redisCpuUs)} us), longest call ${fmt(f.maxCallUs)} us (${f.maxCallName}), ${fmt(f.bytes)} B`,
        );
      }

      // ---- mixed load ------------------------------------------------------------------------
      await calls.start();
      const lat: Record<string, number[]> = { heartbeat: [], register: [], 'capability page': [], broadcast: [], fetch: [] };
      const errors: Record<string, number> = {};
      const track = (name: string) => async (p: Promise<RawReply>) => {
        const r = await p;
        if (r.status >= 300) errors[name] = (errors[name] ?? 0) + 1;
        else lat[name]!.push(r.ms);
      };
      const base = extra;
      await Promise.all([
        openLoop(opts.scaleHeartbeatRate, seconds, (i) =>
          track('heartbeat')(pool.request('POST', `/registry/heartbeat/${agent((i * 7919) % registered)}`, heartbeatBody)),
        ),
        openLoop(opts.scaleRegisterRate, seconds, (i) =>
          track('register')(pool.request('POST', '/registry/register', registerBody(`mixed-${population}-${i}`, base + i))),
        ),
        openLoop(20, seconds, (i) => track('capability page')(pool.request('GET', `/registry/agents?capability=cap-${i % 100}&limit=100`))),
        openLoop(0.5, seconds, (i) =>
          track('broadcast')(
            pool.request('POST', `/messages/send/${BROADCASTER}`, {
              target_instance: null,
              message_type: 'Notification',
              payload: { mixed: i },
              correlation_id: null,
            }),
          ),
        ),
        openLoop(1, seconds, () => track('fetch')(pool.request('GET', `/messages/${CONSUMER}?limit=1000`))),
      ]);
      extra += Math.round(opts.scaleRegisterRate * seconds);
      const entries = foreground(await calls.take());
      const top = longest(entries);
      const m: Record<string, number> = {
        longestCallUs: top?.us ?? 0,
        over2ms: entries.filter((e) => e.us > 2000).length,
        over5ms: entries.filter((e) => e.us > 5000).length,
        calls: entries.length,
      };
      for (const [name, xs] of Object.entries(lat)) {
        const l = latencies(xs);
        m[`${name} p50`] = l.p50;
        m[`${name} p99`] = l.p99;
      }
      mixed[population] = m;
      ctx.log(
        `    mixed: heartbeat p99 ${fmt(m['heartbeat p99']!)} ms, register p99 ${fmt(m['register p99']!)} ms, longest call ${fmt(m.longestCallUs!)} us (${top?.name}), >2 ms: ${m.over2ms}, errors ${JSON.stringify(errors)}`,
      );
    }
    await calls.stop();

    // ---- storm: Redis loses everything; the whole fleet registers again ----------------------
    const n = registered;
    let storm: Record<string, number> | null = null;
    if (opts.scaleStorm) {
      await redis.client.flushall();
      const back: number[] = [];
      const hbLat: number[] = [];
      let done = false;
      const t0 = performance.now();
      const heartbeats = (async () => {
        // Agents already back keep heartbeating while the others register.
        while (!done) {
          await openLoop(opts.scaleHeartbeatRate, 1, async () => {
            if (back.length === 0) return;
            const r = await pool.request(
              'POST',
              `/registry/heartbeat/${agent(back[Math.floor(Math.random() * back.length)]!)}`,
              heartbeatBody,
            );
            if (r.status === 200) hbLat.push(r.ms);
          });
        }
      })();
      await closedLoop(n, 128, async (i) => {
        ok(await pool.request('POST', '/registry/register', registerBody(agent(i), i)), 'storm register');
        back.push(i);
      });
      const recovery = (performance.now() - t0) / 1000;
      done = true;
      await heartbeats;
      const l = latencies(hbLat);
      storm = { agents: n, seconds: recovery, rate: n / recovery, heartbeatP50: l.p50, heartbeatP99: l.p99, heartbeats: hbLat.length };
      ctx.log(
        `  storm: ${n} agents registered again in ${fmt(recovery)} s (${fmt(n / recovery)}/s); heartbeats meanwhile p99 ${fmt(l.p99)} ms`,
      );
    }

    // ---- report ------------------------------------------------------------------------------
    const S = '13';
    const pops = populations;
    const last = pops[pops.length - 1]!;
    const row = (measure: string, v: number, unit: string, note?: string) =>
      addRow(ctx, { section: S, measure, value: summarize([v]), unit, ...(note ? { note } : {}) });
    for (const p of pops) {
      const f = per[p]!;
      row(
        `${p} live: register p50 / p99`,
        f.register!.p50,
        'ms',
        `p99 ${fmt(f.register!.p99)} ms; answer ${fmt(f.register!.bytes / 1024)} KiB; ${fmt(throughput[p]!)} registers/s through 2 replicas`,
      );
      row(
        `${p} live: heartbeat p50 / p99`,
        f.heartbeat!.p50,
        'ms',
        `p99 ${fmt(f.heartbeat!.p99)} ms; Redis ${fmt(f.heartbeat!.redisUs)} us/op`,
      );
      row(`${p} live: capability page (limit 100)`, f['capability page']!.p50, 'ms', `Redis ${fmt(f['capability page']!.redisUs)} us/op`);
      row(
        `${p} live: broadcast`,
        f.broadcast!.p50,
        'ms',
        `Redis ${fmt(f.broadcast!.redisUs)} us/op; answer ${fmt(f.broadcast!.bytes / 1024)} KiB`,
      );
      row(
        `${p} live: fetch of the 30 MB inbox`,
        f['fetch 30 MB inbox']!.p50,
        'ms',
        `Redis ${fmt(f['fetch 30 MB inbox']!.redisUs)} us/op; answer ${fmt(f['fetch 30 MB inbox']!.bytes / 1048576)} MiB`,
      );
      row(
        `${p} live: full listing`,
        f['full listing']!.p50,
        'ms',
        `Redis ${fmt(f['full listing']!.redisUs / 1000)} ms/op in ${fmt(f['full listing']!.bytes / 1048576)} MiB`,
      );
      const worst = Object.entries(f).sort(([, a], [, b]) => b.maxCallUs - a.maxCallUs)[0]!;
      row(`${p} live: longest Redis call, one op at a time`, worst[1].maxCallUs, 'us', `${worst[0]} (${worst[1].maxCallName})`);
      const m = mixed[p]!;
      row(
        `${p} live, mixed load: longest Redis call`,
        m.longestCallUs!,
        'us',
        `${m.over2ms} of ${m.calls} calls over 2 ms, ${m.over5ms} over 5 ms`,
      );
      row(
        `${p} live, mixed load: heartbeat p99`,
        m['heartbeat p99']!,
        'ms',
        `register p99 ${fmt(m['register p99']!)} ms, fetch p99 ${fmt(m['fetch p99']!)} ms, broadcast p99 ${fmt(m['broadcast p99']!)} ms`,
      );
      row(`${p} live: Redis memory per agent`, memory[p]!, 'bytes', '3 capabilities, 2 profiles, status + metrics');
    }
    if (storm)
      row(
        `storm: ${storm.agents} agents register again after a wipe`,
        storm.seconds!,
        's',
        `${fmt(storm.rate!)}/s; heartbeats of agents back p99 ${fmt(storm.heartbeatP99!)} ms`,
      );

    const flat = (name: string, value: (f: OpFigures) => number) => {
      const v0 = value(per[pops[0]!]![name]!);
      return pops.map((p) => value(per[p]![name]!) / v0);
    };
    const curves = {
      'register (Redis time)': flat('register', (f) => f.redisUs),
      'heartbeat (Redis time)': flat('heartbeat', (f) => f.redisUs),
      'capability page (Redis time)': flat('capability page', (f) => f.redisUs),
      'broadcast (Redis time)': flat('broadcast', (f) => f.redisUs),
      'fetch 30 MB (Redis time)': flat('fetch 30 MB inbox', (f) => f.redisUs),
      'register p50': flat('register', (f) => f.p50),
      'heartbeat p50': flat('heartbeat', (f) => f.p50),
    };
    // The longest single call at the largest population, under the mixed load and one op at a time.
    const maxCall = Math.max(mixed[last]!.longestCallUs!, ...Object.values(per[last]!).map((f) => f.maxCallUs));
    const m100 = mixed[last]!;
    addTarget(ctx, {
      target: `no Redis call longer than 2 ms at ${last} live (5 ms hard limit)`,
      measured: `${fmt(maxCall / 1000)} ms`,
      met: maxCall <= 2000,
    });
    addTarget(ctx, {
      target: `mixed load at ${last}: heartbeat p99 <= 20 ms`,
      measured: `${fmt(m100['heartbeat p99']!)} ms`,
      met: m100['heartbeat p99']! <= 20,
    });
    addTarget(ctx, {
      target: `mixed load at ${last}: register p99 <= 50 ms`,
      measured: `${fmt(m100['register p99']!)} ms`,
      met: m100['register p99']! <= 50,
    });
    addTarget(ctx, {
      target: `register throughput >= 2,000/s through 2 replicas at ${last} live`,
      measured: `${fmt(throughput[last]!)}/s`,
      met: throughput[last]! >= 2000,
    });
    for (const [name, ratios] of Object.entries(curves).slice(0, 5)) {
      const worst = Math.max(...ratios);
      addTarget(ctx, { target: `flat from ${pops[0]} to ${last} (<= 1.5x): ${name}`, measured: `${fmt(worst)}x`, met: worst <= 1.5 });
    }
    const svg = lineChart({
      title: `Cost per operation vs live agents (ratio to ${pops[0]})`,
      xs: pops,
      xLabel: 'live agents',
      yLabel: `cost / cost at ${pops[0]}`,
      series: Object.entries(curves).map(([name, values]) => ({ name, values })),
      refs: [{ y: 1.5, label: '1.5x' }],
    });
    const dir = path.join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, opts.quick || opts.only ? 'scale-curves-partial.svg' : 'scale-curves.svg'), svg);
    ctx.details.scale = { populations: pops, per, mixed, memory, throughput, storm, curves };
  } finally {
    pool.close();
    await Promise.all(replicas.map((r) => r.stop()));
    realtime(redis.pid, false, (m) => ctx.log(m));
  }
}
