// Domain errors: what went wrong, as a stable machine code, a message for people, and the details a
// client may need (they become fields of the JSON error body next to `error` and `code`). Nothing
// here knows HTTP: src/http/error-status.ts maps every code to its status and headers, in one table.

export const DOMAIN_ERROR_CODES = [
  'instance_not_found',
  'target_not_found',
  'source_not_found',
  'no_capable_instance',
  'inbox_full',
  'instance_id_in_use',
  'agent_card_not_found',
  'unauthorized',
  'forbidden',
  'timeout',
  'unavailable',
  'not_replicated',
  'idempotency_key_mismatch',
  'rate_limited',
  'too_many_streams',
  'payload_too_large',
  'json_too_deep',
  'insufficient_storage',
  'console_not_built',
  'not_found',
] as const;

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

export class MeshDomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** Fields of the error body besides `error` and `code`, in order. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'MeshDomainError';
  }
}

export const errors = {
  instanceNotFound: (id: string) =>
    new MeshDomainError('instance_not_found', `Instance '${id}' is not registered (or its heartbeat lapsed); register again`),
  // Wire contract: this exact text is what spec-ai clients show.
  targetNotFound: (id: string) => new MeshDomainError('target_not_found', `Target instance '${id}' not found`, { target_instance: id }),
  sourceNotFound: (id: string) =>
    new MeshDomainError('source_not_found', `Source instance '${id}' is not registered (or its heartbeat lapsed)`, { source_instance: id }),
  noCapableInstance: (capability: string) =>
    new MeshDomainError('no_capable_instance', `No live instance has capability (or A2A skill id or tag) '${capability}'`, { capability }),
  inboxFull: (target: string) =>
    new MeshDomainError('inbox_full', `Inbox of '${target}' is full; retry after it acknowledges messages`, { target }),
  broadcastBacklogFull: (ids: string[]) =>
    new MeshDomainError(
      'inbox_full',
      `Broadcast backlog of ${ids.map((i) => `'${i}'`).join(', ')} is full; retry after they acknowledge messages`,
      { full: ids },
    ),
  idInUse: (id: string) =>
    new MeshDomainError('instance_id_in_use', `Instance id '${id}' is registered and live; re-registering it needs its instance token`),
  agentCardNotFound: (id: string) =>
    new MeshDomainError('agent_card_not_found', `Instance '${id}' registered without an A2A Agent Card`, { instance_id: id }),
  unauthorized: (message = 'Missing or invalid bearer token') => new MeshDomainError('unauthorized', message),
  forbidden: (message: string) => new MeshDomainError('forbidden', message),
  timeout: (message: string) => new MeshDomainError('timeout', message),
  unavailable: (message = 'Redis is unavailable; retry shortly') => new MeshDomainError('unavailable', message),
  // REDIS_SYNC_REPLICAS: the master applied the write but too few replicas confirmed it in time, so
  // a failover could still lose it. Ambiguous like a timeout: a retry must be safe (sends: with the
  // same Idempotency-Key).
  notReplicated: (required: number, acked: number, timeoutMs: number, unconfirmable = false) =>
    new MeshDomainError(
      'not_replicated',
      (unconfirmable
        ? `The write was applied but could not be confirmed by the ${required} Redis replica(s) required (the connection to Redis changed or failed); `
        : `The write was applied but ${acked} of the ${required} Redis replica(s) required confirmed it within ${timeoutMs} ms; `) +
        'it may be lost in a failover. Retry (sends: with the same Idempotency-Key)',
      { replicas_required: required, replicas_acked: acked },
    ),
  idempotencyKeyMismatch: (key: string) =>
    new MeshDomainError(
      'idempotency_key_mismatch',
      `Idempotency-Key '${key}' was already used by this sender for a different request; use a new key for a new message`,
      { idempotency_key: key },
    ),
  /** `retry_after_ms` also decides the Retry-After header. */
  rateLimited: (id: string, retryAfterMs: number) =>
    new MeshDomainError('rate_limited', `Instance '${id}' is sending faster than allowed (SEND_RATE_PER_SEC); retry later`, {
      retry_after_ms: retryAfterMs,
    }),
  tooManyStreams: (id: string, limit: number) =>
    new MeshDomainError('too_many_streams', `Instance '${id}' already has ${limit} open message streams on this replica`, { limit }),
  payloadTooLarge: (limit: number) => new MeshDomainError('payload_too_large', `Payload exceeds the limit of ${limit} bytes`, { limit }),
  agentCardTooLarge: (limit: number) =>
    new MeshDomainError('payload_too_large', `agent_card exceeds the limit of ${limit} bytes (serialized JSON)`, {
      limit,
      field: 'agent_card',
    }),
  jsonTooDeep: (maxDepth: number) =>
    new MeshDomainError('json_too_deep', `Request body nests deeper than ${maxDepth} levels`, { limit: maxDepth }),
  // Redis at maxmemory with noeviction refused the write before running it (docs/reliability.md):
  // the replica is healthy and reads, acks and leaves still work (and free memory).
  insufficientStorage: () =>
    new MeshDomainError(
      'insufficient_storage',
      'Redis is out of memory (maxmemory); nothing was written. Retry after consumers acknowledge messages or Redis gets more memory',
    ),
  consoleNotBuilt: () =>
    new MeshDomainError('console_not_built', 'The console has not been built: run `npm run build` (it writes dist/ui)'),
  notFound: (message: string) => new MeshDomainError('not_found', message),
};
