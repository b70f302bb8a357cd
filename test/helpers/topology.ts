// Redis topologies for the test suites, started from local redis-server processes on free ports
// (temp dirs, removed on stop; every child is SIGKILLed by procs.ts if the run dies):
//   standalone  one server (startRedis: container, process or external, see redis.ts)
//   sentinel    1 master + 1 replica + 3 sentinels (redis-server --sentinel, generated conf)
//   cluster     3 masters (cluster-enabled yes), slots assigned with CLUSTER ADDSLOTSRANGE and
//               joined with CLUSTER MEET, ready once every node reports cluster_state:ok
// Selected for a whole run by TEST_TOPOLOGY=standalone|sentinel|cluster (global-setup.ts).
// Each topology hands out `env`: the variables an app/replica needs to reach it (REDIS_URL, or
// REDIS_SENTINELS + REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES), the same ones production uses.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { freePort, sleep } from './ports.js';
import { spawnTracked, waitUntil, which, type TrackedChild } from './procs.js';
import { waitForPing } from './redis-ping.js';
import { startRedis, type RedisHandle } from './redis.js';

export type TopologyKind = 'standalone' | 'sentinel' | 'cluster';
export const TOPOLOGIES: readonly TopologyKind[] = ['standalone', 'sentinel', 'cluster'];

/** TEST_TOPOLOGY (default standalone); anything else is a loud error, not a silent default. */
export function topologyFromEnv(env: NodeJS.ProcessEnv = process.env): TopologyKind {
  const v = (env.TEST_TOPOLOGY ?? '').trim();
  if (v === '') return 'standalone';
  if ((TOPOLOGIES as readonly string[]).includes(v)) return v as TopologyKind;
  throw new Error(`TEST_TOPOLOGY must be one of ${TOPOLOGIES.join(', ')} (got ${JSON.stringify(v)})`);
}

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisTopology {
  readonly kind: TopologyKind;
  /** What an app or replica needs in its environment to use this Redis. */
  readonly env: Record<string, string>;
  /** redis:// URL of the standalone server, the current master (sentinel) or the first node (cluster). */
  readonly url: string;
  stop(): Promise<void>;
}

export interface StandaloneTopology extends RedisTopology {
  readonly kind: 'standalone';
  readonly redis: RedisHandle;
}

export interface SentinelTopology extends RedisTopology {
  readonly kind: 'sentinel';
  readonly name: string;
  readonly sentinels: HostPort[];
  /** The two data nodes (initially master first). */
  readonly dataNodes: HostPort[];
  /** Current master according to the first sentinel that answers. */
  masterAddr(): Promise<HostPort>;
  /**
   * SENTINEL FAILOVER through a sentinel; resolves once every sentinel reports the new master and
   * it answers ROLE master (`waitReady`: also until the old master is an in-sync replica that all
   * sentinels have seen, so another failover is safe).
   */
  failover(opts?: { waitReady?: boolean; timeoutMs?: number }): Promise<{ from: HostPort; to: HostPort; ms: number }>;
  /** Resolves with the master once the set-up could fail over safely (see failover()). */
  waitFailoverReady(timeoutMs?: number): Promise<HostPort>;
  logs(): string;
}

export interface ClusterTopology extends RedisTopology {
  readonly kind: 'cluster';
  readonly nodes: HostPort[];
  logs(): string;
}

export type AnyTopology = StandaloneTopology | SentinelTopology | ClusterTopology;

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const addr = (h: HostPort) => `${h.host}:${h.port}`;
const sameAddr = (a: HostPort, b: HostPort) => a.host === b.host && a.port === b.port;

/** A short-lived admin connection that never retries or queues (setup and probes only). */
function adminClient(port: number): Redis {
  const c = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 2000,
    commandTimeout: 5000,
  });
  c.on('error', () => undefined);
  return c;
}

async function withAdmin<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = adminClient(port);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

/** A flat [k1, v1, k2, v2, ...] reply as a map. */
function flatToMap(flat: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (!Array.isArray(flat)) return m;
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), String(flat[i + 1]));
  return m;
}

/** `INFO section` text as a map of its key:value lines. */
function infoToMap(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

interface Node {
  port: number;
  child: TrackedChild;
  label: string;
}

/**
 * Starts `redis-server` with the args from `argsFor(port, extraPort)` on a fresh free port (and a
 * second free port when `needsExtraPort`, e.g. the cluster bus), retrying when the port was
 * grabbed by someone else in between; resolves once it answers PING.
 */
async function launchNode(
  bin: string,
  label: string,
  dir: string,
  argsFor: (port: number, extraPort: number) => Promise<string[]>,
  needsExtraPort = false,
): Promise<Node & { extraPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(HOST);
    let extraPort = needsExtraPort ? await freePort(HOST) : 0;
    while (needsExtraPort && extraPort === port) extraPort = await freePort(HOST);
    const child = spawnTracked(bin, await argsFor(port, extraPort), { cwd: dir });
    try {
      await Promise.race([
        waitForPing(HOST, port, 15_000, () => `\n${child.logs()}`),
        child.exited.then((e) => {
          throw new Error(`${label} on port ${port} exited during startup (code ${e.code}, signal ${e.signal}):\n${child.logs()}`);
        }),
      ]);
      return { port, child, label, extraPort };
    } catch (err) {
      await child.terminate('SIGKILL');
      const inUse = err instanceof Error && /in use/i.test(err.message);
      if (!inUse || attempt >= 3) throw err;
    }
  }
}

function collectLogs(nodes: Node[]): string {
  return nodes.map((n) => `--- ${n.label} (port ${n.port}, pid ${n.child.pid}) ---\n${n.child.logs()}`).join('\n');
}

async function stopNodes(nodes: Node[], dir: string): Promise<void> {
  await Promise.all(nodes.map((n) => n.child.terminate('SIGTERM', 5_000)));
  await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Sentinel

export interface SentinelOptions {
  /** Master name (default mymaster). */
  name?: string;
  /** sentinel down-after-milliseconds (default 2000). */
  downAfterMs?: number;
  /** sentinel failover-timeout (default 10000). */
  failoverTimeoutMs?: number;
  /** Extra redis.conf lines for both data nodes (e.g. ['min-replicas-to-write 1']). */
  dataConfig?: string[];
}

/** Writes `<dir>/<sub>/<file>` (a fresh node data dir) with `dir <that dir>` added; returns its path. */
async function writeNodeConf(dir: string, sub: string, file: string, lines: string[]): Promise<string> {
  const d = path.join(dir, sub);
  await rm(d, { recursive: true, force: true });
  await mkdir(d, { recursive: true });
  const conf = path.join(d, file);
  await writeFile(conf, [...lines, `dir ${d}`, ''].join('\n'));
  return conf;
}

export async function startSentinel(opts: SentinelOptions = {}): Promise<SentinelTopology> {
  const bin = await which('redis-server');
  if (!bin) throw new Error('redis-server not installed (apt-get install redis-server)');
  const name = opts.name ?? 'mymaster';
  const downAfter = opts.downAfterMs ?? 2000;
  const failoverTimeout = opts.failoverTimeoutMs ?? 10_000;
  const dir = await mkdtemp(path.join(tmpdir(), 'mesh-sentinel-'));
  const nodes: Node[] = [];
  try {
    // A config file (not only args) so that Sentinel's REPLICAOF + CONFIG REWRITE work.
    const dataArgs = async (port: number, extra: string[]) => [
      await writeNodeConf(dir, `data-${port}`, 'redis.conf', [
        `bind ${HOST}`,
        `port ${port}`,
        'daemonize no',
        'save ""',
        'appendonly no',
        `replica-announce-ip ${HOST}`,
        ...(opts.dataConfig ?? []),
        ...extra,
      ]),
    ];
    const master = await launchNode(bin, 'master', dir, (p) => dataArgs(p, []));
    nodes.push(master);
    const replica = await launchNode(bin, 'replica', dir, (p) => dataArgs(p, [`replicaof ${HOST} ${master.port}`]));
    nodes.push(replica);

    const sentinelArgs = async (port: number) => [
      await writeNodeConf(dir, `sentinel-${port}`, 'sentinel.conf', [
        `bind ${HOST}`,
        `port ${port}`,
        'daemonize no',
        'protected-mode no',
        `sentinel announce-ip ${HOST}`,
        `sentinel monitor ${name} ${HOST} ${master.port} 2`,
        `sentinel down-after-milliseconds ${name} ${downAfter}`,
        `sentinel failover-timeout ${name} ${failoverTimeout}`,
        `sentinel parallel-syncs ${name} 1`,
      ]),
      '--sentinel',
    ];
    for (let i = 1; i <= 3; i++) nodes.push(await launchNode(bin, `sentinel-${i}`, dir, sentinelArgs));
  } catch (err) {
    await stopNodes(nodes, dir);
    throw err;
  }

  const [m, r, ...s] = nodes as [Node, Node, Node, Node, Node];
  const sentinels: HostPort[] = s.map((n) => ({ host: HOST, port: n.port }));
  const dataNodes: HostPort[] = [m, r].map((n) => ({ host: HOST, port: n.port }));

  const masterFrom = async (sentinel: HostPort): Promise<HostPort | null> => {
    const reply = await withAdmin(sentinel.port, (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).catch(() => null);
    if (!Array.isArray(reply) || reply.length < 2) return null;
    return { host: String(reply[0]), port: Number(reply[1]) };
  };

  /** The master when every sentinel agrees and sees a healthy, in-sync replica; else null. */
  const readyMaster = async (): Promise<HostPort | null> => {
    let first: HostPort | null = null;
    for (const sn of sentinels) {
      const mm = await masterFrom(sn);
      if (!mm) return null;
      if (!first) first = mm;
      if (!sameAddr(mm, first)) return null;
      const ok = await withAdmin(sn.port, async (c) => {
        const info = flatToMap(await c.call('SENTINEL', 'MASTER', name));
        if (info.get('flags') !== 'master') return false;
        if (Number(info.get('num-slaves') ?? 0) < 1) return false;
        if (Number(info.get('num-other-sentinels') ?? 0) < 2) return false;
        const replicas = (await c.call('SENTINEL', 'REPLICAS', name)) as unknown[];
        if (!Array.isArray(replicas) || replicas.length === 0) return false;
        // Every replica must be seen as a replica *by its own latest INFO*: a sentinel with a stale
        // view of a promoted node would convert it back and abort the next failover.
        return replicas.every((raw) => {
          const v = flatToMap(raw);
          return (
            v.get('flags') === 'slave' &&
            v.get('role-reported') === 'slave' &&
            v.get('master-link-status') === 'ok' &&
            v.get('master-port') === String(first?.port)
          );
        });
      }).catch(() => false);
      if (!ok) return null;
    }
    if (!first) return null;
    const master = first;
    const repl = await withAdmin(master.port, (c) => c.info('replication')).catch(() => '');
    const info = infoToMap(repl);
    if (info.get('role') !== 'master' || Number(info.get('connected_slaves') ?? 0) < 1) return null;
    if (!repl.includes('state=online')) return null;
    return master;
  };

  const waitFailoverReady = async (timeoutMs = READY_TIMEOUT_MS): Promise<HostPort> => {
    let found: HostPort | null = null;
    await waitUntil(
      async () => (found = await readyMaster()) !== null,
      timeoutMs,
      () => `sentinel set-up not failover-ready within ${timeoutMs} ms:\n${collectLogs(nodes).slice(-6000)}`,
      200,
    );
    return found as unknown as HostPort;
  };

  try {
    await waitFailoverReady();
  } catch (err) {
    await stopNodes(nodes, dir);
    throw err;
  }

  const masterAddr = async (): Promise<HostPort> => {
    for (const sn of sentinels) {
      const mm = await masterFrom(sn);
      if (mm) return mm;
    }
    throw new Error('no sentinel answered GET-MASTER-ADDR-BY-NAME');
  };
  const initial = await masterAddr();

  return {
    kind: 'sentinel',
    name,
    sentinels,
    dataNodes,
    env: { REDIS_SENTINELS: sentinels.map(addr).join(','), REDIS_SENTINEL_NAME: name },
    url: `redis://${addr(initial)}`,
    masterAddr,
    waitFailoverReady,
    logs: () => collectLogs(nodes),
    async failover(fo = {}) {
      const timeoutMs = fo.timeoutMs ?? READY_TIMEOUT_MS;
      const from = await waitFailoverReady(timeoutMs);
      const started = Date.now();
      // Sentinels may answer INPROG / NOGOODSLAVE for a moment right after a previous change.
      await waitUntil(
        async () => {
          const first = sentinels[0] as HostPort;
          const out = await withAdmin(first.port, (c) => c.call('SENTINEL', 'FAILOVER', name)).catch((e: unknown) => String(e));
          return out === 'OK';
        },
        timeoutMs,
        () => `SENTINEL FAILOVER ${name} kept failing`,
        200,
      );
      let to: HostPort | null = null;
      await waitUntil(
        async () => {
          const views = await Promise.all(sentinels.map(masterFrom));
          const v0 = views[0];
          if (!v0 || sameAddr(v0, from) || !views.every((v) => v && sameAddr(v, v0))) return false;
          const role = await withAdmin(v0.port, (c) => c.call('ROLE')).catch(() => null);
          if (!Array.isArray(role) || role[0] !== 'master') return false;
          to = v0;
          return true;
        },
        timeoutMs,
        () => `no new master reported by all sentinels within ${timeoutMs} ms:\n${collectLogs(nodes).slice(-6000)}`,
        50,
      );
      const ms = Date.now() - started;
      if (fo.waitReady ?? true) await waitFailoverReady(timeoutMs);
      return { from, to: to as unknown as HostPort, ms };
    },
    async stop() {
      // Sentinels first, so they do not react to the data nodes going away.
      await Promise.all(nodes.slice(2).map((n) => n.child.terminate('SIGTERM', 5_000)));
      await stopNodes(nodes.slice(0, 2), dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Cluster

export interface ClusterOptions {
  /** cluster-node-timeout (default 3000). */
  nodeTimeoutMs?: number;
}

const SLOT_RANGES: [number, number][] = [
  [0, 5460],
  [5461, 10922],
  [10923, 16383],
];

/**
 * redis-server arguments of a cluster node on 127.0.0.1 without persistence. The bus is on an
 * explicit port (cluster-port, Redis >= 7) instead of the implicit port+10000, so both ports come
 * from the free-port pool.
 */
export function clusterNodeArgs(port: number, bus: number, dir: string, nodeTimeoutMs = 3000): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--cluster-enabled',
    'yes',
    '--cluster-port',
    String(bus),
    '--cluster-config-file',
    path.join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout',
    String(nodeTimeoutMs),
    '--cluster-announce-ip',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];
}

export async function startCluster(opts: ClusterOptions = {}): Promise<ClusterTopology> {
  const bin = await which('redis-server');
  if (!bin) throw new Error('redis-server not installed (apt-get install redis-server)');
  const dir = await mkdtemp(path.join(tmpdir(), 'mesh-cluster-'));
  const nodes: (Node & { extraPort: number })[] = [];
  try {
    const args = async (port: number, bus: number) => clusterNodeArgs(port, bus, dir, opts.nodeTimeoutMs ?? 3000);
    const started = await Promise.all([1, 2, 3].map((i) => launchNode(bin, `cluster-node-${i}`, dir, args, true)));
    nodes.push(...started);

    await Promise.all(
      nodes.map((n, i) => {
        const [from, to] = SLOT_RANGES[i] as [number, number];
        return withAdmin(n.port, (c) => c.call('CLUSTER', 'ADDSLOTSRANGE', from, to));
      }),
    );
    const first = nodes[0] as Node & { extraPort: number };
    for (const n of nodes.slice(1)) {
      await withAdmin(first.port, (c) => c.call('CLUSTER', 'MEET', HOST, n.port, n.extraPort));
    }
    await waitUntil(
      async () => {
        for (const n of nodes) {
          const text = await withAdmin(n.port, (c) => c.call('CLUSTER', 'INFO')).catch(() => '');
          const info = infoToMap(String(text));
          if (info.get('cluster_state') !== 'ok') return false;
          if (info.get('cluster_known_nodes') !== String(nodes.length)) return false;
          if (info.get('cluster_slots_assigned') !== '16384') return false;
        }
        return true;
      },
      READY_TIMEOUT_MS,
      () => `cluster did not reach cluster_state:ok on every node within ${READY_TIMEOUT_MS} ms:\n${collectLogs(nodes).slice(-6000)}`,
      100,
    );
  } catch (err) {
    await stopNodes(nodes, dir);
    throw err;
  }
  const list: HostPort[] = nodes.map((n) => ({ host: HOST, port: n.port }));
  return {
    kind: 'cluster',
    nodes: list,
    env: { REDIS_CLUSTER_NODES: list.map(addr).join(',') },
    url: `redis://${addr(list[0] as HostPort)}`,
    logs: () => collectLogs(nodes),
    stop: () => stopNodes(nodes, dir),
  };
}

// ---------------------------------------------------------------------------------------------

export async function startStandalone(): Promise<StandaloneTopology> {
  const redis = await startRedis();
  return { kind: 'standalone', redis, env: { REDIS_URL: redis.url }, url: redis.url, stop: () => redis.stop() };
}

export async function startTopology(kind: TopologyKind): Promise<AnyTopology> {
  switch (kind) {
    case 'standalone':
      return startStandalone();
    case 'sentinel':
      return startSentinel();
    case 'cluster':
      return startCluster();
  }
}

function parseHostPorts(csv: string): HostPort[] {
  return csv
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.lastIndexOf(':');
      return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
    });
}

/** Which topology an app env (REDIS_URL / REDIS_SENTINELS / REDIS_CLUSTER_NODES) points at. */
export function topologyOfEnv(env: Record<string, string>): TopologyKind {
  if (env.REDIS_CLUSTER_NODES) return 'cluster';
  if (env.REDIS_SENTINELS) return 'sentinel';
  return 'standalone';
}

/**
 * A client for assertions on Redis state, of the right kind for `env`: ioredis Cluster for a
 * cluster, a Sentinel-aware client (follows failovers) for sentinel, a plain one otherwise.
 */
export function createTestClient(env: Record<string, string>): Redis | Cluster {
  switch (topologyOfEnv(env)) {
    case 'cluster':
      return new Cluster(parseHostPorts(env.REDIS_CLUSTER_NODES ?? ''), { redisOptions: { maxRetriesPerRequest: 3 } });
    case 'sentinel':
      return new Redis({
        sentinels: parseHostPorts(env.REDIS_SENTINELS ?? ''),
        name: env.REDIS_SENTINEL_NAME ?? 'mymaster',
        failoverDetector: true,
        maxRetriesPerRequest: 3,
      });
    case 'standalone':
      return new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 3 });
  }
}

/** Every key matching `pattern` (SCAN on every master for a cluster). Tests only. */
export async function scanAll(client: Redis | Cluster, pattern: string): Promise<string[]> {
  const targets: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  const found = new Set<string>();
  for (const node of targets) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const k of batch) found.add(k);
    } while (cursor !== '0');
  }
  return [...found].sort();
}

/** Resolves once `client` answers PING (a Cluster client also needs its slot map). */
export async function clientReady(client: Redis | Cluster, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}
