// Typed errors -> HTTP status + stable machine code, in one place. Services throw these; the error
// plugin turns them into `{ error, code, ... }` bodies.

export class MeshError extends Error {
  constructor(
    public readonly statusCode: number,
    public readonly code: string,
    message: string,
    public readonly extra: Record<string, unknown> = {},
    public readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'MeshError';
  }
}

export const errors = {
  instanceNotFound: (id: string) =>
    new MeshError(404, 'instance_not_found', `Instance '${id}' is not registered (or its heartbeat lapsed); register again`),
  // Wire contract: this exact text is what spec-ai clients show.
  targetNotFound: (id: string) => new MeshError(400, 'target_not_found', `Target instance '${id}' not found`, { target_instance: id }),
  sourceNotFound: (id: string) =>
    new MeshError(404, 'source_not_found', `Source instance '${id}' is not registered (or its heartbeat lapsed)`, { source_instance: id }),
  noCapableInstance: (capability: string) =>
    new MeshError(400, 'no_capable_instance', `No live instance has capability (or A2A skill id or tag) '${capability}'`, { capability }),
  inboxFull: (target: string) =>
    new MeshError(429, 'inbox_full', `Inbox of '${target}' is full; retry after it acknowledges messages`, { target }, { 'retry-after': '1' }),
  broadcastBacklogFull: (ids: string[]) =>
    new MeshError(
      429,
      'inbox_full',
      `Broadcast backlog of ${ids.map((i) => `'${i}'`).join(', ')} is full; retry after they acknowledge messages`,
      { full: ids },
      { 'retry-after': '1' },
    ),
  idInUse: (id: string) =>
    new MeshError(409, 'instance_id_in_use', `Instance id '${id}' is registered and live; re-registering it needs its instance token`),
  unauthorized: (message = 'Missing or invalid bearer token') => new MeshError(401, 'unauthorized', message),
  forbidden: (message: string) => new MeshError(403, 'forbidden', message),
  timeout: (message: string) => new MeshError(504, 'timeout', message),
  unavailable: (message = 'Redis is unavailable; retry shortly') =>
    new MeshError(503, 'unavailable', message, {}, { 'retry-after': '1' }),
  // REDIS_SYNC_REPLICAS: the master applied the write but too few replicas confirmed it in time, so
  // a failover could still lose it. Ambiguous like a timeout: a retry must be safe (sends: with the
  // same Idempotency-Key).
  notReplicated: (required: number, acked: number, timeoutMs: number, unconfirmable = false) =>
    new MeshError(
      503,
      'not_replicated',
      (unconfirmable
        ? `The write was applied but could not be confirmed by the ${required} Redis replica(s) required (the connection to Redis changed or failed); `
        : `The write was applied but ${acked} of the ${required} Redis replica(s) required confirmed it within ${timeoutMs} ms; `) +
        'it may be lost in a failover. Retry (sends: with the same Idempotency-Key)',
      { replicas_required: required, replicas_acked: acked },
      { 'retry-after': '1' },
    ),
  idempotencyKeyMismatch: (key: string) =>
    new MeshError(
      422,
      'idempotency_key_mismatch',
      `Idempotency-Key '${key}' was already used by this sender for a different request; use a new key for a new message`,
      { idempotency_key: key },
    ),
  rateLimited: (id: string, retryAfterMs: number) =>
    new MeshError(
      429,
      'rate_limited',
      `Instance '${id}' is sending faster than allowed (SEND_RATE_PER_SEC); retry later`,
      { retry_after_ms: retryAfterMs },
      { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
    ),
  tooManyStreams: (id: string, limit: number) =>
    new MeshError(429, 'too_many_streams', `Instance '${id}' already has ${limit} open message streams on this replica`, { limit }, { 'retry-after': '1' }),
  payloadTooLarge: (limit: number) =>
    new MeshError(413, 'payload_too_large', `Payload exceeds the limit of ${limit} bytes`, { limit }),
  // Redis at maxmemory with noeviction refused the write before running it (docs/reliability.md).
  // 507, not 503: the replica is healthy and reads, acks and leaves still work (and free memory).
  insufficientStorage: () =>
    new MeshError(
      507,
      'insufficient_storage',
      'Redis is out of memory (maxmemory); nothing was written. Retry after consumers acknowledge messages or Redis gets more memory',
      {},
      { 'retry-after': '5' },
    ),
};
