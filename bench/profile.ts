// `npm run bench:profile [-- --duration=10 --route=heartbeat|agents]`
//
// CPU profile of one replica under load (node --cpu-prof): starts a private Redis, populates
// instances, drives the route with autocannon, stops the replica gracefully (the profile is written
// at exit) and prints where the time goes: self time by package/area and the top functions.
// Writes bench/results/profile-<route>.md; the raw .cpuprofile stays in a temp dir (path printed)
// for Chrome DevTools / speedscope.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type autocannon from 'autocannon';
import { load } from './lib/load.js';
import { agentId, HEARTBEAT_BODY, openMesh, populate } from './lib/mesh.js';
import { ROOT, startRedis, startReplica } from './lib/procs.js';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  startTime: number;
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which part of the stack a frame belongs to. */
export function area(url: string, fn: string): string {
  if (!url) {
    if (fn === '(garbage collector)') return 'GC';
    if (fn === '(idle)' || fn === '(program)') return fn;
    return 'native/V8';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) {
    if (/node:(net|internal\/stream_base_commons|internal\/streams|stream)/.test(url)) return 'node: net/streams';
    if (/node:(_http|http|internal\/http)/.test(url)) return 'node: http';
    return 'node: other';
  }
  const src = /\/dist\/(.*)$/.exec(url);
  if (src) return `app: ${src[1]}`;
  return url;
}

export interface Analysis {
  total: number;
  byArea: [string, number][];
  /** Time with the area anywhere on the stack (its callees included): what removing it would save at most. */
  inclusive: [string, number][];
  byFn: [string, number][];
}

/**
 * `window` = [from, to] in microseconds of the monotonic clock (V8 profiles use it, and so does
 * process.hrtime), so start-up and shutdown are left out.
 */
export function analyze(profile: CpuProfile, window?: [number, number]): Analysis {
  const self = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (window && (t < window[0] || t > window[1])) continue;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const parent = new Map<number, CpuNode>();
  for (const n of profile.nodes) {
    for (const c of n.children ?? []) parent.set(c, n);
  }
  const inclusive = new Map<string, number>();
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const t = self.get(n.id) ?? 0;
    if (t === 0) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    total += t;
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: CpuNode | undefined = n; cur; cur = parent.get(cur.id)) {
      const ca = area(cur.callFrame.url, cur.callFrame.functionName);
      if (ca === 'native/V8' || ca === '(program)' || ca === 'GC') continue;
      seen.add(ca);
    }
    for (const s of seen) inclusive.set(s, (inclusive.get(s) ?? 0) + t);
    const short = url ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${short}`;
    byFn.set(key, (byFn.get(key) ?? 0) + t);
  }
  const sort = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return { total, byArea: sort(byArea), inclusive: sort(inclusive), byFn: sort(byFn) };
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

async function main(): Promise<void> {
  const args = new Map(
    process.argv.slice(2).map((a) => {
      const [k, v = ''] = a.replace(/^--/, '').split('=');
      return [k!, v] as const;
    }),
  );
  const duration = Number(args.get('duration') ?? 10);
  const route = args.get('route') ?? 'heartbeat';
  const population = Number(args.get('population') ?? (route === 'agents' ? 1000 : 1000));
  // --env=LOG_LEVEL:warn,FOO:bar passes settings to the replica.
  const extraEnv = Object.fromEntries(
    (args.get('env') ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split(':') as [string, string]),
  );
  const redis = await startRedis();
  // Kept after the run (not a bench temp dir): the raw profile is for DevTools / speedscope.
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-prof-'));
  try {
    const ns = 'bench-prof';
    const mesh = openMesh(redis.redisUrl, ns, { STALE_TIMEOUT_MS: 3_600_000 });
    await populate(mesh, 'p', 0, population);
    await mesh.close();
    const replica = await startReplica({
      redisUrl: redis.redisUrl,
      namespace: ns,
      env: { STALE_TIMEOUT_MS: 3_600_000, ...extraEnv },
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    let i = 0;
    const from = monotonicUs();
    const res = await load(
      route === 'agents'
        ? { url: `${replica.url}/registry/agents`, connections: 4, duration }
        : {
            url: replica.url,
            connections: 32,
            duration,
            method: 'POST',
            body: HEARTBEAT_BODY,
            setup: (req: autocannon.Request) => {
              req.path = `/registry/heartbeat/${agentId('p', i++ % population)}`;
              return req;
            },
          },
    );
    const to = monotonicUs();
    await replica.stop(15_000);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const { total, byArea, inclusive, byFn } = analyze(profile, [from, to]);
    const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
    const lines = [
      `# CPU profile: ${route} route under load`,
      '',
      `${new Date().toISOString()}; one replica (node --cpu-prof), ${route === 'agents' ? `GET /registry/agents with ${population} live` : `POST /registry/heartbeat over ${population} ids`}, ` +
        `${duration} s of autocannon (only samples taken during the load count): ${Math.round(res.rps)} req/s, p99 ${res.p99.toFixed(2)} ms. Busy (non-idle) CPU ${(total / 1e6).toFixed(2)} s; ` +
        `${(total / res.total) | 0} us of replica CPU per request.`,
      '',
      '## Self time by area',
      '',
      '| area | self | share |',
      '|---|---:|---:|',
      ...byArea.slice(0, 25).map(([a, t]) => `| ${a} | ${(t / 1000).toFixed(0)} ms | ${pct(t)} |`),
      '',
      '## Time by area including callees (native work such as socket writes is charged to its caller)',
      '',
      '| area | inclusive | share |',
      '|---|---:|---:|',
      ...inclusive.slice(0, 30).map(([a, t]) => `| ${a} | ${(t / 1000).toFixed(0)} ms | ${pct(t)} |`),
      '',
      '## Top functions (self time)',
      '',
      '| function | self | share |',
      '|---|---:|---:|',
      ...byFn.slice(0, 40).map(([f, t]) => `| \`${f.replace(/\|/g, '\\|')}\` | ${(t / 1000).toFixed(0)} ms | ${pct(t)} |`),
      '',
    ];
    const out = path.join(ROOT, `bench/results/profile-${route}.md`);
    writeFileSync(out, lines.join('\n'));
    process.stdout.write(`${lines.join('\n')}\nraw profile: ${path.join(dir, file)}\nwritten: ${out}\n`);
  } finally {
    await redis.stop();
  }
}

// Run only as a script: bench tooling may import analyze() from here.
if (process.argv[1]?.endsWith('profile.ts'))
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`profile failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
