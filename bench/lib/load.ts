// Load generation with autocannon (in this process, bounded by duration or amount). Latency
// percentiles come from the raw per-response times autocannon emits (float ms), because its own
// histogram records whole milliseconds, which hides everything interesting below 1 ms.
import net from 'node:net';
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

/** The figures of a finished run: answer times in ms, counts, and when it started. */
function summarizeRun(times: number[], ok: number, bad: number, errors: number, started: number): LoadResult {
  const sorted = sortedCopy(times);
  const seconds = (performance.now() - started) / 1000;
  return {
    rps: ok / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    total: ok,
    non2xx: bad,
    errors,
    seconds,
  };
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
    // autocannon's result.duration is whole seconds: an `amount` run needs our own clock.
    const started = performance.now();
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
          reject(err instanceof Error ? err : new Error(`autocannon failed: ${JSON.stringify(err)}`));
          return;
        }
        resolve(summarizeRun(times, ok, bad, result.errors, started));
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
  /** Keep-alive connections the requests are spread over (round robin). */
  sockets: number;
  method: Method;
  body?: string;
  path: (i: number) => string;
}

/**
 * Constant-rate load for latency at a given throughput. autocannon's rate option sends each
 * connection's quota back to back at the start of every second, which measures bursts instead.
 * Here requests leave every millisecond in proportion to the elapsed time, over raw keep-alive
 * sockets (HTTP/1.1 written by hand, answers delimited by Content-Length): node:http's client
 * costs so much CPU per request on this 2-core machine that it, not the server, set the latency.
 * Latency counts from the moment a request was written to its socket.
 */
export function paced(opts: PacedOptions): Promise<LoadResult> {
  const url = new URL(opts.url);
  const host = `${url.hostname}:${url.port}`;
  const body = opts.body ?? '';
  const head = (path: string) =>
    `${opts.method} ${path} HTTP/1.1\r\nHost: ${host}\r\n` +
    (opts.body !== undefined ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') +
    '\r\n' +
    body;
  const times: number[] = [];
  let ok = 0;
  let bad = 0;
  let errors = 0;
  let issued = 0;
  let answered = 0;
  const total = Math.round(opts.rate * opts.duration);
  return new Promise((resolve) => {
    const started = performance.now();
    const conns = Array.from({ length: opts.sockets }, () => {
      const socket = net.connect({ host: url.hostname, port: Number(url.port) });
      socket.setNoDelay(true);
      const sentAt: number[] = [];
      let buf: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const headers = buf.subarray(0, end).toString('latin1');
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
          const len = m ? Number(m[1]) : 0;
          if (buf.length < end + 4 + len) return;
          buf = buf.subarray(end + 4 + len);
          const status = Number(headers.slice(9, 12));
          const t0 = sentAt.shift() ?? performance.now();
          if (status >= 200 && status < 300) {
            ok++;
            times.push(performance.now() - t0);
          } else {
            bad++;
          }
          answered++;
          if (issued >= total && answered >= total) finish();
        }
      });
      socket.on('error', () => {
        errors += sentAt.length;
        answered += sentAt.length;
        sentAt.length = 0;
      });
      return { socket, sentAt };
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      clearTimeout(guard);
      for (const c of conns) c.socket.destroy();
      resolve(summarizeRun(times, ok, bad, errors, started));
    };
    let next = 0;
    const timer = setInterval(() => {
      const target = Math.min(total, Math.floor(((performance.now() - started) * opts.rate) / 1000));
      if (target <= issued) return;
      // One write per socket per tick for the requests due on it.
      const out = new Map<(typeof conns)[number], string>();
      const now = performance.now();
      while (issued < target) {
        const c = conns[next++ % conns.length]!;
        out.set(c, (out.get(c) ?? '') + head(opts.path(issued++)));
        c.sentAt.push(now);
      }
      for (const [c, data] of out) c.socket.write(data);
      if (issued >= total) clearInterval(timer);
    }, 1);
    // Answers that never come must not hang the benchmark.
    const guard = setTimeout(finish, (opts.duration + 10) * 1000);
  });
}
