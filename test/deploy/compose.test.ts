// docker-compose.yml must satisfy the Compose Specification schema and stay consistent with
// deploy/haproxy.cfg and the server's config. Broken copies prove the checks can fail.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeProblems, haproxyMs, parseHaproxy, parsePorts } from './lib/compose-drift.js';
import { interpolate, loadCompose, serviceEnv, validateCompose } from './lib/compose-validate.js';
import { runHealthcheck, withStatusServer } from './lib/probe-run.js';
import { arrAt, isObject, objAt, PROJECT_ROOT, type JsonObject } from './lib/yaml-util.js';

const COMPOSE = path.join(PROJECT_ROOT, 'docker-compose.yml');
const HAPROXY = path.join(PROJECT_ROOT, 'deploy', 'haproxy.cfg');
const haproxyText = readFileSync(HAPROXY, 'utf8');
// Interpolated with an empty environment, i.e. the defaults a plain `docker compose up` gets.
const doc = loadCompose(COMPOSE, {});

const HAPROXY_BIN = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));

function service(d: JsonObject, name: string): JsonObject {
  const s = objAt(d, 'services', name);
  if (!s) throw new Error(`service ${name} missing`);
  return s;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification JSON schema', () => {
    expect(validateCompose(doc)).toEqual([]);
  });

  it('is consistent with haproxy.cfg and src/config.ts (env, healthchecks, ports, timeouts)', () => {
    expect(composeProblems(doc, haproxyText)).toEqual([]);
  });

  it('token auth can be switched on from the shell environment and still loads', () => {
    const withAuth = loadCompose(COMPOSE, { AUTH_MODE: 'token', AUTH_TOKENS: 'a,b' });
    expect(composeProblems(withAuth, haproxyText)).toEqual([]);
    expect(serviceEnv(service(withAuth, 'registry-2'))).toMatchObject({ AUTH_MODE: 'token', AUTH_TOKENS: 'a,b' });
  });

  it("the replicas' healthcheck command works: exit 0 only on 200 from /readyz", async () => {
    const test = arrAt(service(doc, 'registry-1'), 'healthcheck', 'test').map(String);
    expect(test[0]).toBe('CMD');
    const cmd = test.slice(1);
    await withStatusServer(
      (p) => (p === '/readyz' ? 200 : 404),
      async (port) => expect(await runHealthcheck(cmd, port)).toBe(0),
    );
    await withStatusServer(
      () => 503,
      async (port) => expect(await runHealthcheck(cmd, port)).toBe(1),
    );
  });

  it('haproxy answers its own 503 (no replica up) as JSON with Retry-After, like a replica', () => {
    const cfg = readFileSync(HAPROXY, 'utf8');
    const line = cfg.split('\n').find((l) => /^\s*http-error status 503 /.test(l)) ?? '';
    expect(line).toContain('application/json');
    expect(line).toMatch(/\\"code\\":\\"unavailable\\"/);
    expect(line).toMatch(/hdr retry-after 1\s*$/);
  });

  it.skipIf(!HAPROXY_BIN)('haproxy itself accepts deploy/haproxy.cfg (haproxy -c)', () => {
    // Exit 0 with warnings is expected here: the registry-N names only resolve inside compose.
    expect(() => execFileSync(HAPROXY_BIN ?? 'haproxy', ['-c', '-f', HAPROXY], { stdio: 'pipe', timeout: 20_000 })).not.toThrow();
  });
});

describe('compose validators catch broken copies', () => {
  it('schema: misspelt service key and wrong type', () => {
    const b = structuredClone(doc);
    const r1 = service(b, 'registry-1');
    r1.healtcheck = r1.healthcheck ?? null;
    service(b, 'haproxy').ports = 8080;
    const errs = validateCompose(b).join('\n');
    expect(errs).toMatch(/\/services\/registry-1: must NOT have additional properties "healtcheck"/);
    expect(errs).toMatch(/\/services\/haproxy\/ports: must be array/);
  });

  it('drift: replica port, healthcheck path, extra published port, unknown variable', () => {
    const b = structuredClone(doc);
    const r2 = service(b, 'registry-2');
    const env = objAt(r2, 'environment');
    if (!env) throw new Error('environment missing');
    env.PORT = '9090';
    env.HEARTBEAT_INTERVAL = '5000';
    const r3 = service(b, 'registry-3');
    const hc = objAt(r3, 'healthcheck');
    if (hc && Array.isArray(hc.test)) hc.test = hc.test.map((x) => (typeof x === 'string' ? x.replace('/readyz', '/health') : x));
    r3.ports = ['8081:8080'];
    const problems = composeProblems(b, haproxyText);
    expect(problems).toContain('haproxy server registry-2 uses port 8080 but the service listens on PORT=9090');
    expect(problems).toContain('registry-2: HEARTBEAT_INTERVAL is not a config variable of src/config.ts');
    expect(problems).toContain('registry-3: healthcheck must hit /readyz');
    expect(problems).toContain('registry-3: must not publish ports (only haproxy does)');
    expect(problems.join('\n')).toMatch(/exactly one published port, on haproxy, expected/);
  });

  it('drift: invalid config value, redis without AOF, a replica missing from haproxy', () => {
    const b = structuredClone(doc);
    const env = objAt(service(b, 'registry-1'), 'environment');
    if (env) env.STALE_TIMEOUT_MS = '1000';
    service(b, 'redis').command = ['redis-server'];
    const problems = composeProblems(b, haproxyText.replace(/^\s*server registry-3 .*$/m, ''));
    expect(problems.join('\n')).toMatch(/registry-1: environment does not load: .*STALE_TIMEOUT_MS/s);
    expect(problems).toContain('redis must run with --appendonly yes');
    expect(problems.join('\n')).toMatch(
      /haproxy servers registry-1, registry-2 are not the registry services registry-1, registry-2, registry-3/,
    );
  });

  it('drift: haproxy without health check, redispatch, or with short timeouts', () => {
    const broken = haproxyText
      .replace(/^\s*option httpchk.*$/m, '')
      .replace(/^\s*option redispatch.*$/m, '')
      .replace(/timeout server 120s/, 'timeout server 30s')
      .replace(/timeout tunnel 1h/, 'timeout tunnel 60s');
    const problems = composeProblems(doc, broken).join('\n');
    expect(problems).toMatch(/must check GET \/readyz/);
    expect(problems).toMatch(/retries > 0 and option redispatch/);
    expect(problems).toMatch(/timeout server \(30000 ms\) must be >= 120 s/);
    expect(problems).toMatch(/timeout tunnel must be >= 1h/);
  });

  it('helpers: interpolation, port syntax, haproxy durations and sections', () => {
    expect(interpolate('${A:-x}/${B-y}/${C}/$$/$D', { A: '', B: '', D: 'd' })).toBe('x//' + '/$/d');
    expect(parsePorts(['8080:8080', '127.0.0.1:80:8080/tcp', '9000', { target: 1, published: '2' }])).toEqual([
      { published: 8080, target: 8080 },
      { published: 80, target: 8080 },
      { published: null, target: 9000 },
      { published: 2, target: 1 },
    ]);
    expect([haproxyMs('120s'), haproxyMs('1h'), haproxyMs('250'), haproxyMs('2m')]).toEqual([120_000, 3_600_000, 250, 120_000]);
    const cfg = parseHaproxy('defaults\n  mode http # comment\nbackend b\n  server x x:1 check\n');
    expect(cfg.sections.map((s) => [s.type, s.name, s.lines.length])).toEqual([
      ['defaults', '', 1],
      ['backend', 'b', 1],
    ]);
    expect(isObject(doc.services)).toBe(true);
  });
});
