// Typed failures of the client: the server answered with an error (MeshApiError, carrying the
// HTTP status and the server's machine `code`), or no answer came back (MeshNetworkError).

export class MeshError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeshError';
  }
}

export class MeshApiError extends MeshError {
  /** HTTP status (4xx/5xx). */
  readonly status: number;
  /** The server's stable machine code (`target_not_found`, `instance_id_in_use`, ...), or `http_<status>` for a non-JSON body (e.g. a load balancer's own page). */
  readonly code: string;
  /** The parsed error body (`{error, code, ...}`), or null when it was not JSON. */
  readonly body: Record<string, unknown> | null;
  readonly method: string;
  readonly path: string;
  /** Retry-After in milliseconds, when the server sent one. */
  readonly retryAfterMs: number | null;
  /** How many times the request was sent (>1 when earlier attempts failed and were retried). */
  readonly attempts: number;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    body: Record<string, unknown> | null;
    method: string;
    path: string;
    retryAfterMs: number | null;
    attempts: number;
  }) {
    super(`${init.method} ${init.path} -> ${init.status} ${init.code}: ${init.message}`);
    this.name = 'MeshApiError';
    this.status = init.status;
    this.code = init.code;
    this.body = init.body;
    this.method = init.method;
    this.path = init.path;
    this.retryAfterMs = init.retryAfterMs;
    this.attempts = init.attempts;
  }
}

/**
 * - `connect`: the connection was never established (refused, DNS, unreachable): the server
 *   provably did not see the request.
 * - `timeout`: no complete answer within the per-request timeout.
 * - `network`: the connection broke after the request may have been sent (reset, closed early,
 *   malformed response).
 */
export type NetworkErrorKind = 'connect' | 'timeout' | 'network';

export class MeshNetworkError extends MeshError {
  readonly kind: NetworkErrorKind;
  /** The system error code found in the cause chain (ECONNREFUSED, ECONNRESET, ...), if any. */
  readonly errno: string | null;
  readonly method: string;
  readonly path: string;
  /** The full URL that was tried (base URL + path). */
  readonly url: string;
  readonly attempts: number;

  constructor(init: {
    kind: NetworkErrorKind;
    errno: string | null;
    method: string;
    path: string;
    url: string;
    attempts: number;
    cause: unknown;
  }) {
    const detail = init.errno ?? (init.cause instanceof Error ? init.cause.message : String(init.cause));
    super(`${init.method} ${init.url} failed (${init.kind}: ${detail})`, { cause: init.cause });
    this.name = 'MeshNetworkError';
    this.kind = init.kind;
    this.errno = init.errno;
    this.method = init.method;
    this.path = init.path;
    this.url = init.url;
    this.attempts = init.attempts;
  }
}

/** A request/response exchange got no Response in time. */
export class MeshTimeoutError extends MeshError {
  constructor(
    message: string,
    readonly correlationId: string,
  ) {
    super(message);
    this.name = 'MeshTimeoutError';
  }
}

/** The agent was closed while the operation was pending. */
export class MeshClosedError extends MeshError {
  constructor(message = 'agent closed') {
    super(message);
    this.name = 'MeshClosedError';
  }
}

/** A message handler threw (reported through the agent's 'error' event; the message stays un-acked). */
export class MeshHandlerError extends MeshError {
  constructor(
    readonly messageId: string,
    readonly messageType: string,
    readonly attempt: number,
    cause: unknown,
  ) {
    super(
      `handler for ${messageType} message ${messageId} failed (attempt ${attempt}): ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'MeshHandlerError';
  }
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Every `code` found in an error's cause chain (and inside AggregateErrors), outermost first. */
export function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const stack: unknown[] = [err];
  while (stack.length > 0) {
    const e = stack.shift();
    if (e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const rec = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof rec.code === 'string') codes.push(rec.code);
    if (rec.cause !== undefined) stack.push(rec.cause);
    if (Array.isArray(rec.errors)) stack.push(...(rec.errors as unknown[]));
  }
  return codes;
}

/** True when the transport error proves the request never reached the server. */
export function isConnectFailure(err: unknown): boolean {
  const codes = errorCodes(err);
  // A socket that was connected and then failed (ECONNRESET etc.) anywhere in the chain means
  // bytes may have left: only a chain of connect-phase errors counts.
  return codes.length > 0 && codes.every((c) => CONNECT_CODES.has(c));
}
