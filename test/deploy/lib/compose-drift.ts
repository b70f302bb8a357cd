// Consistency of docker-compose.yml + deploy/haproxy.cfg with the server (src/config.ts) and
// with each other. Returns problems ([] when fine) so broken copies can prove it fails.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../../src/config.js';
import { serviceEnv } from './compose-validate.js';
import { CONFIG_KEYS } from './k8s-drift.js';
import { composeBytes, redisMemoryProblems } from './redis-memory.js';
import { arrAt, at, isObject, objAt, PROJECT_ROOT, show, strAt, type Json, type JsonObject } from './yaml-util.js';

export const REGISTRY_SERVICE = /^registry-\d+$/;
export const HAPROXY_CFG_IN_CONTAINER = '/usr/local/etc/haproxy/haproxy.cfg';

export interface PortMapping {
  published: number | null;
  target: number;
}

/** Compose `ports:` entries, short ("[ip:]published:target[/proto]") or long syntax. */
export function parsePorts(ports: Json[]): PortMapping[] {
  return ports.map((p) => {
    if (isObject(p)) return { published: p.published === undefined ? null : Number(p.published), target: Number(p.target) };
    const spec = show(p).replace(/\/(tcp|udp)$/, '');
    const parts = spec.split(':');
    const target = Number(parts[parts.length - 1]);
    const published = parts.length >= 2 ? Number(parts[parts.length - 2]) : null;
    return { published, target };
  });
}

/** haproxy duration ("120s", "1h", "500ms", bare number = ms) in milliseconds. */
export function haproxyMs(v: string): number {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'] ?? NaN;
  return n * unit;
}

export interface HaproxyCfg {
  sections: { type: string; name: string; lines: string[][] }[];
}

export function parseHaproxy(text: string): HaproxyCfg {
  const sections: HaproxyCfg['sections'] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const words = line.split(/\s+/);
    const head = words[0] ?? '';
    if (['global', 'defaults', 'frontend', 'backend', 'listen', 'resolvers', 'peers', 'userlist'].includes(head)) {
      sections.push({ type: head, name: words[1] ?? '', lines: [] });
    } else {
      sections.at(-1)?.lines.push(words);
    }
  }
  return { sections };
}

function directive(lines: string[][], ...prefix: string[]): string[] | undefined {
  return lines.find((w) => prefix.every((p, i) => w[i] === p));
}

function serviceConfig(service: Json | undefined): { cfg: Config | null; error: string | null } {
  try {
    return { cfg: loadConfig(serviceEnv(service)), error: null };
  } catch (e: unknown) {
    return { cfg: null, error: e instanceof Error ? e.message : show(e) };
  }
}

export function composeProblems(doc: JsonObject, haproxyText: string): string[] {
  const problems: string[] = [];
  const services = objAt(doc, 'services') ?? {};
  const registryNames = Object.keys(services)
    .filter((n) => REGISTRY_SERVICE.test(n))
    .sort();
  if (registryNames.length !== 3) problems.push(`expected 3 registry services registry-1..3, found ${registryNames.join(', ') || 'none'}`);

  // ---- redis
  const redis = objAt(services, 'redis');
  if (!redis) problems.push('service redis missing');
  else {
    if (!/^redis:7(\.|-|$)/.test(strAt(redis, 'image') ?? '')) problems.push('redis must use the redis:7 image');
    const cmd = at(redis, 'command');
    const cmdText = Array.isArray(cmd) ? cmd.map(show).join(' ') : show(cmd ?? '');
    if (!/--appendonly yes/.test(cmdText)) problems.push('redis must run with --appendonly yes');
    const memLimit = strAt(redis, 'deploy', 'resources', 'limits', 'memory');
    problems.push(...redisMemoryProblems(cmdText, memLimit === undefined ? null : composeBytes(memLimit)));
    const vols = arrAt(redis, 'volumes').map((v) =>
      typeof v === 'string' ? v : `${strAt(v, 'source') ?? ''}:${strAt(v, 'target') ?? ''}`,
    );
    const dataVol = vols.find((v) => v.split(':')[1] === '/data');
    const volName = dataVol?.split(':')[0] ?? '';
    if (!dataVol || !objAt(doc, 'volumes') || !(volName in (objAt(doc, 'volumes') ?? {})))
      problems.push('redis /data must be a named volume declared under volumes:');
    if (!arrAt(redis, 'healthcheck', 'test').map(show).join(' ').includes('redis-cli ping'))
      problems.push('redis healthcheck must be redis-cli ping');
  }

  // ---- registry replicas
  const configs = new Map<string, Config>();
  for (const name of registryNames) {
    const svc = objAt(services, name);
    const env = serviceEnv(svc);
    for (const k of Object.keys(env)) if (!CONFIG_KEYS.has(k)) problems.push(`${name}: ${k} is not a config variable of src/config.ts`);
    const { cfg, error } = serviceConfig(svc);
    if (!cfg) {
      problems.push(`${name}: environment does not load: ${error ?? ''}`);
      continue;
    }
    configs.set(name, cfg);
    const url = new URL(cfg.REDIS_URL);
    if (url.hostname !== 'redis' || Number(url.port || 6379) !== 6379)
      problems.push(`${name}: REDIS_URL ${cfg.REDIS_URL} is not the redis service`);
    if (strAt(svc, 'depends_on', 'redis', 'condition') !== 'service_healthy')
      problems.push(`${name}: must depend on redis with condition service_healthy`);
    const hc = arrAt(svc, 'healthcheck', 'test').map(show).join(' ');
    if (!hc.includes('/readyz')) problems.push(`${name}: healthcheck must hit /readyz`);
    if (!hc.includes('process.env.PORT') && !hc.includes(`:${cfg.PORT}/`))
      problems.push(`${name}: healthcheck does not use the service's PORT ${cfg.PORT}`);
    if (at(svc, 'ports') !== undefined) problems.push(`${name}: must not publish ports (only haproxy does)`);
    const dockerfile = strAt(svc, 'build', 'dockerfile') ?? 'Dockerfile';
    const context = strAt(svc, 'build', 'context') ?? strAt(svc, 'build');
    if (!context || !existsSync(path.join(PROJECT_ROOT, context, dockerfile)))
      problems.push(`${name}: must be built from the project's Dockerfile`);
  }
  const namespaces = new Set([...configs.values()].map((c) => c.MESH_NAMESPACE));
  if (namespaces.size > 1) problems.push(`registry replicas disagree on MESH_NAMESPACE: ${[...namespaces].join(', ')}`);

  // ---- published ports: exactly one, on haproxy
  const publishers = Object.entries(services).filter(([, s]) => arrAt(s, 'ports').length > 0);
  const lb = objAt(services, 'haproxy');
  const lbPorts = parsePorts(arrAt(lb, 'ports'));
  if (publishers.length !== 1 || publishers[0]?.[0] !== 'haproxy' || lbPorts.length !== 1) {
    problems.push(`exactly one published port, on haproxy, expected; publishing: ${publishers.map(([n]) => n).join(', ') || 'none'}`);
  }
  const lbMount = arrAt(lb, 'volumes')
    .map(String)
    .find((v) => v.split(':')[1] === HAPROXY_CFG_IN_CONTAINER);
  const lbSource = lbMount?.split(':')[0] ?? '';
  if (!lbMount || path.normalize(lbSource) !== path.normalize('./deploy/haproxy.cfg'))
    problems.push(`haproxy must mount ./deploy/haproxy.cfg at ${HAPROXY_CFG_IN_CONTAINER}`);

  // ---- haproxy.cfg
  const cfg = parseHaproxy(haproxyText);
  const defaults = cfg.sections.filter((s) => s.type === 'defaults').flatMap((s) => s.lines);
  const frontends = cfg.sections.filter((s) => s.type === 'frontend' || s.type === 'listen');
  const binds = frontends.flatMap((s) => s.lines.filter((w) => w[0] === 'bind').map((w) => Number((w[1] ?? '').split(':').pop())));
  const target = lbPorts[0]?.target;
  if (binds.length !== 1 || binds[0] !== target)
    problems.push(`haproxy binds ${JSON.stringify(binds)} but compose publishes container port ${show(target)}`);
  const backends = cfg.sections.filter((s) => s.type === 'backend' || s.type === 'listen');
  const servers = backends.flatMap((s) => s.lines.filter((w) => w[0] === 'server'));
  const serverHosts = servers.map((w) => (w[2] ?? '').split(':')[0] ?? '').sort();
  if (JSON.stringify(serverHosts) !== JSON.stringify(registryNames))
    problems.push(`haproxy servers ${serverHosts.join(', ')} are not the registry services ${registryNames.join(', ')}`);
  for (const w of servers) {
    const [host, port] = (w[2] ?? '').split(':');
    const c = configs.get(host ?? '');
    if (c && Number(port) !== c.PORT)
      problems.push(`haproxy server ${host ?? ''} uses port ${port ?? '?'} but the service listens on PORT=${c.PORT}`);
  }
  const be = backends.flatMap((s) => s.lines);
  const all = [...defaults, ...be];
  if (!directive(be, 'balance', 'roundrobin')) problems.push('haproxy backend must balance roundrobin');
  if (!directive(be, 'option', 'httpchk', 'GET', '/readyz')) problems.push('haproxy backend must check GET /readyz');
  const checked = servers.every((w) => w.includes('check')) || be.some((w) => w[0] === 'default-server' && w.includes('check'));
  if (!checked) problems.push('haproxy servers must have health checks enabled (check)');
  const retries = Number(directive(all, 'retries')?.[1] ?? 0);
  if (!(retries > 0) || !directive(all, 'option', 'redispatch')) problems.push('haproxy needs retries > 0 and option redispatch');
  const timeout = (name: string): number => haproxyMs(directive(all, 'timeout', name)?.[2] ?? '');
  const anyCfg = configs.values().next().value;
  const longPollMs = (anyCfg?.LONG_POLL_MAX_S ?? 60) * 1000;
  const keepAliveMs = anyCfg?.SSE_KEEPALIVE_MS ?? 15_000;
  for (const t of ['client', 'server']) {
    const v = timeout(t);
    if (!(v >= 120_000) || v <= longPollMs || v <= keepAliveMs)
      problems.push(
        `haproxy timeout ${t} (${v} ms) must be >= 120 s and above long-poll (${longPollMs} ms) and SSE keep-alive (${keepAliveMs} ms)`,
      );
  }
  if (!(timeout('tunnel') >= 3_600_000)) problems.push('haproxy timeout tunnel must be >= 1h for long-lived streams');
  if (directive(all, 'option', 'http-buffer-request')) problems.push('haproxy must not buffer requests (long-poll/SSE)');
  return problems;
}
