// How MeshClient talks to the registry: requests on the global fetch with a deadline per attempt,
// retries paced by p-retry under a per-route policy, errors as MeshApiError / MeshNetworkError, and
// server-sent event streams. The route methods are in client.ts.
//
// Timeouts: every attempt has its own deadline (`timeoutMs`, default 10 s; long-polls add their
// `wait`). Retries: exponential backoff, randomized, capped at `retryMaxMs`, after at least the
// server's Retry-After when it sent one. Which failures are retried depends on the route's policy:
//
//   idempotent   GET routes, register, heartbeat, ack, deregister: repeated delivery has the same
//                effect, so network errors, timeouts and 5xx (incl. 503) are retried.
//                send and request too: each call carries an Idempotency-Key (a fresh UUID per
//                call unless the caller gives one), and the server answers a retry with the same
//                key with the first result, queueing nothing. So a timeout, a reset after sending
//                or a 503 - where the message may well have been queued - is retried safely.
//   connect-only send and request with `idempotencyKey: null` (no key, e.g. a server without
//                support): retried only when the connection was never established (refused, DNS
//                failure, unreachable): then the server provably never saw the request. Any
//                other failure is returned and the caller decides (retrying may duplicate).
//
// 4xx answers are never retried.
import pRetry from 'p-retry';
import { delay } from './delay.js';
import { MeshApiError, MeshNetworkError, isConnectFailure, type NetworkErrorKind } from './errors.js';
import { parseSse, type SseEvent } from './sse.js';

export type RetryPolicy = 'idempotent' | 'connect-only' | 'never';

export interface TransportOptions {
  /** Base URL of the registry (or its load balancer), e.g. http://127.0.0.1:8080 */
  url: string;
  /** Bearer token sent on every call (shared token, admin token or instance token). */
  token?: string | null | undefined;
  /** Per-attempt timeout in ms (default 10000). Long-polls add their wait time. */
  timeoutMs?: number | undefined;
  /** Extra attempts after the first for retryable failures (default 3). */
  retries?: number | undefined;
  /** Backoff base in ms (default 200): retry n waits min(retryMaxMs, base * 2^(n-1) * random(1..2)). */
  retryBaseMs?: number | undefined;
  /** Backoff cap in ms (default 5000). */
  retryMaxMs?: number | undefined;
  /** Largest Retry-After honoured, in ms (default 30000). */
  retryAfterMaxMs?: number | undefined;
  /** Extra headers on every request. */
  headers?: Record<string, string> | undefined;
  /** fetch implementation (default: the global fetch). */
  fetch?: typeof fetch | undefined;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Bearer for this call only (null: none); default the client's token. */
  token?: string | null | undefined;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
}

export interface StreamOptions extends CallOptions {
  /** Abort the connection when nothing (not even a keep-alive comment) arrives for this long (default 60000). */
  idleTimeoutMs?: number | undefined;
}

/** One request as a route method describes it. */
export interface Prepared {
  method: string;
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  policy: RetryPolicy;
  /** Extra ms added to the attempt timeout (long-poll wait). */
  extraTimeoutMs?: number;
  /** Statuses handed back to the caller instead of becoming MeshApiError. */
  passStatuses?: number[];
  /** Server error codes that are answers, not failures: never retried. */
  finalCodes?: string[];
}

export interface RawResult {
  status: number;
  body: unknown;
  attempts: number;
}

const DEFAULTS = { timeoutMs: 10_000, retries: 3, retryBaseMs: 200, retryMaxMs: 5_000, retryAfterMaxMs: 30_000 };

/** Parses Retry-After (delta seconds or an HTTP date) to ms, or null. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether `policy` lets a request that failed with `err` be sent again (see the top of this file). */
export function retryable(policy: RetryPolicy, err: unknown, finalCodes?: string[]): boolean {
  if (policy === 'never') return false;
  if (err instanceof MeshNetworkError) return policy === 'idempotent' || err.kind === 'connect';
  return err instanceof MeshApiError && err.status >= 500 && policy === 'idempotent' && !finalCodes?.includes(err.code);
}

function firstCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const rec = e as { code?: unknown; cause?: unknown };
    if (typeof rec.code === 'string') return rec.code;
    e = rec.cause;
  }
  return undefined;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export class Transport {
  readonly url: string;
  readonly token: string | null;
  readonly opts: typeof DEFAULTS;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: TransportOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new TypeError(`invalid mesh URL: ${JSON.stringify(options.url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`mesh URL must be http(s): ${JSON.stringify(options.url)}`);
    }
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token ?? null;
    this.opts = {
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      retries: options.retries ?? DEFAULTS.retries,
      retryBaseMs: options.retryBaseMs ?? DEFAULTS.retryBaseMs,
      retryMaxMs: options.retryMaxMs ?? DEFAULTS.retryMaxMs,
      retryAfterMaxMs: options.retryAfterMaxMs ?? DEFAULTS.retryAfterMaxMs,
    };
    this.headers = { ...(options.headers ?? {}) };
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The options this transport was made with, but another default bearer token. */
  optionsWithToken(token: string | null): TransportOptions {
    return { ...this.opts, url: this.url, token, headers: this.headers, fetch: this.fetchImpl };
  }

  async json<T>(req: Prepared, options: CallOptions): Promise<T> {
    return (await this.raw(req, options)).body as T;
  }

  private buildUrl(path: string, query?: Record<string, string | number | undefined>): string {
    let url = this.url + path;
    if (query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
      const s = qs.toString();
      if (s) url += `?${s}`;
    }
    return url;
  }

  private buildHeaders(extra: Record<string, string> | undefined, token: string | null, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.headers, ...(extra ?? {}) };
    if (hasBody) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    return headers;
  }

  apiError(method: string, path: string, status: number, body: unknown, retryAfterMs: number | null, attempts: number): MeshApiError {
    const rec = isRecord(body) ? body : null;
    const code = rec && typeof rec.code === 'string' ? rec.code : `http_${status}`;
    let message: string;
    if (rec && typeof rec.error === 'string') message = rec.error;
    else if (typeof body === 'string' && body.trim()) message = body.trim().slice(0, 200);
    else message = `HTTP ${status}`;
    return new MeshApiError({ status, code, message, body: rec, method, path, retryAfterMs, attempts });
  }

  private networkError(
    method: string,
    path: string,
    kind: NetworkErrorKind,
    errno: string | null,
    attempts: number,
    cause: unknown,
  ): MeshNetworkError {
    return new MeshNetworkError({ kind, errno, method, path, url: this.url + path, attempts, cause });
  }

  /** An `error` event on a stream: the server gave up on it (its cause stays in the server's log). */
  streamError(path: string, data: string): MeshNetworkError {
    return this.networkError('GET', path, 'network', 'stream_error', 1, new Error(data));
  }

  /**
   * Runs `attempt` under the retry policy: p-retry paces the retries; a Retry-After from the
   * server is waited out first (capped at retryAfterMaxMs). The caller's signal ends it at once.
   */
  private async withRetries<T>(
    policy: RetryPolicy,
    retries: number,
    signal: AbortSignal | undefined,
    attempt: (n: number) => Promise<T>,
    finalCodes?: string[],
  ): Promise<T> {
    try {
      return await pRetry(attempt, {
        retries: policy === 'never' ? 0 : retries,
        minTimeout: this.opts.retryBaseMs,
        maxTimeout: this.opts.retryMaxMs,
        factor: 2,
        randomize: true,
        ...(signal ? { signal } : {}),
        shouldRetry: ({ error }) => retryable(policy, error, finalCodes),
        onFailedAttempt: async ({ error, retriesLeft }) => {
          if (retriesLeft > 0 && retryable(policy, error, finalCodes) && error instanceof MeshApiError && error.retryAfterMs) {
            await delay(Math.min(error.retryAfterMs, this.opts.retryAfterMaxMs), signal);
          }
        },
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    }
  }

  async raw(req: Prepared, options: CallOptions): Promise<RawResult> {
    const url = this.buildUrl(req.path, req.query);
    const token = options.token === undefined ? this.token : options.token;
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers = this.buildHeaders(req.headers, token, body !== undefined);
    const timeoutMs = (options.timeoutMs ?? this.opts.timeoutMs) + (req.extraTimeoutMs ?? 0);

    return this.withRetries(
      req.policy,
      options.retries ?? this.opts.retries,
      options.signal,
      async (attempt) => {
        const timeout = AbortSignal.timeout(timeoutMs);
        const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
        let res: Response;
        let text: string;
        try {
          res = await this.fetchImpl(url, { method: req.method, headers, ...(body === undefined ? {} : { body }), signal });
          text = await res.text();
        } catch (err) {
          if (options.signal?.aborted) throw options.signal.reason;
          const kind: NetworkErrorKind = timeout.aborted ? 'timeout' : isConnectFailure(err) ? 'connect' : 'network';
          throw this.networkError(req.method, req.path, kind, kind === 'timeout' ? 'ETIMEDOUT' : (firstCode(err) ?? null), attempt, err);
        }
        const parsed = parseBody(text);
        if ((res.status >= 200 && res.status < 300) || req.passStatuses?.includes(res.status)) {
          return { status: res.status, body: parsed, attempts: attempt };
        }
        throw this.apiError(req.method, req.path, res.status, parsed, parseRetryAfter(res.headers.get('retry-after')), attempt);
      },
      req.finalCodes,
    );
  }

  /** Opens an SSE response (retrying the connection like an idempotent GET), then parses it. */
  async *sse(path: string, extraHeaders: Record<string, string>, options: StreamOptions): AsyncGenerator<SseEvent> {
    const url = this.buildUrl(path);
    const token = options.token === undefined ? this.token : options.token;
    const headers = { ...this.buildHeaders(extraHeaders, token, false), accept: 'text/event-stream' };
    const connectTimeoutMs = options.timeoutMs ?? this.opts.timeoutMs;
    const idleMs = options.idleTimeoutMs ?? 60_000;

    const open = async (attempt: number) => {
      const controller = new AbortController();
      const onAbort = () => controller.abort(options.signal?.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const state = { timedOut: false, timer: undefined as ReturnType<typeof setTimeout> | undefined };
      const arm = (ms: number) => {
        clearTimeout(state.timer);
        state.timer = setTimeout(() => {
          state.timedOut = true;
          controller.abort();
        }, ms);
      };
      const cleanup = () => {
        clearTimeout(state.timer);
        options.signal?.removeEventListener('abort', onAbort);
        controller.abort();
      };
      arm(connectTimeoutMs);
      let res: Response;
      try {
        options.signal?.throwIfAborted();
        res = await this.fetchImpl(url, { method: 'GET', headers, signal: controller.signal });
      } catch (err) {
        cleanup();
        if (options.signal?.aborted) throw options.signal.reason;
        const kind: NetworkErrorKind = state.timedOut ? 'timeout' : isConnectFailure(err) ? 'connect' : 'network';
        throw this.networkError('GET', path, kind, firstCode(err) ?? null, attempt, err);
      }
      if (res.status < 200 || res.status >= 300 || !res.body) {
        const text = await res.text().catch(() => '');
        cleanup();
        throw this.apiError('GET', path, res.status, parseBody(text), parseRetryAfter(res.headers.get('retry-after')), attempt);
      }
      return { res, body: res.body, attempt, state, arm, cleanup };
    };

    const stream = await this.withRetries('idempotent', options.retries ?? this.opts.retries, options.signal, open);
    // Connected: from now on the deadline is an idle timeout, re-armed by every chunk.
    stream.arm(idleMs);
    const chunks = (async function* () {
      for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) {
        stream.arm(idleMs);
        yield chunk;
      }
    })();
    try {
      yield* parseSse(chunks);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw this.networkError('GET', path, stream.state.timedOut ? 'timeout' : 'network', firstCode(err) ?? null, stream.attempt, err);
    } finally {
      stream.cleanup();
    }
  }
}
