// GET /metrics: valid Prometheus exposition, counters that move with the actions, registry-wide
// gauges read from Redis (so every replica agrees), METRICS_TOKEN protection, and a registry per
// app (several apps in one process never mix their numbers).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { eventually, heartbeat, meshPerTest, register, sleep } from '../helpers/app.js';
import { parseExposition, promtool, promtoolCheckMetrics, samplesOf, valueOf, type Exposition } from '../helpers/prometheus.js';
import { match } from '../helpers/match.js';

const startMesh = meshPerTest();

async function scrapeText(app: FastifyInstance, headers: Record<string, string> = {}): Promise<string> {
  const res = await app.inject({ url: '/metrics', headers });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

const scrape = async (app: FastifyInstance, headers: Record<string, string> = {}): Promise<Exposition> =>
  parseExposition(await scrapeText(app, headers));

function send(app: FastifyInstance, from: string, to: string | null, payload: unknown = null) {
  return app.inject({
    method: 'POST',
    url: `/messages/send/${from}`,
    payload: { target_instance: to, message_type: 'Notification', payload, correlation_id: null },
  });
}

/** Every mesh_* family this build promises (docs/observability.md lists the same). */
const MESH_FAMILIES: Record<string, string> = {
  mesh_http_request_duration_seconds: 'histogram',
  mesh_redis_script_duration_seconds: 'histogram',
  mesh_registrations_total: 'counter',
  mesh_heartbeats_total: 'counter',
  mesh_deregistrations_total: 'counter',
  mesh_expirations_total: 'counter',
  mesh_leader_changes_total: 'counter',
  mesh_status_changes_total: 'counter',
  mesh_messages_sent_total: 'counter',
  mesh_messages_delivered_total: 'counter',
  mesh_messages_acked_total: 'counter',
  mesh_messages_expired_total: 'counter',
  mesh_messages_rejected_total: 'counter',
  mesh_messages_replayed_total: 'counter',
  mesh_redis_sync_writes_total: 'counter',
  mesh_redis_sync_barriers_total: 'counter',
  mesh_redis_sync_wait_seconds_total: 'counter',
  mesh_cleanup_runs_total: 'counter',
  mesh_cleanup_removed_total: 'counter',
  mesh_cleanup_last_duration_seconds: 'gauge',
  mesh_cleanup_scheduler_repairs_total: 'counter',
  mesh_redis_data_loss_total: 'counter',
  mesh_wake_waiters: 'gauge',
  mesh_build_info: 'gauge',
  mesh_redis_up: 'gauge',
  mesh_live_instances: 'gauge',
  mesh_registered_instances: 'gauge',
  mesh_lapsed_instances: 'gauge',
  mesh_leader_present: 'gauge',
  mesh_leader_term: 'gauge',
  mesh_leader_info: 'gauge',
  mesh_inbox_capacity: 'gauge',
  mesh_inbox_messages: 'gauge',
  mesh_inbox_depth_max: 'gauge',
  mesh_inboxes_scanned: 'gauge',
  mesh_inbox_scan_truncated: 'gauge',
  mesh_broadcast_stream_length: 'gauge',
  mesh_events_stream_length: 'gauge',
};

describe('GET /metrics', () => {
  it('is valid Prometheus text format with every mesh_ family, typed, plus process metrics', async () => {
    const mesh = await startMesh();
    const app = mesh.apps[0]!;
    await register(app, 'fmt-a');
    await app.inject({ url: '/no/such/route' });
    const text = await scrapeText(app);
    const exp = parseExposition(text);
    for (const [name, type] of Object.entries(MESH_FAMILIES)) {
      expect(exp.get(name)?.type, name).toBe(type);
      expect(exp.get(name)?.help, name).toBeTruthy();
    }
    // Nothing undocumented slips in under the mesh_ prefix.
    expect([...exp.keys()].filter((n) => n.startsWith('mesh_')).sort()).toEqual(Object.keys(MESH_FAMILIES).sort());
    // collectDefaultMetrics: event-loop lag, memory, CPU.
    expect(exp.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    expect(exp.has('process_resident_memory_bytes')).toBe(true);
    // The route pattern, never the raw URL; unknown routes share one label value.
    const routes = new Set(samplesOf(exp, 'mesh_http_request_duration_seconds_count').map((s) => s.labels.route));
    expect(routes).toContain('/registry/register');
    expect(routes).toContain('unmatched');
    expect([...routes].some((r) => r?.includes('fmt-a') || r?.includes('no/such'))).toBe(false);
    // Prometheus' own parser agrees, when it is installed; its only lint findings may be about
    // prom-client's default metrics (nodejs_active_*_total gauges), never about ours.
    // promtool comes with Debian's prometheus package (.ci/run installs it): the check must run.
    expect(promtool(), 'promtool not found: apt-get install prometheus').toBe('promtool');
    const findings = promtoolCheckMetrics(text);
    expect(findings.filter((l) => !/^(nodejs_|process_)/.test(l))).toEqual([]);
  });

  it('counters move with register, heartbeat, send, ack and deregister', async () => {
    // Every status change announced (no coalescing window), so both heartbeats below count.
    const mesh = await startMesh({ STATUS_EVENT_INTERVAL_MS: 0 });
    const app = mesh.apps[0]!;
    const before = await scrape(app);
    await register(app, 'c-a');
    await register(app, 'c-b');
    await register(app, 'c-a'); // refresh
    expect((await heartbeat(app, 'c-a')).statusCode).toBe(200);
    expect((await heartbeat(app, 'c-a', { status: 'busy', metrics: null })).statusCode).toBe(200);
    expect((await heartbeat(app, 'c-unknown')).statusCode).toBe(404);
    expect((await send(app, 'c-a', 'c-b', { n: 1 })).statusCode).toBe(200);
    expect((await send(app, 'c-a', 'c-b', { n: 2 })).statusCode).toBe(200);
    expect((await send(app, 'c-a', null, 'all')).statusCode).toBe(200); // broadcast: c-b only
    expect((await send(app, 'c-a', 'c-nobody')).statusCode).toBe(400); // rejected
    const fetched = (await app.inject({ url: '/messages/c-b' })).json<{ messages: { message_id: string }[] }>();
    expect(fetched.messages).toHaveLength(3);
    const ack = await app.inject({
      method: 'POST',
      url: '/messages/ack/c-b',
      payload: { message_ids: fetched.messages.map((m) => m.message_id) },
    });
    expect(ack.statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: '/registry/deregister/c-a' })).statusCode).toBe(204);
    const after = await scrape(app);
    const delta = (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);

    expect(delta('mesh_registrations_total', { result: 'created' })).toBe(2);
    expect(delta('mesh_registrations_total', { result: 'refreshed' })).toBe(1);
    expect(delta('mesh_heartbeats_total', { result: 'ok' })).toBe(2);
    expect(delta('mesh_heartbeats_total', { result: 'unknown' })).toBe(1);
    // First heartbeat: null -> healthy; second: healthy -> busy.
    expect(delta('mesh_status_changes_total')).toBe(2);
    expect(delta('mesh_messages_sent_total')).toBe(3);
    expect(delta('mesh_messages_delivered_total')).toBe(3);
    expect(delta('mesh_messages_rejected_total')).toBe(1);
    expect(delta('mesh_messages_acked_total')).toBe(3);
    expect(delta('mesh_deregistrations_total', { result: 'removed' })).toBe(1);
    // c-a led; its register elected it, its deregister handed over to c-b.
    expect(delta('mesh_leader_changes_total')).toBe(2);
    // Latency histograms saw the routes (by pattern) and the scripts behind them.
    expect(
      delta('mesh_http_request_duration_seconds_count', { route: '/registry/heartbeat/:id', method: 'POST', status_code: '200' }),
    ).toBe(2);
    expect(
      delta('mesh_http_request_duration_seconds_count', { route: '/registry/heartbeat/:id', method: 'POST', status_code: '404' }),
    ).toBe(1);
    expect(delta('mesh_redis_script_duration_seconds_count', { script: 'heartbeat', outcome: 'ok' })).toBe(3);
    expect(delta('mesh_redis_script_duration_seconds_count', { script: 'send' })).toBe(4);
    expect(valueOf(after, 'mesh_leader_info', { leader_id: 'c-b' })).toBe(1);
  });

  it('cleanup runs, removals and expirations are counted on the replica that ran the tick', async () => {
    const mesh = await startMesh(
      { STALE_TIMEOUT_MS: 1000, HEARTBEAT_INTERVAL_MS: 100, CLEANUP_INTERVAL_MS: 100 },
      { apps: 2, maintenance: true },
    );
    const [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    await register(a, 'x-keep');
    await register(a, 'x-lapse-1');
    await register(a, 'x-lapse-2');
    const sum = async (name: string) => valueOf(await scrape(a), name) + valueOf(await scrape(b), name);
    // x-keep heartbeats; the two others lapse and the maintenance job (on either replica) removes them.
    await eventually(
      async () => {
        await heartbeat(a, 'x-keep');
        return (await sum('mesh_cleanup_removed_total')) >= 2;
      },
      10_000,
      80,
    );
    expect(await sum('mesh_expirations_total')).toBe(2);
    expect(await sum('mesh_cleanup_runs_total')).toBeGreaterThanOrEqual(1);
    const exp = await scrape(b);
    expect(valueOf(exp, 'mesh_live_instances')).toBe(1);
    expect(valueOf(exp, 'mesh_registered_instances')).toBe(1);
    expect(valueOf(exp, 'mesh_lapsed_instances')).toBe(0);
  });

  it('registry-wide gauges come from Redis: two replicas report the same truth', async () => {
    const mesh = await startMesh({}, { apps: 2 });
    const [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    for (const id of ['g-1', 'g-2', 'g-3']) await register(a, id);
    await send(a, 'g-1', 'g-2', 1);
    await send(a, 'g-1', 'g-2', 2);
    await send(a, 'g-1', 'g-3', 3);
    await send(a, 'g-2', null, 'hello');
    const [ea, eb] = [await scrape(a), await scrape(b)];
    const t1 = Number(await mesh.redis.get(mesh.keys.term));
    for (const e of [ea, eb]) {
      expect(valueOf(e, 'mesh_live_instances')).toBe(3);
      expect(valueOf(e, 'mesh_leader_present')).toBe(1);
      expect(valueOf(e, 'mesh_leader_term')).toBe(t1);
      expect(samplesOf(e, 'mesh_leader_info')).toEqual([{ name: 'mesh_leader_info', labels: { leader_id: 'g-1' }, value: 1 }]);
      expect(valueOf(e, 'mesh_inbox_messages')).toBe(3);
      expect(valueOf(e, 'mesh_inbox_depth_max')).toBe(2);
      expect(valueOf(e, 'mesh_inbox_scan_truncated')).toBe(0);
      expect(valueOf(e, 'mesh_broadcast_stream_length')).toBe(1);
      expect(valueOf(e, 'mesh_redis_up')).toBe(1);
    }
    // b made no request of its own but knows: the numbers are Redis', not the replica's.
    expect(valueOf(eb, 'mesh_registrations_total')).toBe(0);
    await a.inject({ method: 'DELETE', url: '/registry/deregister/g-1' });
    const eb2 = await scrape(b);
    expect(valueOf(eb2, 'mesh_live_instances')).toBe(2);
    expect(valueOf(eb2, 'mesh_leader_term')).toBe(t1 + 1);
    expect(samplesOf(eb2, 'mesh_leader_info').map((s) => s.labels.leader_id)).toEqual(['g-2']);
  });

  it('a client that leaves before the answer is counted as 499; an SSE stream when it closes', async () => {
    const mesh = await startMesh();
    const app = mesh.apps[0]!;
    await register(app, 'gone-early');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const abort = new AbortController();
    const poll = fetch(`${base}/messages/gone-early?wait=10`, { signal: abort.signal }).catch(() => null);
    await eventually(async () => app.mesh.wake.waiterCount > 0);
    abort.abort();
    await poll;
    const stream = new AbortController();
    const res = await fetch(`${base}/registry/events`, { signal: stream.signal });
    expect(res.status).toBe(200);
    stream.abort();
    await eventually(async () => {
      const e = await scrape(app);
      return (
        valueOf(e, 'mesh_http_request_duration_seconds_count', { route: '/messages/:id', method: 'GET', status_code: '499' }) === 1 &&
        valueOf(e, 'mesh_http_request_duration_seconds_count', { route: '/registry/events', method: 'GET', status_code: '200' }) === 1
      );
    });
  });

  it('reports no leader while the seat is empty', async () => {
    const mesh = await startMesh({ STALE_TIMEOUT_MS: 200, HEARTBEAT_INTERVAL_MS: 50 });
    const app = mesh.apps[0]!;
    await register(app, 'solo');
    await sleep(250); // lapsed; no script has re-elected (there is nobody to elect)
    const exp = await scrape(app);
    expect(valueOf(exp, 'mesh_leader_present')).toBe(0);
    expect(samplesOf(exp, 'mesh_leader_info')).toEqual([]);
    expect(valueOf(exp, 'mesh_live_instances')).toBe(0);
    expect(valueOf(exp, 'mesh_lapsed_instances')).toBe(1);
  });

  it('each app has its own registry: counters of one app do not show in another', async () => {
    const mesh = await startMesh({}, { apps: 2 });
    const [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    expect(a.metricsRegistry).not.toBe(b.metricsRegistry);
    await register(a, 'own-1');
    await heartbeat(a, 'own-1');
    expect(valueOf(await scrape(a), 'mesh_heartbeats_total', { result: 'ok' })).toBe(1);
    expect(valueOf(await scrape(b), 'mesh_heartbeats_total', { result: 'ok' })).toBe(0);
  });

  it('METRICS_TOKEN: a scrape needs the bearer (401 JSON otherwise)', async () => {
    const mesh = await startMesh({ METRICS_TOKEN: 'scrape-secret' });
    const app = mesh.apps[0]!;
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic c2NyYXBlLXNlY3JldA==' }]) {
      const res = await app.inject({ url: '/metrics', headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.json()).toMatchObject({ code: 'unauthorized' });
      // RFC 6750: a 401 for a bearer-protected resource names the scheme and realm.
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(res.body).not.toContain('mesh_');
    }
    const ok = await scrape(app, { authorization: 'Bearer scrape-secret' });
    expect(valueOf(ok, 'mesh_redis_up')).toBe(1);
    // The rest of the API is not affected by the metrics token.
    expect((await app.inject({ url: '/registry/agents' })).statusCode).toBe(200);
  });
});

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe('docs: metrics reference and example alerts', () => {
  it('docs/observability.md describes every mesh_ metric', () => {
    const doc = readFileSync('docs/observability.md', 'utf8');
    for (const name of Object.keys(MESH_FAMILIES)) expect(doc, name).toContain(`\`${name}`);
  });

  it('docs/alerts.yml only uses metrics this build exports, and promtool accepts and passes it', async () => {
    const rules = (parseYaml(readFileSync('docs/alerts.yml', 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap(
      (g) => g.rules,
    );
    expect(rules.map((r) => r.alert)).toEqual(
      match.arrayContaining(['MeshNoLeader', 'MeshLiveInstancesDropped', 'MeshInboxDepthHigh', 'MeshRedisLatencyHigh', 'MeshHttp5xxRate']),
    );
    const mesh = await startMesh();
    const exp = await scrape(mesh.apps[0]!);
    for (const r of rules) {
      expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      for (const [name] of r.expr.matchAll(/\b(?:mesh|nodejs|process)_[a-z0-9_]+/g)) {
        const family = name.replace(/_(bucket|count|sum)$/, '');
        expect(exp.has(family) || exp.has(name), `${r.alert}: ${name}`).toBe(true);
      }
    }
    expect(promtool(), 'promtool not found: apt-get install prometheus').toBe('promtool');
    const check = spawnSync('promtool', ['check', 'rules', 'docs/alerts.yml'], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const unit = spawnSync('promtool', ['test', 'rules', 'test/fixtures/alerts.promtool-test.yml'], { encoding: 'utf8' });
    expect(unit.status, unit.stdout + unit.stderr).toBe(0);
  });
});
