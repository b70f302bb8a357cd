// k8s/ must render, validate offline against the Kubernetes schemas (with unknown-field
// detection), and stay consistent with the server's config, probes and ports. Negative cases
// feed broken copies through the same checks to prove they can fail.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configProblems, find, NAMES, redisProblems, registryContainer, registryProblems, secretEnv } from './lib/k8s-drift.js';
import {
  formatProblem,
  K8sValidator,
  kubectlPath,
  renderFallback,
  renderKustomization,
  renderWithKubectl,
  type Problem,
} from './lib/k8s-validate.js';
import { arrAt, at, isObject, objAt, PROJECT_ROOT, show, strAt, type JsonObject } from './lib/yaml-util.js';

const K8S_DIR = path.join(PROJECT_ROOT, 'k8s');
const KUBECTL = kubectlPath();

let objects: JsonObject[] = [];
let validator: K8sValidator;
const tmpDirs: string[] = [];

const clone = (o: JsonObject[]): JsonObject[] => structuredClone(o);
const lines = (ps: Problem[]): string[] => ps.map(formatProblem);
const errors = (ps: Problem[]): string[] => lines(ps.filter((p) => p.severity === 'error'));

function mutableContainer(objs: JsonObject[]): JsonObject {
  const c = registryContainer(objs);
  if (!c) throw new Error('registry container missing');
  return c;
}

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'k8s-test-'));
  tmpDirs.push(d);
  return d;
}

beforeAll(async () => {
  objects = renderKustomization(K8S_DIR).objects;
  validator = new K8sValidator();
  // Warm the lazy imports of kubernetes-models once, outside the individual test timeouts.
  await validator.validate(objects);
}, 120_000);

afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('k8s/ kustomize base', () => {
  it('renders exactly the expected objects', () => {
    const ids = objects.map((o) => `${show(o.kind)}/${strAt(o, 'metadata', 'name') ?? '?'}`).sort();
    expect(ids).toEqual(
      [
        'ConfigMap/agent-mesh-config',
        'Deployment/agent-mesh-registry',
        'HorizontalPodAutoscaler/agent-mesh-registry',
        'NetworkPolicy/agent-mesh-redis',
        'NetworkPolicy/agent-mesh-registry',
        'PodDisruptionBudget/agent-mesh-registry',
        'Secret/agent-mesh-secrets',
        'Service/agent-mesh-redis',
        'Service/agent-mesh-registry',
        'StatefulSet/agent-mesh-redis',
      ].sort(),
    );
  });

  it('every object passes schema, unknown-field and cross-object validation (no warnings either)', async () => {
    expect(lines(await validator.validate(objects))).toEqual([]);
  });

  it.skipIf(!KUBECTL)('the offline renderer gives the same objects as kubectl kustomize', () => {
    // CI machines may lack kubectl; this keeps the fallback path honest where it exists.
    const key = (o: JsonObject): string => `${show(o.kind)}/${strAt(o, 'metadata', 'name') ?? ''}`;
    const sort = (xs: JsonObject[]): JsonObject[] => [...xs].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sort(renderFallback(K8S_DIR))).toEqual(sort(renderWithKubectl(K8S_DIR, KUBECTL ?? 'kubectl')));
  });

  it('config: ConfigMap/Secret/env names are src/config.ts keys and the pod environment loads', () => {
    expect(configProblems(objects)).toEqual([]);
  });

  it('the example Secret holds only obvious placeholders, never real-looking tokens', () => {
    const values = Object.values(secretEnv(find(objects, 'Secret', NAMES.secret)));
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(v).toMatch(/^example-.*CHANGE-ME$/);
  });

  it('registry: probes, ports, selectors, HPA/PDB, shutdown timing and hardening are consistent', () => {
    expect(registryProblems(objects)).toEqual([]);
    const c = mutableContainer(objects);
    expect(strAt(c, 'image')).toBe(NAMES.image);
    expect(at(find(objects, 'Deployment', NAMES.deployment), 'spec', 'replicas')).toBe(3);
    const hpa = find(objects, 'HorizontalPodAutoscaler', NAMES.deployment);
    expect(at(hpa, 'apiVersion')).toBe('autoscaling/v2');
    expect([at(hpa, 'spec', 'minReplicas'), at(hpa, 'spec', 'maxReplicas')]).toEqual([3, 10]);
    expect(at(hpa, 'spec', 'metrics', 0, 'resource', 'target', 'averageUtilization')).toBe(70);
    const spread = arrAt(find(objects, 'Deployment', NAMES.deployment), 'spec', 'template', 'spec', 'topologySpreadConstraints');
    expect(spread.map((s) => strAt(s, 'topologyKey'))).toContain('kubernetes.io/hostname');
  });

  it('redis: headless Service, AOF, PVC, REDIS_URL and NetworkPolicies match the real labels/ports', () => {
    expect(redisProblems(objects)).toEqual([]);
  });

  it.skipIf(!KUBECTL)('the image can be overridden with a kustomize overlay as k8s/README.md documents', () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, 'kustomization.yaml'),
      `resources:\n  - ${path.relative(dir, K8S_DIR)}\nimages:\n  - name: agent-mesh-registry\n    newName: registry.example.com/agent-mesh-registry\n    newTag: "1.2.3"\n`,
    );
    const over = renderWithKubectl(dir, KUBECTL ?? 'kubectl');
    expect(strAt(mutableContainer(over), 'image')).toBe('registry.example.com/agent-mesh-registry:1.2.3');
  });
});

describe('k8s validators catch broken copies', () => {
  it('unknown (misspelt) field, with a suggestion', async () => {
    const b = clone(objects);
    const c = mutableContainer(b);
    c.readinessprobe = c.readinessProbe ?? null;
    delete c.readinessProbe;
    // Also inside an inline object type (StatefulSetSpec.volumeClaimTemplates is one).
    const claim = at(find(b, 'StatefulSet', NAMES.redis), 'spec', 'volumeClaimTemplates', 0, 'spec', 'resources');
    if (isObject(claim)) {
      claim.request = claim.requests ?? null;
      delete claim.requests;
    }
    const errs = errors(await validator.validate(b));
    expect(errs.join('\n')).toMatch(
      /Deployment agent-mesh-registry: spec\.template\.spec\.containers\[0\]\.readinessprobe: unknown field \(did you mean "readinessProbe"\?\)/,
    );
    expect(errs.join('\n')).toMatch(
      /StatefulSet agent-mesh-redis: spec\.volumeClaimTemplates\[0\]\.spec\.resources\.request: unknown field \(did you mean "requests"\?\)/,
    );
    expect(registryProblems(b)).toContain('readinessProbe must be an httpGet probe on /readyz');
  });

  it('wrong type and bad enum value', async () => {
    const b = clone(objects);
    const c = mutableContainer(b);
    const port = arrAt(c, 'ports')[0];
    if (isObject(port)) port.containerPort = '8080';
    c.imagePullPolicy = 'Sometimes';
    const errs = errors(await validator.validate(b)).join('\n');
    expect(errs).toMatch(/containers\[0\]\.ports\[0\]\.containerPort: must be integer \(got "8080"\)/);
    expect(errs).toMatch(/containers\[0\]\.imagePullPolicy: must be one of: Always, IfNotPresent, Never/);
  });

  it('renamed container port: probes and Service targetPort no longer resolve', async () => {
    const b = clone(objects);
    const port = arrAt(mutableContainer(b), 'ports')[0];
    if (isObject(port)) port.name = 'web';
    const errs = errors(await validator.validate(b)).join('\n');
    expect(errs).toMatch(/livenessProbe: named port "http" is not declared/);
    expect(errs).toMatch(/Service agent-mesh-registry: spec\.ports\[0\]\.targetPort: named port "http" is not declared/);
    expect(registryProblems(b)).toContain('container has no port named http');
  });

  it('selector that does not match the template labels; unknown kind; missing name', async () => {
    const b = clone(objects);
    const ml = objAt(find(b, 'Deployment', NAMES.deployment), 'spec', 'selector', 'matchLabels');
    if (ml) ml['app.kubernetes.io/name'] = 'something-else';
    b.push({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } });
    b.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} });
    const errs = errors(await validator.validate(b)).join('\n');
    expect(errs).toMatch(/spec\.selector\.matchLabels: does not match spec\.template\.metadata\.labels/);
    expect(errs).toMatch(/unknown kind "Deploymnet" in apps\/v1 \(did you mean "Deployment"\?\)/);
    expect(errs).toMatch(/ConfigMap \?: metadata\.name: required field is missing/);
    expect(registryProblems(b)).toContain('Deployment selector does not match its template labels');
  });

  it('config drift: unknown variable, invalid value, port mismatch, wrong probe path', () => {
    const b = clone(objects);
    const data = objAt(find(b, 'ConfigMap', NAMES.configMap), 'data');
    if (!data) throw new Error('ConfigMap data missing');
    data.HEARTBEAT_INTERVAL = '5000';
    data.LOG_LEVEL = 'verbose';
    const c = mutableContainer(b);
    const live = objAt(c, 'livenessProbe', 'httpGet');
    if (live) live.path = '/health';
    expect(configProblems(b).join('\n')).toMatch(/ConfigMap agent-mesh-config: HEARTBEAT_INTERVAL is not a config variable/);
    expect(configProblems(b).join('\n')).toMatch(/pod environment does not load: .*LOG_LEVEL/s);
    data.LOG_LEVEL = 'info';
    data.PORT = '9090';
    const reg = registryProblems(b);
    expect(reg).toContain('container port http is 8080, the server listens on PORT=9090');
    expect(reg).toContain('livenessProbe path is /health, expected /livez');
    const np = redisProblems(b);
    expect(np).toContain('registry NetworkPolicy ports [8080] are not the HTTP port 9090');
  });

  it('shutdown timing and hardening regressions are reported', () => {
    const b = clone(objects);
    const data = objAt(find(b, 'ConfigMap', NAMES.configMap), 'data');
    if (data) data.SHUTDOWN_TIMEOUT_MS = '30000';
    const csc = objAt(mutableContainer(b), 'securityContext');
    if (csc) csc.readOnlyRootFilesystem = false;
    const reg = registryProblems(b).join('\n');
    expect(reg).toMatch(/terminationGracePeriodSeconds \(30\) must exceed preStop \(5s\) \+ SHUTDOWN_TIMEOUT_MS \(30000 ms\)/);
    expect(reg).toMatch(/readOnlyRootFilesystem must be true/);
  });

  it('NetworkPolicy that no longer selects the Redis pods, or admits everyone', () => {
    const b = clone(objects);
    const np = find(b, 'NetworkPolicy', NAMES.redis);
    const sel = objAt(np, 'spec', 'podSelector', 'matchLabels');
    if (sel) sel['app.kubernetes.io/name'] = 'redis';
    const rule = at(np, 'spec', 'ingress', 0);
    if (isObject(rule)) delete rule.from;
    const problems = redisProblems(b);
    expect(problems).toContain('Redis NetworkPolicy does not select the Redis pods by their labels');
    expect(problems).toContain('Redis NetworkPolicy rule without `from` admits every pod');
  });

  it('the offline renderer refuses transformers it cannot apply and missing resources', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources:\n  - a.yaml\npatches:\n  - path: p.yaml\n');
    writeFileSync(path.join(dir, 'a.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n');
    expect(() => renderFallback(dir)).toThrow(/cannot apply: patches/);
    const dir2 = tempDir();
    mkdirSync(path.join(dir2, 'sub'));
    writeFileSync(path.join(dir2, 'kustomization.yaml'), 'resources:\n  - sub\n  - missing.yaml\n');
    writeFileSync(path.join(dir2, 'sub', 'kustomization.yaml'), 'resources: []\n');
    expect(() => renderFallback(dir2)).toThrow(/missing resource missing\.yaml/);
  });
});
