// haproxy in front of N backends on 127.0.0.1, the same shape as production's load balancer:
// round robin, active /readyz checks, and retries that hide a just-killed replica from clients.
// The configuration itself lives in scripts/haproxy-config.mjs, shared with `npm run stack`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './ports.js';
import { spawnTracked, waitUntil, which, type TrackedChild } from './procs.js';
import { haproxyConfig } from '../../scripts/haproxy-config.mjs';

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

export { haproxyConfig };

export async function startLoadBalancer(backendPorts: number[], opts: LoadBalancerOptions = {}): Promise<LoadBalancer> {
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
