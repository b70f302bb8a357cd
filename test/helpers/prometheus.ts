// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests.
// Why not an npm parser: the ones published (parse-prometheus-text-format, prom2javascript) are
// unmaintained, and parse-prometheus-text-format merges every labelled histogram series into one,
// dropping labels, _sum and _count: exactly what /metrics is made of. The format is small and
// specified (https://prometheus.io/docs/instrumenting/exposition_formats/), so this checks every
// rule a scrape would trip over: line grammar, label escaping, TYPE/HELP once and before the
// samples, families contiguous, no duplicate series, histogram buckets cumulative with +Inf ==
// _count and a _sum. Where Prometheus' own `promtool` is installed the tests also run it.
import { spawnSync } from 'node:child_process';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | null;
  samples: Sample[];
}

export type Exposition = Map<string, Family>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class ExpositionError extends Error {
  constructor(lineNo: number, line: string, why: string) {
    super(`line ${lineNo}: ${why}: ${JSON.stringify(line.slice(0, 200))}`);
  }
}

/** Go's ParseFloat, which Prometheus uses: special values in any case (prom-client writes `Nan`). */
function parseValue(s: string): number | null {
  if (/^\+?inf(inity)?$/i.test(s)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(s)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(s)) return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  return Number(s);
}

/** Parses `name{a="b",...} value [timestamp]`; throws on anything malformed. */
function parseSample(line: string, lineNo: number): Sample {
  const fail = (why: string): never => {
    throw new ExpositionError(lineNo, line, why);
  };
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i]!)) i++;
  const name = line.slice(0, i);
  if (!METRIC_NAME.test(name)) fail('bad metric name');
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      if (line[i] === '}') {
        i++;
        break;
      }
      const start = i;
      while (i < line.length && /[a-zA-Z0-9_]/.test(line[i]!)) i++;
      const label = line.slice(start, i);
      if (!LABEL_NAME.test(label)) fail('bad label name');
      if (line[i] !== '=' || line[i + 1] !== '"') fail('expected ="');
      i += 2;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) fail('unterminated label value');
        if (c === '"') break;
        if (c === '\\') {
          const n = line[i + 1];
          if (n === '\\') value += '\\';
          else if (n === '"') value += '"';
          else if (n === 'n') value += '\n';
          else fail('bad escape in label value');
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++;
      if (label in labels) fail(`label ${label} repeated`);
      labels[label] = value;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') fail('expected , or }');
    }
  }
  if (line[i] !== ' ') fail('expected a space before the value');
  const rest = line.slice(i + 1).split(' ');
  if (rest.length < 1 || rest.length > 2) fail('expected value [timestamp]');
  const value = parseValue(rest[0]!);
  if (value === null) fail('bad value');
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1]!)) fail('bad timestamp');
  return { name, labels, value: value! };
}

function familyOf(sampleName: string, families: Exposition): Family | undefined {
  const exact = families.get(sampleName);
  if (exact) return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const f = families.get(sampleName.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

const seriesKey = (s: Sample, without?: string) =>
  `${s.name}{${Object.keys(s.labels)
    .filter((k) => k !== without)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
    .join(',')}}`;

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const key = seriesKey({ ...s, name: '' }, 'le');
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === `${f.name}_bucket`) {
      const le = s.labels.le;
      if (le === undefined) throw new Error(`${f.name}: bucket without le ${key}`);
      g.buckets.push([parseValue(le) ?? Number.NaN, s.value]);
    } else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else if (s.name === `${f.name}_count`) g.count = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, g] of groups) {
    if (g.sum === undefined || g.count === undefined) throw new Error(`${f.name}${key}: missing _sum or _count`);
    for (let i = 1; i < g.buckets.length; i++) {
      const [prevLe, prevN] = g.buckets[i - 1]!;
      const [le, n] = g.buckets[i]!;
      if (!(le > prevLe)) throw new Error(`${f.name}${key}: le not increasing`);
      if (n < prevN) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    const last = g.buckets.at(-1);
    if (!last || last[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (last[1] !== g.count) throw new Error(`${f.name}${key}: +Inf bucket ${last[1]} != _count ${g.count}`);
  }
}

/** Parses and validates a whole scrape; throws with the offending line on any violation. */
export function parseExposition(text: string): Exposition {
  const families: Exposition = new Map();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: Family | null = null;
  const lines = text.split('\n');
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition must end with a newline');
  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) throw new ExpositionError(lineNo, line, 'bad metric name');
      if (closed.has(name!)) throw new ExpositionError(lineNo, line, 'family appears twice (not contiguous)');
      let f = families.get(name!);
      if (!f) {
        if (current) closed.add(current.name);
        f = { name: name!, type: 'untyped', help: null, samples: [] };
        families.set(name!, f);
        current = f;
      } else if (f !== current) {
        throw new ExpositionError(lineNo, line, 'family interleaved with another');
      }
      if (kind === 'HELP') {
        if (f.help !== null) throw new ExpositionError(lineNo, line, 'HELP repeated');
        f.help = rest;
      } else {
        if (!TYPES.has(rest as MetricType)) throw new ExpositionError(lineNo, line, 'unknown TYPE');
        if (f.samples.length > 0) throw new ExpositionError(lineNo, line, 'TYPE after samples');
        if (f.type !== 'untyped') throw new ExpositionError(lineNo, line, 'TYPE repeated');
        f.type = rest as MetricType;
      }
      return;
    }
    const s = parseSample(line, lineNo);
    let f = familyOf(s.name, families);
    if (!f) {
      // An untyped sample without TYPE line starts its own family.
      if (current) closed.add(current.name);
      f = { name: s.name, type: 'untyped', help: null, samples: [] };
      families.set(s.name, f);
      current = f;
    }
    if (f !== current) throw new ExpositionError(lineNo, line, `sample of ${f.name} outside its family block`);
    const key = seriesKey(s);
    if (seen.has(key)) throw new ExpositionError(lineNo, line, 'duplicate series');
    seen.add(key);
    if (f.type === 'counter' && !(s.value >= 0)) throw new ExpositionError(lineNo, line, 'negative counter');
    f.samples.push(s);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

const matches = (s: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => s.labels[k] === v);

/** Sum of the samples called `name` whose labels include `labels` (0 when there are none). */
export function valueOf(exp: Exposition, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const f of exp.values()) {
    for (const s of f.samples) if (s.name === name && matches(s, labels)) total += s.value;
  }
  return total;
}

/** The samples called `name` (any labels). */
export function samplesOf(exp: Exposition, name: string): Sample[] {
  const out: Sample[] = [];
  for (const f of exp.values()) for (const s of f.samples) if (s.name === name) out.push(s);
  return out;
}

/** `promtool` on PATH, or null. */
export function promtool(): string | null {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'promtool' : null;
}

/**
 * Runs `promtool check metrics` (Prometheus' own parser and linter) on a scrape. Returns the lint
 * findings; throws when the text does not parse at all.
 */
export function promtoolCheckMetrics(text: string): string[] {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  const out = `${r.stdout}${r.stderr}`.trim();
  // 0: clean, 3: lint findings only; anything else is a parse failure.
  if (r.status !== 0 && r.status !== 3) throw new Error(`promtool check metrics failed (${r.status}): ${out}`);
  return out ? out.split('\n') : [];
}
