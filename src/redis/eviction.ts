// Redis must not evict. With any maxmemory-policy but `noeviction`, a Redis under memory pressure
// silently deletes keys - registrations, queued messages, the leader term - and nobody is told
// (BullMQ requires noeviction for the same reason). With `noeviction` it refuses writes instead
// (OOM), which the API answers with 507 and the client can see and retry.
//
// The guard reads `maxmemory*` from every master (standalone: the server; Sentinel: the current
// master; Cluster: each master) at startup and every REDIS_EVICTION_CHECK_INTERVAL_MS after, keeps
// the last result for /readyz, and logs when it goes bad. REDIS_EVICTION_CHECK decides what a bad or
// unreadable policy does at startup: `enforce` refuses to start, `warn` ("trust me": a managed Redis
// that hides CONFIG) logs loudly and starts. At run time it only reports: taking every replica out
// of the load balancer would turn a risk into an outage.
import { Cluster, ReplyError, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { RedisClient } from './client.js';

export type EvictionCheckMode = Config['REDIS_EVICTION_CHECK'];

export interface NodeMemoryPolicy {
  /** host:port of the master as this replica reaches it. */
  node: string;
  policy: string;
  /** 0 = no limit: Redis grows until the OS or the container limit kills it. */
  maxmemory_bytes: number;
}

/** What /readyz shows under `eviction`. */
export interface EvictionReport {
  /** ok: every master has noeviction; evicting: at least one has another policy; unchecked: could not read it. */
  result: 'ok' | 'evicting' | 'unchecked' | 'pending';
  mode: EvictionCheckMode;
  nodes: NodeMemoryPolicy[];
  /** Why the result is `unchecked` (Redis' own error text). */
  error?: string;
  /** ISO time of the check this report comes from (absent while pending). */
  checked_at?: string;
}

/** Startup refused: the message says what is wrong and how to fix or override it. */
export class EvictionPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvictionPolicyError';
  }
}

const REQUIRED_POLICY = 'noeviction';
/** Startup: how often to ask again when Redis does not answer at all (it may still be starting). */
const UNREACHABLE_ATTEMPTS = 5;
const UNREACHABLE_PAUSE_MS = 500;

function nodeName(client: Redis): string {
  // Sentinel: options.host is not the master; the socket knows where it is connected.
  const stream = (client as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  if (stream?.remoteAddress && stream.remotePort) return `${stream.remoteAddress}:${stream.remotePort}`;
  return `${client.options.host ?? '?'}:${client.options.port ?? '?'}`;
}

async function readNode(client: Redis): Promise<NodeMemoryPolicy> {
  // One pattern, one round trip: maxmemory and maxmemory-policy (and a few more we ignore).
  const flat = (await client.config('GET', 'maxmemory*')) as string[];
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) values.set(flat[i] as string, flat[i + 1] as string);
  return {
    node: nodeName(client),
    policy: values.get('maxmemory-policy') ?? 'unknown',
    maxmemory_bytes: Number(values.get('maxmemory') ?? 0),
  };
}

async function masters(client: RedisClient): Promise<Redis[]> {
  if (!(client instanceof Cluster)) return [client];
  if (client.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('cluster not ready')), 10_000);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return client.nodes('master');
}

/** Reads every master's policy once. Throws what Redis (or the connection) said. */
export async function readMemoryPolicies(client: RedisClient): Promise<NodeMemoryPolicy[]> {
  return Promise.all((await masters(client)).map(readNode));
}

export function summarize(nodes: NodeMemoryPolicy[]): 'ok' | 'evicting' {
  return nodes.length > 0 && nodes.every((n) => n.policy === REQUIRED_POLICY) ? 'ok' : 'evicting';
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class EvictionGuard {
  private last: EvictionReport;
  /** The error of the last check (null after a successful one). */
  private lastError: unknown = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly client: RedisClient,
    private readonly config: Pick<Config, 'REDIS_EVICTION_CHECK' | 'REDIS_EVICTION_CHECK_INTERVAL_MS'>,
    private readonly log: Logger,
  ) {
    this.last = { result: 'pending', mode: config.REDIS_EVICTION_CHECK, nodes: [] };
  }

  get report(): EvictionReport {
    return this.last;
  }

  /** One check; never throws (the result says what went wrong). */
  async check(): Promise<EvictionReport> {
    const mode = this.config.REDIS_EVICTION_CHECK;
    try {
      const nodes = await readMemoryPolicies(this.client);
      this.lastError = null;
      this.last = { result: summarize(nodes), mode, nodes, checked_at: new Date().toISOString() };
    } catch (err) {
      this.lastError = err;
      this.last = { result: 'unchecked', mode, nodes: [], error: errorText(err), checked_at: new Date().toISOString() };
    }
    return this.last;
  }

  /**
   * The startup check: logs the result and, in `enforce` mode, throws EvictionPolicyError when a
   * master may evict or the policy cannot be read.
   */
  async startupCheck(): Promise<EvictionReport> {
    let report = await this.check();
    // Not an answer from Redis (connection trouble at startup): ask again before judging.
    for (let i = 1; i < UNREACHABLE_ATTEMPTS && report.result === 'unchecked' && !this.refusedByRedis; i++) {
      await new Promise((r) => setTimeout(r, UNREACHABLE_PAUSE_MS));
      report = await this.check();
    }
    const enforce = report.mode === 'enforce';
    if (report.result === 'ok') {
      const unlimited = report.nodes.filter((n) => n.maxmemory_bytes === 0).map((n) => n.node);
      this.log.info({ eviction: report }, `Redis maxmemory-policy is ${REQUIRED_POLICY} on ${report.nodes.length} master(s)`);
      if (unlimited.length > 0) {
        this.log.warn(
          { nodes: unlimited },
          'Redis maxmemory is 0 (no limit): when memory runs out the OS or the container limit kills Redis instead of ' +
            'Redis refusing writes; set maxmemory below the memory limit (see docs/reliability.md)',
        );
      }
      return report;
    }
    if (report.result === 'evicting') {
      const bad = report.nodes.filter((n) => n.policy !== REQUIRED_POLICY).map((n) => `${n.node} has maxmemory-policy ${n.policy}`);
      const message =
        `Redis may evict keys: ${bad.join(', ')}. Under memory pressure it would silently delete registrations, ` +
        `queued messages and the leader term. Set maxmemory-policy ${REQUIRED_POLICY} (CONFIG SET maxmemory-policy ` +
        `${REQUIRED_POLICY}, and in redis.conf)` +
        (enforce ? ', or set REDIS_EVICTION_CHECK=warn to start anyway.' : '. Starting anyway: REDIS_EVICTION_CHECK=warn.');
      if (enforce) throw new EvictionPolicyError(message);
      this.log.error({ eviction: report }, message);
      return report;
    }
    const message =
      `Could not read Redis' maxmemory-policy (${report.error ?? 'no answer'}). A managed Redis may refuse CONFIG: ` +
      `make sure its policy is ${REQUIRED_POLICY}` +
      (enforce ? ', then set REDIS_EVICTION_CHECK=warn.' : '. Starting anyway (REDIS_EVICTION_CHECK=warn): not checked.');
    if (enforce) throw new EvictionPolicyError(message);
    this.log.warn({ eviction: report }, message);
    return report;
  }

  /** True when the last check failed because Redis answered with an error (CONFIG refused or renamed). */
  private get refusedByRedis(): boolean {
    return this.lastError instanceof ReplyError;
  }

  /** Re-checks every REDIS_EVICTION_CHECK_INTERVAL_MS (0 = never): a failover or a CONFIG SET can change it. */
  start(): void {
    const every = this.config.REDIS_EVICTION_CHECK_INTERVAL_MS;
    if (every <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.recheck(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async recheck(): Promise<void> {
    const before = this.last.result;
    const report = await this.check();
    if (report.result === 'evicting' && before !== 'evicting') {
      this.log.error(
        { eviction: report },
        `Redis maxmemory-policy is no longer ${REQUIRED_POLICY}: under memory pressure Redis will silently delete registrations and queued messages`,
      );
    } else if (report.result === 'ok' && before === 'evicting') {
      this.log.info({ eviction: report }, `Redis maxmemory-policy is ${REQUIRED_POLICY} again`);
    }
  }
}
