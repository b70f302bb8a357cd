// The fault tests' tiny HTTP adapter: one call = one attempt, never throws for an HTTP status, and
// every attempt is recorded (status, Retry-After, timing) so a test can say exactly which requests
// failed, when, and how. Plain fetch on purpose: the SDK's own retries would hide what we measure.
// (Once the SDK in sdk/src is part of the tree, agents that only need "stay registered" may
// use MeshAgent; the accounting here stays plain.)

export interface Outcome<T = unknown> {
  /** 2xx */
  ok: boolean;
  /** HTTP status, 0 when no response arrived (network error / timeout). */
  status: number;
  body: T | null;
  retryAfter: string | null;
  /** Transport error (status 0) or a non-JSON body note. */
  error: string | null;
  /** The answer repeats an earlier result of its Idempotency-Key (header Idempotent-Replayed). */
  replayed?: boolean;
  sentAt: number;
  receivedAt: number;
}

export interface Failure {
  op: string;
  status: number;
  retryAfter: string | null;
  error: string | null;
  body: string | null;
  sentAt: number;
  receivedAt: number;
}

/** Counts every attempt per op and status; keeps the details of each non-2xx one. */
export class CallLog {
  readonly counts = new Map<string, number>();
  readonly failures: Failure[] = [];
  /** Statuses that are expected answers, not failures (e.g. 404 on a heartbeat after Redis lost its data). */
  constructor(private readonly expected: (op: string, status: number) => boolean = () => false) {}

  record(op: string, o: Outcome): void {
    const key = `${op} ${o.status}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (o.ok || this.expected(op, o.status)) return;
    this.failures.push({
      op,
      status: o.status,
      retryAfter: o.retryAfter,
      error: o.error,
      body: o.body === null ? null : JSON.stringify(o.body).slice(0, 300),
      sentAt: o.sentAt,
      receivedAt: o.receivedAt,
    });
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  /** e.g. { "send 200": 812, "send 502": 3, ... } */
  summary(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  failuresBetween(from: number, to: number): Failure[] {
    return this.failures.filter((f) => f.receivedAt >= from && f.sentAt <= to);
  }
}

export class Api {
  constructor(
    readonly baseUrl: string,
    readonly log: CallLog = new CallLog(),
  ) {}

  async call<T = unknown>(
    op: string,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    timeoutMs = 10_000,
    headers: Record<string, string> = {},
  ): Promise<Outcome<T>> {
    const sentAt = Date.now();
    let outcome: Outcome<T>;
    try {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: T | null = null;
      let error: string | null = null;
      if (text) {
        try {
          parsed = JSON.parse(text) as T;
        } catch {
          error = `non-JSON body: ${text.slice(0, 200)}`;
        }
      }
      outcome = {
        ok: res.status >= 200 && res.status < 300,
        status: res.status,
        body: parsed,
        retryAfter: res.headers.get('retry-after'),
        error,
        replayed: res.headers.get('idempotent-replayed') === 'true',
        sentAt,
        receivedAt: Date.now(),
      };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      outcome = {
        ok: false,
        status: 0,
        body: null,
        retryAfter: null,
        error: `${e.name}: ${e.cause?.code ?? e.message}`,
        replayed: false,
        sentAt,
        receivedAt: Date.now(),
      };
    }
    this.log.record(op, outcome);
    return outcome;
  }
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Statuses a client retries: no answer, the load balancer's 502/503/504, or the registry's 503. */
export const retryable = (status: number) => status === 0 || status === 502 || status === 503 || status === 504;
