// Result rows, target checks and the markdown/JSON report.
import { cpus } from 'node:os';
import type { Summary } from './stats.js';
import type { RedisServer } from './procs.js';

export interface Row {
  section: string;
  measure: string;
  value: Summary;
  unit: string;
  note?: string;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

export interface BenchOptions {
  quick: boolean;
  runs: number;
  /** Seconds per throughput run. */
  duration: number;
  warmup: number;
  connections: number;
  heartbeatPopulation: number;
  listSizes: number[];
  listDuration: number;
  registerPerRun: number;
  costCalls: number;
  memoryInstances: number;
  memoryMessages: number;
  cleanupExpire: number;
  cleanupLive: number[];
  wakeTrials: number;
  failoverTrials: number;
  failoverStaleMs: number;
  failoverIntervalMs: number;
  /** Scale phase: live populations measured, seconds of mixed load each, its rates, the storm. */
  scalePopulations: number[];
  scaleSeconds: number;
  scaleHeartbeatRate: number;
  scaleRegisterRate: number;
  scaleStorm: boolean;
  only: Set<string> | null;
}

export interface BenchContext {
  opts: BenchOptions;
  redis: RedisServer;
  rows: Row[];
  targets: TargetCheck[];
  details: Record<string, unknown>;
  /** Figures later phases compare with (e.g. heartbeat req/s for the etcd anchor). */
  shared: Map<string, Summary>;
  log(message: string): void;
}

export function addRow(ctx: BenchContext, row: Row): void {
  ctx.rows.push(row);
  ctx.log(
    `  ${row.measure}: ${fmt(row.value.median)} ${row.unit} (${fmt(row.value.min)}-${fmt(row.value.max)})${row.note ? ` ${row.note}` : ''}`,
  );
}

export function addTarget(ctx: BenchContext, t: TargetCheck): void {
  ctx.targets.push(t);
  ctx.log(`  target ${t.target}: ${t.measured} -> ${t.met === null ? 'n/a' : t.met ? 'MET' : 'MISSED'}`);
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 100_000) return Math.round(v).toLocaleString('en-US');
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

export function markdown(ctx: Pick<BenchContext, 'opts' | 'rows' | 'targets'>, env: Record<string, string>): string {
  const lines: string[] = [];
  lines.push('# Benchmark results');
  lines.push('');
  lines.push(
    `${env.date} on ${env.cpu} (${env.cores} cores), Node ${env.node}, Redis ${env.redis}${env.etcd ? `, etcd ${env.etcd}` : ''}. ` +
      `Mode: ${ctx.opts.quick ? 'quick (smoke)' : 'full'}; ${ctx.opts.runs} runs per figure (median, min-max), ` +
      `${ctx.opts.duration} s per load run, ${ctx.opts.connections} connections, autocannon on the same machine. ` +
      'Machine-dependent figures are also given as ratios to a baseline measured in the same run.',
  );
  lines.push('');
  lines.push('| # | measure | median | min-max | unit | note |');
  lines.push('|---|---|---:|---:|---|---|');
  // By section (phases add rows to several sections); stable, so each phase's order is kept.
  const rows = [...ctx.rows].sort((a, b) => Number(a.section) - Number(b.section));
  for (const r of rows) {
    lines.push(
      `| ${r.section} | ${r.measure} | ${fmt(r.value.median)} | ${fmt(r.value.min)}-${fmt(r.value.max)} | ${r.unit} | ${r.note ?? ''} |`,
    );
  }
  lines.push('');
  lines.push('## Targets');
  lines.push('');
  lines.push('| target | measured | met |');
  lines.push('|---|---|---|');
  for (const t of ctx.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? 'n/a' : t.met ? 'yes' : '**no**'} |`);
  lines.push('');
  return lines.join('\n');
}

export async function environment(redis: RedisServer): Promise<Record<string, string>> {
  const info = await redis.client.info('server');
  const m = /redis_version:(\S+)/.exec(info);
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown cpu',
    cores: String(cpus().length),
    node: process.versions.node,
    redis: m?.[1] ?? 'unknown',
  };
}
