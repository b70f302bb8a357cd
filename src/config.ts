// Environment -> validated configuration. Every variable is checked once at startup so a
// typo fails fast with one clear line per bad variable instead of a confusing runtime error.
import { z } from 'zod';

const intMs = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

const hostPortList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'expected host:port')).min(1, 'expected at least one host:port'));

const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean),
);

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const configSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('0.0.0.0'),
    REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
    REDIS_SENTINELS: hostPortList.optional(),
    REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
    REDIS_CLUSTER_NODES: hostPortList.optional(),
    REDIS_PASSWORD: z.string().optional(),
    REDIS_COMMAND_TIMEOUT_MS: intMs(2000),
    // Redis must not evict keys (src/redis/eviction.ts): enforce = refuse to start unless every master
    // has maxmemory-policy noeviction; warn = log and start (a managed Redis that hides CONFIG).
    REDIS_EVICTION_CHECK: z.enum(['enforce', 'warn']).default('enforce'),
    // How often the policy is read again while running (a failover or CONFIG SET can change it). 0 = never.
    REDIS_EVICTION_CHECK_INTERVAL_MS: intMs(60_000, 0),
    // Writes the API acknowledges (register, send, ack, deregister) wait until this many replicas
    // have them (Redis WAIT), else 503 not_replicated (src/registry/replica-sync.ts). 0 = do not wait.
    REDIS_SYNC_REPLICAS: z.coerce.number().int().min(0).max(16).default(0),
    // How long such a write waits for the replicas; below REDIS_COMMAND_TIMEOUT_MS.
    REDIS_SYNC_TIMEOUT_MS: intMs(1000),
    // How long an Idempotency-Key on send/request is remembered (per sender).
    IDEMPOTENCY_TTL_MS: intMs(600_000, 1000),
    MESH_NAMESPACE: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (max 64)')
      .default('default'),
    HEARTBEAT_INTERVAL_MS: intMs(5000, 10),
    STALE_TIMEOUT_MS: intMs(15000, 20),
    CLEANUP_INTERVAL_MS: intMs(7000, 10),
    CLEANUP_BATCH_SIZE: intMs(100),
    // Live peers a register answer carries at most (the caller included); more: peers_truncated.
    REGISTER_PEERS_MAX: intMs(100),
    // Bytes of message bodies one fetch answer carries at most (one larger message still goes, alone).
    FETCH_MAX_BYTES: intMs(1024 * 1024, 1024),
    INBOX_MAX: intMs(10000),
    MESSAGE_TTL_MS: intMs(86_400_000, 0),
    MAX_PAYLOAD_BYTES: intMs(256 * 1024, 1),
    BODY_LIMIT_BYTES: intMs(1024 * 1024, 1024),
    LONG_POLL_MAX_S: intMs(60),
    SSE_KEEPALIVE_MS: intMs(15000, 10),
    // Concurrent GET /messages/{id}/stream connections per instance, per replica (429 beyond).
    STREAMS_PER_INSTANCE_MAX: intMs(4),
    EVENTS_MAXLEN: intMs(10000, 100),
    // At most one `updated` (status) event per instance per this interval (flapping agents).
    STATUS_EVENT_INTERVAL_MS: intMs(5000, 0),
    SHUTDOWN_TIMEOUT_MS: intMs(10000, 100),
    // Time a client has to send a whole request (headers + body); 408 after it.
    REQUEST_TIMEOUT_MS: intMs(10000, 100),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    AUTH_MODE: z.enum(['none', 'token', 'instance']).default('none'),
    AUTH_TOKENS: csv.default([]),
    ADMIN_TOKENS: csv.default([]),
    METRICS_TOKEN: z.string().optional(),
    // Per-instance send rate limit (token bucket in Redis, shared by all replicas). 0 = off.
    SEND_RATE_PER_SEC: z.coerce.number().min(0).max(1_000_000).default(0),
    // Bucket size (sends allowed in a burst); default: the rate rounded up, at least 1.
    SEND_BURST: z.coerce.number().int().min(1).max(1_000_000).optional(),
    // Browser origins allowed by CORS (comma-separated, or *). Unset: no CORS headers at all.
    CORS_ORIGINS: csv
      .pipe(z.array(z.string().regex(/^(\*|https?:\/\/[^\s/]+)$/, 'expected * or origins like https://app.example.com')))
      .optional(),
    RUN_MAINTENANCE: bool.default(true),
    // The built operator console served at /ui. Unset: dist/ui of this package (npm run build).
    UI_DIR: z.string().min(1).optional(),
    // Base URL clients reach the registry at (behind a load balancer), for the links in its A2A card
    // (/.well-known/agent-card.json). Unset: from each request's Host header.
    PUBLIC_URL: z
      .string()
      .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'expected an http(s) URL without query or fragment, e.g. https://mesh.example.com')
      .transform((u) => u.replace(/\/+$/, ''))
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.STALE_TIMEOUT_MS <= c.HEARTBEAT_INTERVAL_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['STALE_TIMEOUT_MS'],
        message: `must be greater than HEARTBEAT_INTERVAL_MS (${c.HEARTBEAT_INTERVAL_MS})`,
      });
    }
    if (c.REDIS_SYNC_REPLICAS > 0 && c.REDIS_SYNC_TIMEOUT_MS >= c.REDIS_COMMAND_TIMEOUT_MS) {
      // WAIT is a Redis command like any other: ioredis would time it out first and answer
      // 503 unavailable instead of telling the replicas were slow.
      ctx.addIssue({
        code: 'custom',
        path: ['REDIS_SYNC_TIMEOUT_MS'],
        message: `must be below REDIS_COMMAND_TIMEOUT_MS (${c.REDIS_COMMAND_TIMEOUT_MS}) when REDIS_SYNC_REPLICAS > 0`,
      });
    }
    if (c.REDIS_SENTINELS && c.REDIS_CLUSTER_NODES) {
      ctx.addIssue({
        code: 'custom',
        path: ['REDIS_CLUSTER_NODES'],
        message: 'set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both',
      });
    }
    for (const name of ['AUTH_TOKENS', 'ADMIN_TOKENS'] as const) {
      // A bearer is one run of non-space characters (at most 512, see http/plugins/auth.ts):
      // anything else could never be presented, so refuse it instead of failing every request.
      if (c[name].some((t) => !/^\S{1,512}$/.test(t))) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'tokens must be 1-512 characters without spaces' });
      }
    }
    if (c.AUTH_MODE === 'token' && c.AUTH_TOKENS.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_TOKENS'],
        message: 'AUTH_MODE=token needs at least one token in AUTH_TOKENS',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset" (docker-compose and k8s often pass FOO= for absent values).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(config)';
    const value = typeof issue.path[0] === 'string' ? cleaned[issue.path[0]] : undefined;
    const shown = value === undefined ? '' : ` (got ${JSON.stringify(redactIfSecret(name, value))})`;
    return `${name}: ${issue.message}${shown}`;
  });
  throw new ConfigError(problems);
}

function redactIfSecret(name: string, value: string): string {
  return /TOKEN|PASSWORD/.test(name) ? '<redacted>' : value;
}

/** Builds a config for tests and tools: defaults plus overrides, validated the same way. */
export function configFrom(overrides: Record<string, string | number | boolean> = {}): Config {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(overrides)) env[k] = String(v);
  return loadConfig(env);
}
