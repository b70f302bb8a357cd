// Load generation with autocannon (in this process, bounded by duration or amount). Latency
// percentiles come from the raw per-response times autocannon emits (float ms), because its own
// histogram records whole milliseconds, which hides everything interesting below 1 ms.
import http from 'node:http';
import autocannon from 'autocannon';
import { percentile, sortedCopy } from './stats.js';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds (ignored when `amount` is set). */
  duration: number;
  amount?: number;
  method?: Method;
  body?: string;
  headers?: Record<string, string>;
  /** Called before each request: vary path or body (e.g. one id per request). */
  setup?: (req: autocannon.Request) => autocannon.Request;
  /** Per-request timeout in seconds. */
  timeout?: number;
}

export interface LoadResult {
  /** Completed 2xx answers per second. */
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  total: number;
  non2xx: number;
  errors: number;
  seconds: number;
}

export function load(opts: LoadOptions): Promise<LoadResult> {
  const times: number[] = [];
  let ok = 0;
  let bad = 0;
  return new Promise((resolve, reject) => {
    const request: autocannon.Request = {
      method: opts.method ?? 'GET',
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      ...(opts.setup ? { setupRequest: opts.setup } : {}),
    };
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        ...(opts.amount !== undefined ? { amount: opts.amount } : { duration: opts.duration }),
        timeout: opts.timeout ?? 10,
        requests: [request],
      },
      (err: unknown, result: autocannon.Result) => {
        if (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const sorted = sortedCopy(times);
        resolve({
          rps: ok / result.duration,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          p999: percentile(sorted, 99.9),
          total: ok,
          non2xx: bad,
          errors: result.errors,
          seconds: result.duration,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) {
        ok++;
        times.push(responseTime);
      } else {
        bad++;
      }
    });
  });
}

/** Fails loudly when a measurement is not what it claims to be (errors would inflate req/s). */
export function assertClean(what: string, r: LoadResult, maxBadFraction = 0.001): void {
  const n = r.total + r.non2xx + r.errors;
  if (n === 0 || (r.non2xx + r.errors) / n > maxBadFraction) {
    throw new Error(`${what}: ${r.non2xx} non-2xx and ${r.errors} errors out of ${n} requests`);
  }
}

export interface PacedOptions {
  url: string;
  /** Offered load, requests per second, spread evenly (open loop: not slowed by the answers). */
  rate: number;
  duration: number;
  /** Upper bound on sockets (and so on requests in flight). */
  sockets: number;
  method: Method;
  body?: string;
  path: (i: number) => string;
}

/**
 * Constant-rate load for latency at a given throughput. autocannon's rate option sends each
 * connection's quota back to back at the start of every second, which measures bursts instead;
 * here requests leave every millisecond in proportion to the elapsed time. Latency counts from the
 * moment a request was due, so a client that falls behind shows up in the figures.
 */
export function paced(opts: PacedOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.sockets });
  const times: number[] = [];
  let ok = 0;
  let bad = 0;
  let errors = 0;
  let issued = 0;
  let inFlight = 0;
  const started = performance.now();
  const total = Math.round(opts.rate * opts.duration);
  return new Promise((resolve) => {
    const finish = () => {
      agent.destroy();
      const sorted = sortedCopy(times);
      const seconds = (performance.now() - started) / 1000;
      resolve({ rps: ok / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), total: ok, non2xx: bad, errors, seconds });
    };
    const send = (i: number, due: number) => {
      inFlight++;
      const req = http.request(`${opts.url}${opts.path(i)}`, {
        method: opts.method,
        agent,
        headers: opts.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) } : {},
      });
      const done = () => {
        inFlight--;
        if (issued >= total && inFlight === 0) finish();
      };
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) {
            ok++;
            times.push(performance.now() - due);
          } else {
            bad++;
          }
          done();
        });
      });
      req.on('error', () => {
        errors++;
        done();
      });
      req.end(opts.body);
    };
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const target = Math.min(total, Math.floor((elapsed * opts.rate) / 1000));
      while (issued < target) {
        const due = started + (issued * 1000) / opts.rate;
        send(issued++, due);
      }
      if (issued >= total) clearInterval(timer);
    }, 1);
  });
}
