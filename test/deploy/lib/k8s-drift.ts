// Project-specific consistency checks of the rendered k8s bundle against the server itself
// (src/config.ts) and between objects. Each returns human-readable problems, [] when fine,
// so the same function is run on the real bundle (expect []) and on broken copies (expect
// the problem), which proves the check can fail.
import { configSchema, loadConfig, type Config } from '../../../src/config.js';
import { isSubset } from './k8s-validate.js';
import { k8sBytes, redisMemoryProblems } from './redis-memory.js';
import { arrAt, at, isObject, objAt, show, strAt, stringMap, type JsonObject } from './yaml-util.js';

export const NAMES = {
  deployment: 'agent-mesh-registry',
  service: 'agent-mesh-registry',
  configMap: 'agent-mesh-config',
  secret: 'agent-mesh-secrets',
  redis: 'agent-mesh-redis',
  image: 'agent-mesh-registry:latest',
} as const;

/** Every env var name the server reads (src/config.ts is the single source of truth). */
export const CONFIG_KEYS: ReadonlySet<string> = new Set(Object.keys(configSchema.shape));

export function find(objects: JsonObject[], kind: string, name: string): JsonObject | undefined {
  return objects.find((o) => o.kind === kind && strAt(o, 'metadata', 'name') === name);
}

function podLabels(workload: JsonObject | undefined): Record<string, string> {
  return stringMap(objAt(workload, 'spec', 'template', 'metadata', 'labels'));
}

export function registryContainer(objects: JsonObject[]): JsonObject | undefined {
  const c = at(find(objects, 'Deployment', NAMES.deployment), 'spec', 'template', 'spec', 'containers', 0);
  return isObject(c) ? c : undefined;
}

/** Secret values as strings: stringData as is, data base64-decoded (what the pod sees). */
export function secretEnv(secret: JsonObject | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(stringMap(objAt(secret, 'data')))) out[k] = Buffer.from(v, 'base64').toString('utf8');
  Object.assign(out, stringMap(objAt(secret, 'stringData')));
  return out;
}

/** The environment a registry pod gets: envFrom sources in order, then env (which wins). */
export function podEnv(objects: JsonObject[]): { env: Record<string, string>; problems: string[] } {
  const problems: string[] = [];
  const env: Record<string, string> = {};
  const c = registryContainer(objects);
  for (const src of arrAt(c, 'envFrom')) {
    const cm = strAt(src, 'configMapRef', 'name');
    const sec = strAt(src, 'secretRef', 'name');
    if (strAt(src, 'prefix')) problems.push('envFrom prefix would rename the config variables');
    if (cm) {
      const o = find(objects, 'ConfigMap', cm);
      if (!o) problems.push(`envFrom ConfigMap ${cm} is not in the bundle`);
      Object.assign(env, stringMap(objAt(o, 'data')));
    } else if (sec) {
      const o = find(objects, 'Secret', sec);
      if (!o) problems.push(`envFrom Secret ${sec} is not in the bundle`);
      Object.assign(env, secretEnv(o));
    }
  }
  for (const e of arrAt(c, 'env')) {
    const n = strAt(e, 'name');
    const v = strAt(e, 'value');
    if (n && v !== undefined) env[n] = v;
  }
  return { env, problems };
}

function unknownKeys(keys: string[], where: string): string[] {
  return keys.filter((k) => !CONFIG_KEYS.has(k)).map((k) => `${where}: ${k} is not a config variable of src/config.ts`);
}

/** Names in ConfigMap, Secret and container env are real config keys; the result parses. */
export function configProblems(objects: JsonObject[]): string[] {
  const problems: string[] = [];
  const cm = find(objects, 'ConfigMap', NAMES.configMap);
  const secret = find(objects, 'Secret', NAMES.secret);
  if (!cm) problems.push(`ConfigMap ${NAMES.configMap} missing`);
  if (!secret) problems.push(`Secret ${NAMES.secret} missing`);
  problems.push(...unknownKeys(Object.keys(stringMap(objAt(cm, 'data'))), `ConfigMap ${NAMES.configMap}`));
  problems.push(...unknownKeys(Object.keys(secretEnv(secret)), `Secret ${NAMES.secret}`));
  const c = registryContainer(objects);
  const envNames = arrAt(c, 'env').map((e) => strAt(e, 'name') ?? '');
  problems.push(...unknownKeys(envNames, 'Deployment env'));
  const refs = arrAt(c, 'envFrom').map((s) => strAt(s, 'configMapRef', 'name') ?? strAt(s, 'secretRef', 'name'));
  if (!refs.includes(NAMES.configMap) || !refs.includes(NAMES.secret))
    problems.push(`Deployment envFrom must reference ${NAMES.configMap} and ${NAMES.secret} (has ${refs.join(', ')})`);
  const { env, problems: envProblems } = podEnv(objects);
  problems.push(...envProblems);
  try {
    loadConfig(env);
  } catch (e: unknown) {
    problems.push(`pod environment does not load: ${e instanceof Error ? e.message : show(e)}`);
  }
  return problems;
}

export function podConfig(objects: JsonObject[]): Config {
  return loadConfig(podEnv(objects).env);
}

/** Probes, ports, selectors and shutdown timing of the registry Deployment. */
export function registryProblems(objects: JsonObject[]): string[] {
  const problems: string[] = [];
  const dep = find(objects, 'Deployment', NAMES.deployment);
  if (!dep) return [`Deployment ${NAMES.deployment} missing`];
  const c = registryContainer(objects);
  let cfg: Config | null = null;
  try {
    cfg = podConfig(objects);
  } catch {
    problems.push('pod config does not load (see configProblems)');
  }
  const port = cfg?.PORT ?? 8080;
  const ports = arrAt(c, 'ports').filter(isObject);
  const http = ports.find((p) => p.name === 'http');
  if (!http) problems.push('container has no port named http');
  else if (http.containerPort !== port)
    problems.push(`container port http is ${show(http.containerPort)}, the server listens on PORT=${port}`);

  const probe = (name: string): [string | undefined, unknown] => [strAt(c, name, 'httpGet', 'path'), at(c, name, 'httpGet', 'port')];
  const expectProbe = (name: string, want: string, required: boolean): void => {
    const [p, prt] = probe(name);
    if (p === undefined) {
      if (required) problems.push(`${name} must be an httpGet probe on ${want}`);
      return;
    }
    if (p !== want) problems.push(`${name} path is ${p}, expected ${want}`);
    if (prt !== 'http' && prt !== port) problems.push(`${name} port is ${show(prt)}, expected http or ${port}`);
  };
  expectProbe('livenessProbe', '/livez', true);
  expectProbe('readinessProbe', '/readyz', true);
  expectProbe('startupProbe', '/livez', false);

  const sel = stringMap(objAt(dep, 'spec', 'selector', 'matchLabels'));
  const labels = podLabels(dep);
  if (!Object.keys(sel).length || !isSubset(sel, labels)) problems.push('Deployment selector does not match its template labels');

  const svc = find(objects, 'Service', NAMES.service);
  if (!svc) problems.push(`Service ${NAMES.service} missing`);
  else {
    if (!isSubset(stringMap(objAt(svc, 'spec', 'selector')), labels) || !Object.keys(stringMap(objAt(svc, 'spec', 'selector'))).length)
      problems.push('Service selector does not select the registry pods');
    const sp = arrAt(svc, 'spec', 'ports').filter(isObject);
    const p80 = sp.find((p) => p.port === 80);
    if (!p80) problems.push('Service has no port 80');
    else if (p80.targetPort !== 'http' && p80.targetPort !== port)
      problems.push(`Service targetPort ${show(p80.targetPort)} is not the container port http`);
    else if (typeof p80.targetPort === 'string' && !ports.some((p) => p.name === p80.targetPort))
      problems.push(`Service targetPort ${p80.targetPort} is not a container port name`);
  }

  const pdb = find(objects, 'PodDisruptionBudget', NAMES.deployment);
  if (!pdb || !isSubset(stringMap(objAt(pdb, 'spec', 'selector', 'matchLabels')), labels))
    problems.push('PodDisruptionBudget does not select the registry pods');
  else if (at(pdb, 'spec', 'minAvailable') !== 2) problems.push('PodDisruptionBudget minAvailable must be 2');

  const hpa = find(objects, 'HorizontalPodAutoscaler', NAMES.deployment);
  const ref = objAt(hpa, 'spec', 'scaleTargetRef');
  if (!hpa || ref?.kind !== 'Deployment' || ref.name !== NAMES.deployment)
    problems.push('HorizontalPodAutoscaler does not target the Deployment');
  const replicas = at(dep, 'spec', 'replicas');
  const min = at(hpa, 'spec', 'minReplicas');
  if (typeof replicas !== 'number' || typeof min !== 'number' || replicas < min)
    problems.push(`Deployment replicas (${show(replicas)}) below HPA minReplicas (${show(min)})`);
  const pdbMin = at(pdb, 'spec', 'minAvailable');
  if (typeof min === 'number' && typeof pdbMin === 'number' && pdbMin >= min)
    problems.push('PDB minAvailable >= HPA minReplicas would block every node drain');

  // SIGTERM arrives after preStop; the process then needs SHUTDOWN_TIMEOUT_MS to drain before
  // the kubelet's SIGKILL at terminationGracePeriodSeconds.
  const grace = at(dep, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds');
  const pre = arrAt(c, 'lifecycle', 'preStop', 'exec', 'command');
  const preSleep =
    pre[0] === 'sleep' && typeof pre[1] === 'string' ? Number(pre[1]) : Number(at(c, 'lifecycle', 'preStop', 'sleep', 'seconds') ?? 0);
  if (typeof grace !== 'number' || !cfg || preSleep + cfg.SHUTDOWN_TIMEOUT_MS / 1000 >= grace) {
    problems.push(
      `terminationGracePeriodSeconds (${show(grace)}) must exceed preStop (${preSleep}s) + SHUTDOWN_TIMEOUT_MS (${cfg?.SHUTDOWN_TIMEOUT_MS ?? '?'} ms)`,
    );
  }

  // Hardening the issue asks for; a regression here is a security regression.
  const psc = objAt(dep, 'spec', 'template', 'spec', 'securityContext');
  const csc = objAt(c, 'securityContext');
  if (psc?.runAsNonRoot !== true && csc?.runAsNonRoot !== true) problems.push('runAsNonRoot must be true');
  if ((csc?.runAsUser ?? psc?.runAsUser) !== 1000) problems.push('runAsUser must be 1000 (user node of the image)');
  if (csc?.readOnlyRootFilesystem !== true) problems.push('readOnlyRootFilesystem must be true');
  if (csc?.allowPrivilegeEscalation !== false) problems.push('allowPrivilegeEscalation must be false');
  if (!arrAt(csc, 'capabilities', 'drop').includes('ALL')) problems.push('capabilities must drop ALL');
  if ((strAt(csc, 'seccompProfile', 'type') ?? strAt(psc, 'seccompProfile', 'type')) !== 'RuntimeDefault')
    problems.push('seccompProfile must be RuntimeDefault');
  if (at(c, 'resources', 'requests', 'cpu') === undefined) problems.push('a CPU request is needed for the HPA utilization target');
  return problems;
}

/** The dev Redis matches REDIS_URL, and the NetworkPolicies select the pods they mean to. */
export function redisProblems(objects: JsonObject[]): string[] {
  const problems: string[] = [];
  const sts = find(objects, 'StatefulSet', NAMES.redis);
  const svc = find(objects, 'Service', NAMES.redis);
  const dep = find(objects, 'Deployment', NAMES.deployment);
  if (!sts || !svc) return [`StatefulSet and Service ${NAMES.redis} are required`];
  const redisLabels = podLabels(sts);
  const c = at(sts, 'spec', 'template', 'spec', 'containers', 0);
  const redisPort = arrAt(c, 'ports')
    .filter(isObject)
    .find((p) => p.name === 'redis')?.containerPort;
  if (typeof redisPort !== 'number') problems.push('Redis container has no port named redis');
  const args = [...arrAt(c, 'command'), ...arrAt(c, 'args')].map(show).join(' ');
  if (!/--appendonly yes/.test(args)) problems.push('Redis must run with --appendonly yes');
  const limit = strAt(c, 'resources', 'limits', 'memory');
  problems.push(...redisMemoryProblems(args, limit === undefined ? null : k8sBytes(limit)));
  if (strAt(sts, 'spec', 'serviceName') !== NAMES.redis) problems.push('StatefulSet serviceName must be the headless Service');
  if (strAt(svc, 'spec', 'clusterIP') !== 'None') problems.push('Redis Service must be headless (clusterIP: None)');
  if (!isSubset(stringMap(objAt(svc, 'spec', 'selector')), redisLabels))
    problems.push('Redis Service selector does not select the Redis pods');
  const claims = arrAt(sts, 'spec', 'volumeClaimTemplates').map((v) => strAt(v, 'metadata', 'name'));
  const mounts = arrAt(c, 'volumeMounts').map((m) => strAt(m, 'name'));
  if (!claims.length || !claims.every((n) => mounts.includes(n)))
    problems.push('volumeClaimTemplates must be mounted by the Redis container');

  let url: URL | null = null;
  try {
    url = new URL(podConfig(objects).REDIS_URL);
  } catch {
    problems.push('REDIS_URL does not load');
  }
  const svcPort = arrAt(svc, 'spec', 'ports').filter(isObject)[0];
  if (url) {
    if (url.hostname !== NAMES.redis && !url.hostname.startsWith(`${NAMES.redis}.`))
      problems.push(`REDIS_URL host ${url.hostname} is not the Service ${NAMES.redis}`);
    if (Number(url.port || 6379) !== svcPort?.port)
      problems.push(`REDIS_URL port ${url.port || 6379} is not the Service port ${show(svcPort?.port)}`);
  }

  const np = find(objects, 'NetworkPolicy', NAMES.redis);
  const npSel = stringMap(objAt(np, 'spec', 'podSelector', 'matchLabels'));
  if (!np || !Object.keys(npSel).length || !isSubset(npSel, redisLabels))
    problems.push('Redis NetworkPolicy does not select the Redis pods by their labels');
  const rules = arrAt(np, 'spec', 'ingress');
  const regLabels = podLabels(dep);
  if (!rules.length) problems.push('Redis NetworkPolicy has no ingress rule (would deny the registry too)');
  for (const r of rules) {
    const peers = arrAt(r, 'from');
    if (!peers.length) problems.push('Redis NetworkPolicy rule without `from` admits every pod');
    for (const p of peers) {
      const pl = stringMap(objAt(p, 'podSelector', 'matchLabels'));
      if (!objAt(p, 'podSelector') || !Object.keys(pl).length || !isSubset(pl, regLabels))
        problems.push('Redis NetworkPolicy admits pods other than the registry');
    }
    const rp = arrAt(r, 'ports').map((x) => at(x, 'port'));
    if (rp.length !== 1 || (rp[0] !== redisPort && rp[0] !== 'redis'))
      problems.push(`Redis NetworkPolicy ports ${JSON.stringify(rp)} are not the Redis port ${show(redisPort)}`);
  }

  const rnp = find(objects, 'NetworkPolicy', NAMES.deployment);
  const rnpSel = stringMap(objAt(rnp, 'spec', 'podSelector', 'matchLabels'));
  if (!rnp || !Object.keys(rnpSel).length || !isSubset(rnpSel, regLabels))
    problems.push('registry NetworkPolicy does not select the registry pods');
  let port = 8080;
  try {
    port = podConfig(objects).PORT;
  } catch {
    /* reported by configProblems */
  }
  const regPorts = arrAt(rnp, 'spec', 'ingress').flatMap((r) => arrAt(r, 'ports').map((x) => at(x, 'port')));
  if (!regPorts.length || regPorts.some((p) => p !== port && p !== 'http'))
    problems.push(`registry NetworkPolicy ports ${JSON.stringify(regPorts)} are not the HTTP port ${port}`);
  return problems;
}
