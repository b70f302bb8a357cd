// Offline Kubernetes manifest validation (no cluster, no network).
//
// 1. Rendering: `kubectl kustomize` when kubectl is installed, else a small renderer that only
//    follows `resources:` and REFUSES any other kustomization field (a transformer it cannot
//    apply would otherwise be silently skipped and the test would validate the wrong YAML).
// 2. Schema: every built-in object is validated by the kubernetes-models package (the
//    Kubernetes OpenAPI schemas compiled to ajv validators: types, enums, required fields).
// 3. Unknown fields: those schemas accept unknown properties, but `kubectl apply` (strict
//    field validation) rejects them, and a misspelt field such as `readinessprobe` would
//    otherwise pass silently. The field lists come from the package's TypeScript interfaces.
// 4. Cross-object checks that the API server does not do but that break a rollout: selectors
//    vs template labels, named ports, Service/PDB/HPA/NetworkPolicy targets, duplicates.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  arrAt,
  isObject,
  objAt,
  parseYamlDocs,
  PROJECT_ROOT,
  readYamlFile,
  show,
  strAt,
  stringMap,
  type Json,
  type JsonObject,
} from './yaml-util.js';

export interface Problem {
  severity: 'error' | 'warning';
  object: string;
  field: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.severity.toUpperCase()} ${p.object}${p.field ? `: ${p.field}` : ''}: ${p.message}`;
}

// ---------------------------------------------------------------- rendering

export function kubectlPath(): string | null {
  if (process.env.K8S_VALIDATE_NO_KUBECTL === '1') return null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'kubectl');
    if (existsSync(p)) return p;
  }
  return null;
}

function kustomizationFile(dir: string): string | null {
  for (const n of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const p = path.join(dir, n);
    if (existsSync(p)) return p;
  }
  return null;
}

// Fields the fallback renderer understands; anything else must go through kubectl.
const FALLBACK_FIELDS = new Set(['apiVersion', 'kind', 'resources']);

/** Renders a kustomization by following `resources:` only (files and sub-directories). */
export function renderFallback(dir: string, seen: Set<string> = new Set()): JsonObject[] {
  const kf = kustomizationFile(dir);
  if (!kf) throw new Error(`${dir}: no kustomization.yaml`);
  if (seen.has(kf)) throw new Error(`${kf}: kustomization cycle`);
  seen.add(kf);
  const [k] = readYamlFile(kf);
  if (!isObject(k)) throw new Error(`${kf}: not a mapping`);
  const unsupported = Object.keys(k).filter((f) => !FALLBACK_FIELDS.has(f));
  if (unsupported.length) {
    throw new Error(
      `${kf}: the offline renderer (no kubectl) cannot apply: ${unsupported.join(', ')}; install kubectl or keep the base to resources only`,
    );
  }
  const out: JsonObject[] = [];
  for (const r of arrAt(k, 'resources')) {
    if (typeof r !== 'string') throw new Error(`${kf}: resources entries must be strings`);
    if (/^[a-z]+:\/\//i.test(r) || r.startsWith('github.com/')) throw new Error(`${kf}: remote resource not supported offline: ${r}`);
    const p = path.resolve(dir, r);
    if (!existsSync(p)) throw new Error(`${kf}: missing resource ${r}`);
    if (statSync(p).isDirectory()) out.push(...renderFallback(p, seen));
    else out.push(...objectsOf(readYamlFile(p), p));
  }
  return out;
}

function objectsOf(docs: Json[], source: string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const d of docs) {
    if (!isObject(d)) throw new Error(`${source}: a document is not a mapping`);
    // v1 List objects are what some tools emit; kustomize flattens them too.
    if (d.kind === 'List' && Array.isArray(d.items)) out.push(...objectsOf(d.items, source));
    else out.push(d);
  }
  return out;
}

export function renderWithKubectl(dir: string, kubectl: string): JsonObject[] {
  const text = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  return objectsOf(parseYamlDocs(text, `kubectl kustomize ${dir}`), dir);
}

/** Renders `dir` as `kubectl apply -k dir` would see it. */
export function renderKustomization(dir: string): { objects: JsonObject[]; renderer: 'kubectl' | 'fallback' } {
  const kubectl = kubectlPath();
  if (kubectl) return { objects: renderWithKubectl(dir, kubectl), renderer: 'kubectl' };
  return { objects: renderFallback(dir), renderer: 'fallback' };
}

// ---------------------------------------------------------------- unknown-field index

interface Iface {
  props: Map<string, string>;
  /** extends something other than TypeMeta that we did not resolve: do not flag unknowns */
  open: boolean;
}

function findPackageDir(name: string): string {
  // Walk up like Node's resolver; the packages' `exports` hide package.json from require.
  let dir = PROJECT_ROOT;
  for (;;) {
    const p = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(p, 'package.json'))) return p;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package ${name} not found (npm install)`);
    dir = up;
  }
}

function splitTop(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if ('{<(['.includes(ch)) depth++;
    if ('}>)]'.includes(ch)) depth--;
    if (ch === sep && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  return parts;
}

/** `"name"?: Type; ...` members of an interface or object literal body (whitespace-normalised). */
function parseProps(body: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const part of splitTop(body, ';')) {
    const pm = /^\s*"([^"]+)"\??\s*:\s*(.+?)\s*$/.exec(part);
    if (pm?.[1] && pm[2]) props.set(pm[1], pm[2]);
  }
  return props;
}

class InterfaceIndex {
  private readonly byAlias = new Map<string, Iface>();
  private readonly byFile = new Map<string, Iface>();

  constructor(roots: string[]) {
    for (const r of roots) this.walk(r);
  }

  private walk(dir: string): void {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== '_schemas' && e.name !== 'node_modules') this.walk(p);
      } else if (e.name.endsWith('.d.ts') && e.name !== 'index.d.ts') this.indexFile(p);
    }
  }

  // Each generated .d.ts holds one `export interface IName [extends ...] { "field"?: Type; ... }`
  // and `export type { IName as IIoK8s...Name }`, the global alias other files refer to.
  private indexFile(file: string): void {
    let s = readFileSync(file, 'utf8');
    const m = /export interface (\w+)(?: extends ([\w, ]+))? \{/.exec(s);
    if (!m?.[1]) return;
    const name = m[1];
    s = s.replace(/\/\*[\s\S]*?\*\//g, '');
    const start = s.indexOf('{', s.indexOf(`export interface ${name}`));
    let depth = 0;
    let end = start;
    for (; end < s.length; end++) {
      if (s[end] === '{') depth++;
      if (s[end] === '}' && --depth === 0) break;
    }
    const body = s.slice(start + 1, end).replace(/\s+/g, ' ');
    const props = parseProps(body);
    const ext = (m[2] ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    if (ext.includes('TypeMeta')) {
      props.set('apiVersion', 'string');
      props.set('kind', 'string');
    }
    const entry: Iface = { props, open: ext.some((x) => x !== 'TypeMeta') };
    const alias = new RegExp(`export type \\{ ${name} as (\\w+)`).exec(s);
    if (alias?.[1]) this.byAlias.set(alias[1], entry);
    this.byFile.set(file, entry);
  }

  forFile(file: string): Iface | undefined {
    return this.byFile.get(file);
  }

  /** Reports every property of `value` that the TypeScript type `type` does not declare. */
  check(
    value: Json | undefined,
    type: string | Iface,
    at: (string | number)[],
    report: (at: (string | number)[], msg: string) => void,
  ): void {
    if (value === null || value === undefined || typeof value !== 'object') return;
    let entry: Iface | undefined;
    if (typeof type === 'string') {
      const t = type.trim();
      const arr = /^Array<(.+)>$/.exec(t);
      if (arr?.[1]) {
        const inner = arr[1];
        if (Array.isArray(value)) value.forEach((v, i) => this.check(v, inner, [...at, i], report));
        return;
      }
      const map = /^\{ ?\[key: string\]: (.+?);? ?\}$/.exec(t);
      if (map?.[1]) {
        const inner = map[1];
        if (isObject(value)) for (const [k, v] of Object.entries(value)) this.check(v, inner, [...at, k], report);
        return;
      }
      // Inline object literal types, e.g. StatefulSetSpec.volumeClaimTemplates: Array<{ "apiVersion"?: string; ... }>.
      if (t.startsWith('{') && t.endsWith('}')) entry = { props: parseProps(t.slice(1, -1)), open: false };
      else entry = /^I\w+$/.test(t) ? this.byAlias.get(t) : undefined;
    } else entry = type;
    // Unresolved types (unions, aliases such as IntOrString, Quantity, JSON) are not walked.
    if (!entry || entry.props.size === 0 || !isObject(value)) return;
    for (const [k, v] of Object.entries(value)) {
      const t = entry.props.get(k);
      if (t === undefined) {
        if (!entry.open) report([...at, k], `unknown field${suggest(k, [...entry.props.keys()])}`);
        continue;
      }
      this.check(v, t, [...at, k], report);
    }
  }
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function suggest(name: string, candidates: string[]): string {
  let best: string | null = null;
  let bestDist = 3;
  for (const c of candidates) {
    const d = c.toLowerCase() === name.toLowerCase() ? 0 : levenshtein(name, c);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

export function fmtPath(parts: (string | number)[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : (i ? '.' : '') + p)).join('');
}

// ---------------------------------------------------------------- schema validation

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}
type ModelCtor = new (data: JsonObject) => { validate(): void };

function isAjvErrorList(v: unknown): v is AjvError[] {
  return Array.isArray(v) && v.every((e) => isObject(e) && typeof e.instancePath === 'string' && typeof e.keyword === 'string');
}

export class K8sValidator {
  private readonly modelsDir = findPackageDir('kubernetes-models');
  private readonly index = new InterfaceIndex([this.modelsDir, findPackageDir('@kubernetes-models/apimachinery')]);
  private readonly groups = new Set(
    readdirSync(this.modelsDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== '_schemas' && e.name !== 'node_modules')
      .map((e) => e.name),
  );
  private readonly modules = new Map<string, Record<string, unknown>>();

  private async model(
    apiVersion: string,
    kind: string,
  ): Promise<{ builtin: false } | { builtin: true; error: string } | { builtin: true; Ctor: ModelCtor; dts: string }> {
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
    const builtin = group === '' ? true : this.groups.has(group);
    if (!builtin) return { builtin: false };
    const rel = group === '' ? version : `${group}/${version}`;
    if (!existsSync(path.join(this.modelsDir, rel)))
      return { builtin: true, error: `unknown apiVersion "${apiVersion}" for built-in group "${group || 'core'}"` };
    let mod = this.modules.get(rel);
    if (!mod) {
      // Loaded lazily per API group (the package is large); vite must not try to pre-resolve it.
      mod = (await import(/* @vite-ignore */ `kubernetes-models/${rel}`)) as Record<string, unknown>;
      this.modules.set(rel, mod);
    }
    const Ctor = mod[kind];
    const isModel = (c: unknown): boolean => typeof c === 'function' && (c as { kind?: unknown }).kind !== undefined;
    if (!isModel(Ctor) || (Ctor as { kind?: unknown }).kind !== kind) {
      const kinds = Object.keys(mod).filter((k) => isModel(mod[k]) && (mod[k] as { kind?: unknown }).kind === k);
      return { builtin: true, error: `unknown kind "${kind}" in ${apiVersion}${suggest(kind, kinds)}` };
    }
    return { builtin: true, Ctor: Ctor as ModelCtor, dts: path.join(this.modelsDir, rel, `${kind}.d.ts`) };
  }

  /** Validates objects one by one, then across objects. Never throws for invalid input. */
  async validate(objects: JsonObject[]): Promise<Problem[]> {
    const problems: Problem[] = [];
    for (const doc of objects) problems.push(...(await this.validateOne(doc)));
    problems.push(...crossChecks(objects));
    return problems;
  }

  private async validateOne(doc: JsonObject): Promise<Problem[]> {
    const problems: Problem[] = [];
    const name = objectName(doc);
    const error = (field: string, message: string): void => {
      problems.push({ severity: 'error', object: name, field, message });
    };
    const { apiVersion, kind } = doc;
    if (typeof apiVersion !== 'string' || !apiVersion) {
      error('apiVersion', 'required field is missing');
      return problems;
    }
    if (typeof kind !== 'string' || !kind) {
      error('kind', 'required field is missing');
      return problems;
    }
    if (!strAt(doc, 'metadata', 'name') && !strAt(doc, 'metadata', 'generateName')) error('metadata.name', 'required field is missing');
    const model = await this.model(apiVersion, kind);
    if (!model.builtin) {
      problems.push({
        severity: 'warning',
        object: name,
        field: '',
        message: `apiVersion ${apiVersion} is not a built-in API (CRD?); not schema-validated`,
      });
      return problems;
    }
    if ('error' in model) {
      error('apiVersion/kind', model.error);
      return problems;
    }
    try {
      new model.Ctor(doc).validate();
    } catch (e: unknown) {
      const list = isObject(e) || e instanceof Error ? (e as { errors?: unknown }).errors : undefined;
      if (!isAjvErrorList(list) || list.length === 0) error('', e instanceof Error ? e.message : show(e));
      else {
        const seen = new Set<string>();
        for (const ae of list) {
          const [field, msg] = describeAjv(ae, doc);
          if (seen.has(`${field}: ${msg}`)) continue;
          seen.add(`${field}: ${msg}`);
          error(field, msg);
        }
      }
    }
    const root = this.index.forFile(model.dts);
    if (!root) error('', `no type information for ${apiVersion} ${kind}`);
    else this.index.check(doc, root, [], (parts, msg) => error(fmtPath(parts), msg));
    return problems;
  }
}

function describeAjv(e: AjvError, doc: JsonObject): [string, string] {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
  let field = fmtPath(parts);
  let msg = e.message ?? e.keyword;
  if (e.keyword === 'required') {
    field = fmtPath([...parts, show(e.params.missingProperty)]);
    msg = 'required field is missing';
  } else if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) {
    msg = `must be one of: ${e.params.allowedValues.map(String).join(', ')}`;
  }
  let got: unknown = doc;
  for (const p of parts) got = isObject(got) || Array.isArray(got) ? (got as Record<string | number, unknown>)[p] : undefined;
  if (e.keyword !== 'required' && got !== undefined && (typeof got !== 'object' || got === null)) msg += ` (got ${JSON.stringify(got)})`;
  return [field, msg];
}

export function objectName(doc: JsonObject): string {
  const kind = typeof doc.kind === 'string' ? doc.kind : '?';
  const ns = strAt(doc, 'metadata', 'namespace');
  return `${kind} ${ns ? `${ns}/` : ''}${strAt(doc, 'metadata', 'name') ?? '?'}`;
}

// ---------------------------------------------------------------- cross-object checks

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

export function isSubset(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function containersOf(workload: JsonObject): JsonObject[] {
  return [
    ...arrAt(workload, 'spec', 'template', 'spec', 'initContainers'),
    ...arrAt(workload, 'spec', 'template', 'spec', 'containers'),
  ].filter(isObject);
}

function crossChecks(objects: JsonObject[]): Problem[] {
  const problems: Problem[] = [];
  const error = (object: string, field: string, message: string): void => {
    problems.push({ severity: 'error', object, field, message });
  };
  const warn = (object: string, field: string, message: string): void => {
    problems.push({ severity: 'warning', object, field, message });
  };
  const groupOf = (doc: JsonObject): string =>
    typeof doc.apiVersion === 'string' && doc.apiVersion.includes('/') ? (doc.apiVersion.split('/')[0] ?? '') : '';

  const seen = new Set<string>();
  for (const doc of objects) {
    const key = `${groupOf(doc)}/${show(doc.kind)}/${strAt(doc, 'metadata', 'namespace') ?? ''}/${strAt(doc, 'metadata', 'name') ?? ''}`;
    if (seen.has(key)) error(objectName(doc), '', 'duplicate object (same group, kind, namespace and name)');
    seen.add(key);
  }

  const workloads = objects.filter((o) => typeof o.kind === 'string' && WORKLOADS.has(o.kind));
  for (const w of workloads) {
    const name = objectName(w);
    const labels = stringMap(objAt(w, 'spec', 'template', 'metadata', 'labels'));
    const ml = objAt(w, 'spec', 'selector', 'matchLabels');
    if (ml && !isSubset(stringMap(ml), labels))
      error(name, 'spec.selector.matchLabels', `does not match spec.template.metadata.labels ${JSON.stringify(labels)}`);
    containersOf(w).forEach((c, ci) => {
      const portNames = new Set(
        arrAt(c, 'ports')
          .map((p) => strAt(p, 'name'))
          .filter((n): n is string => !!n),
      );
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const port = objAt(c, probe, 'httpGet')?.port ?? objAt(c, probe, 'tcpSocket')?.port;
        if (typeof port === 'string' && !/^\d+$/.test(port) && !portNames.has(port)) {
          error(
            name,
            `spec.template.spec.containers[${ci}].${probe}`,
            `named port "${port}" is not declared in the container's ports (${[...portNames].join(', ') || 'none'})`,
          );
        }
      }
    });
  }

  const sameNs = (a: JsonObject, b: JsonObject): boolean => strAt(a, 'metadata', 'namespace') === strAt(b, 'metadata', 'namespace');
  const selected = (doc: JsonObject, sel: Record<string, string>): JsonObject[] =>
    workloads.filter((w) => sameNs(doc, w) && isSubset(sel, stringMap(objAt(w, 'spec', 'template', 'metadata', 'labels'))));

  for (const doc of objects) {
    const name = objectName(doc);
    if (doc.kind === 'Service' && objAt(doc, 'spec', 'selector')) {
      const hits = selected(doc, stringMap(objAt(doc, 'spec', 'selector')));
      if (!hits.length) warn(name, 'spec.selector', 'matches no workload in this bundle');
      arrAt(doc, 'spec', 'ports').forEach((sp, i) => {
        const tp = objAt(sp)?.targetPort;
        if (
          typeof tp === 'string' &&
          hits.length &&
          !hits.some((h) => containersOf(h).some((c) => arrAt(c, 'ports').some((p) => strAt(p, 'name') === tp)))
        ) {
          error(name, `spec.ports[${i}].targetPort`, `named port "${tp}" is not declared by any selected workload container`);
        }
      });
    }
    if (doc.kind === 'PodDisruptionBudget') {
      const ml = objAt(doc, 'spec', 'selector', 'matchLabels');
      if (ml && !selected(doc, stringMap(ml)).length) warn(name, 'spec.selector', 'matches no workload in this bundle');
    }
    if (doc.kind === 'HorizontalPodAutoscaler') {
      const ref = objAt(doc, 'spec', 'scaleTargetRef');
      if (ref && !objects.some((o) => o.kind === ref.kind && strAt(o, 'metadata', 'name') === ref.name && sameNs(o, doc))) {
        warn(name, 'spec.scaleTargetRef', `${show(ref.kind)}/${show(ref.name)} is not in this bundle`);
      }
    }
    if (doc.kind === 'NetworkPolicy') {
      const ml = objAt(doc, 'spec', 'podSelector', 'matchLabels');
      if (ml && Object.keys(ml).length && !selected(doc, stringMap(ml)).length)
        warn(name, 'spec.podSelector', 'matches no workload in this bundle');
      arrAt(doc, 'spec', 'ingress').forEach((rule, ri) => {
        arrAt(rule, 'from').forEach((peer, pi) => {
          const pl = objAt(peer, 'podSelector', 'matchLabels');
          if (pl && !objAt(peer, 'namespaceSelector') && Object.keys(pl).length && !selected(doc, stringMap(pl)).length) {
            warn(name, `spec.ingress[${ri}].from[${pi}].podSelector`, 'matches no workload in this bundle');
          }
        });
      });
    }
  }
  return problems;
}
