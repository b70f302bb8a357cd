// A small keep-alive JSON client for the phases that need request-by-request control (messaging
// cycles, long-poll wake-ups, failover), where autocannon's fixed request loop does not fit.
import http from 'node:http';

export interface Reply<T> {
  status: number;
  body: T;
  /** When the answer was complete (performance.now()). */
  at: number;
}

export class JsonClient {
  private readonly agent: http.Agent;

  constructor(maxSockets = 64) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  request<T = unknown>(method: string, url: string, body?: unknown, timeoutMs = 30_000): Promise<Reply<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const at = performance.now();
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = null;
            if (text.length > 0) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, at });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async ok<T = unknown>(method: string, url: string, body?: unknown, timeoutMs?: number): Promise<Reply<T>> {
    const r = await this.request<T>(method, url, body, timeoutMs);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  }

  close(): void {
    this.agent.destroy();
  }
}
