// 9. Peer anchor: etcd (Debian's etcd-server) on loopback with a temp data dir, driven through its
//    HTTP/JSON gRPC gateway with the same autocannon settings as our heartbeat route: lease
//    keep-alives/s (the closest thing etcd has to a heartbeat) and put-with-lease/s (a
//    registration). Skipped with a note when etcd is not installed.
import type autocannon from 'autocannon';
import { assertClean, load, type LoadResult } from '../lib/load.js';
import { startEtcd } from '../lib/procs.js';
import { addRow, addTarget, fmt, type BenchContext } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const LEASES = 1000;

export async function etcdPhase(ctx: BenchContext): Promise<void> {
  const { opts } = ctx;
  const S = '9';
  const etcd = await startEtcd();
  if (!etcd) {
    ctx.log('  etcd not installed (apt-get install -y etcd-server etcd-client): peer anchor skipped');
    addTarget(ctx, { target: 'etcd peer anchor', measured: 'etcd not installed on this machine: skipped', met: null });
    ctx.details.etcd = { skipped: 'etcd not installed' };
    return;
  }
  try {
    const leases: string[] = [];
    for (let i = 0; i < LEASES; i++) {
      const res = await fetch(`${etcd.url}/v3/lease/grant`, { method: 'POST', body: JSON.stringify({ TTL: 600 }) });
      leases.push(((await res.json()) as { ID: string }).ID);
    }
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const value = b64(
      JSON.stringify({
        hostname: 'agent-host.example.internal',
        port: 8080,
        capabilities: ['code-review', 'summarize', 'search'],
        agent_profiles: ['default', 'reviewer'],
      }),
    );
    let k = 0;
    let p = 0;
    const keepalive = (d: number) =>
      load({
        url: `${etcd.url}/v3/lease/keepalive`,
        connections: opts.connections,
        duration: d,
        method: 'POST',
        body: '{}',
        setup: (req: autocannon.Request) => {
          req.body = `{"ID":"${leases[k++ % LEASES]!}"}`;
          return req;
        },
      });
    const put = (d: number) =>
      load({
        url: `${etcd.url}/v3/kv/put`,
        connections: opts.connections,
        duration: d,
        method: 'POST',
        body: '{}',
        setup: (req: autocannon.Request) => {
          const i = p++ % LEASES;
          req.body = `{"key":"${b64(`/mesh/agents/agent-${i}`)}","value":"${value}","lease":"${leases[i]!}"}`;
          return req;
        },
      });
    assertClean('etcd keep-alive warm-up', await keepalive(opts.warmup));
    assertClean('etcd put warm-up', await put(opts.warmup));
    const ka: LoadResult[] = [];
    const pu: LoadResult[] = [];
    for (let r = 0; r < opts.runs; r++) {
      const a = await keepalive(opts.duration);
      assertClean('etcd keep-alive', a);
      ka.push(a);
      const b = await put(opts.duration);
      assertClean('etcd put', b);
      pu.push(b);
    }
    const kaS = summarize(ka.map((x) => x.rps));
    const puS = summarize(pu.map((x) => x.rps));
    const hb = ctx.shared.get('heartbeat.rps');
    const vs = (s: typeof kaS) => (hb ? `our heartbeat route: ${fmt(hb.median / s.median)}x this` : '');
    addRow(ctx, {
      section: S,
      measure: `etcd ${etcd.version} lease keep-alive via HTTP gateway`,
      value: kaS,
      unit: 'req/s',
      note: `p99 ${fmt(summarize(ka.map((x) => x.p99)).median)} ms; ${vs(kaS)}`,
    });
    addRow(ctx, {
      section: S,
      measure: `etcd ${etcd.version} put with lease via HTTP gateway`,
      value: puS,
      unit: 'req/s',
      note: `p99 ${fmt(summarize(pu.map((x) => x.p99)).median)} ms; ${vs(puS)}`,
    });
    addTarget(ctx, {
      target: 'peer anchor: etcd on this machine',
      measured: `keep-alive ${fmt(kaS.median)}/s, put+lease ${fmt(puS.median)}/s${hb ? `; our heartbeats ${fmt(hb.median)}/s` : ''}`,
      met: null,
    });
    ctx.details.etcd = { version: etcd.version, keepalive: ka, put: pu };
  } finally {
    await etcd.stop();
  }
}
