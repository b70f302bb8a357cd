// haproxy in front of N backends on 127.0.0.1, the same shape as production's load balancer:
// round robin, active /readyz checks, and retries that hide a just-killed replica from clients.
// (scripts/stack.mjs writes the same configuration; keep the two in step.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './ports.js';
import { spawnTracked, waitUntil, which, type TrackedChild } from './procs.js';

export interface LoadBalancerOptions {
  /** Health check path (default /readyz); a backend is UP only while it answers 2xx. */
  healthPath?: string;
  /** Check interval in ms (default 500); down after 2 failures, up after 2 successes. */
  checkIntervalMs?: number;
}

export interface LoadBalancer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Backend name (b1, b2, ... in the order given) -> haproxy status (UP, DOWN, "UP 1/2", ...). */
  backendStates(): Promise<Record<string, string>>;
  logs(): string;
  stop(): Promise<void>;
}

export function haproxyConfig(port: number, backendPorts: number[], opts: LoadBalancerOptions = {}): string {
  const health = opts.healthPath ?? '/readyz';
  const inter = opts.checkIntervalMs ?? 500;
  const servers = backendPorts.map((p, i) => `    server b${i + 1} 127.0.0.1:${p} check`).join('\n');
  return `global
    maxconn 4096

defaults
    mode http
    option dontlognull
    # SSE and long-poll chunks go out as soon as they are written; nothing is buffered
    # (request buffering and compression are off by default and stay off).
    option http-no-delay
    # A fresh server connection per request: a killed replica then shows up as a refused
    # connect (safe to retry for any method) instead of a dead pooled connection, and we never
    # race Node's keep-alive timeout closing an idle socket just as haproxy reuses it.
    option http-server-close
    retries 3
    # Redispatch on every retry (not only the last): go to another server at once, without
    # haproxy's 1 s turn-around delay before retrying the same dead one.
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    timeout http-request 30s
    timeout http-keep-alive 10s
    timeout queue 10s
    timeout check 2s
    # No replica up: JSON {error, code} with Retry-After, like a replica's own 503.
    http-error status 503 content-type "application/json; charset=utf-8" string "{\\"error\\":\\"No registry replica is available; retry shortly\\",\\"code\\":\\"unavailable\\"}" hdr retry-after 1

frontend fe
    bind 127.0.0.1:${port}
    stats enable
    stats uri /__lb/stats
    default_backend be

backend be
    balance roundrobin
    option httpchk
    http-check send meth GET uri ${health} ver HTTP/1.1 hdr Host localhost
    http-check expect rstatus ^2
    # Connection failures are retried for every method (nothing reached the backend); a
    # request that died after it was sent is replayed only when that cannot duplicate work.
    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS
    default-server inter ${inter}ms fastinter ${inter}ms downinter ${inter}ms fall 2 rise 2
${servers}
`;
}

export async function startLoadBalancer(
  backendPorts: number[],
  opts: LoadBalancerOptions = {},
): Promise<LoadBalancer> {
  if (backendPorts.length === 0) throw new Error('startLoadBalancer needs at least one backend port');
  const bin = await which('haproxy');
  if (!bin) throw new Error('haproxy not installed (apt-get install haproxy)');
  const dir = await mkdtemp(path.join(tmpdir(), 'mesh-lb-'));
  const cfg = path.join(dir, 'haproxy.cfg');

  // The picked port can be taken before haproxy binds it: retry with a new one.
  let child: TrackedChild | undefined;
  let port = 0;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    await writeFile(cfg, haproxyConfig(port, backendPorts, opts));
    const c = spawnTracked(bin, ['-f', cfg, '-db'], { cwd: dir });
    try {
      await waitUntil(
        async () => {
          if (c.exitInfo() !== null) throw new Error(`haproxy exited at startup:\n${c.logs()}`);
          return canConnect(port);
        },
        10_000,
        () => `haproxy did not listen on 127.0.0.1:${port} within 10 s:\n${c.logs()}`,
      );
      child = c;
    } catch (err) {
      await c.terminate('SIGKILL');
      const inUse = err instanceof Error && /cannot bind|in use/i.test(err.message);
      if (!inUse || attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const proc = child;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    port,
    pid: proc.pid,
    logs: () => proc.logs(),
    async backendStates() {
      const res = await fetch(`${url}/__lb/stats;csv`);
      const csv = await res.text();
      const states: Record<string, string> = {};
      for (const line of csv.split('\n')) {
        const cols = line.split(',');
        // pxname,svname,...; column 17 (0-based) is status
        const [px, sv] = cols;
        if (px === 'be' && sv && sv !== 'BACKEND' && cols[17] !== undefined) states[sv] = cols[17];
      }
      return states;
    },
    async stop() {
      await proc.terminate('SIGTERM', 5_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
