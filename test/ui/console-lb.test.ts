// The console as production serves it: real replicas (dist/main.js, serving the dist/ui that
// `npm run build` wrote) behind haproxy, opened through the load balancer. Replicas are killed one
// after the other: the page's event stream, wherever it was, reconnects through the balancer to a
// survivor with Last-Event-ID, and joins made meanwhile still show. Needs `npm run build` first.
import type { Browser, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisEnv } from '../helpers/env.js';
import { startLoadBalancer, type LoadBalancer } from '../helpers/lb.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { startReplicas, stopAll, type Replica } from '../helpers/replicas.js';
import { launchChromium, watchConsole } from '../helpers/browser.js';

let replicas: Replica[];
let lb: LoadBalancer;
let browser: Browser;

beforeAll(async () => {
  replicas = await startReplicas(2, {
    ...redisEnv(),
    MESH_NAMESPACE: uniqueNamespace('ui-lb'),
    LOG_LEVEL: 'warn',
    STALE_TIMEOUT_MS: '600000',
    SSE_KEEPALIVE_MS: '2000',
  });
  lb = await startLoadBalancer(
    replicas.map((r) => r.port),
    { checkIntervalMs: 200 },
  );
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await lb?.stop();
  await stopAll();
});

async function register(id: string): Promise<void> {
  const res = await fetch(`${lb.url}/registry/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instance_id: id, hostname: `${id}.local`, port: 80, capabilities: ['lb'], agent_profiles: [] }),
  });
  expect(res.status, await res.text()).toBe(200);
}

describe('console through the load balancer', () => {
  it('keeps up while each replica in turn is killed: the stream resumes on a survivor', async () => {
    await register('lb-before');
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 820 } })).newPage();
    page.setDefaultTimeout(30_000);
    const log = watchConsole(page);
    const feeds: Request[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/registry/events')) feeds.push(r);
    });
    await page.goto(`${lb.url}/ui`);
    await page.locator('.table-body [data-agent-id="lb-before"]').waitFor();
    await page.locator('[data-connection="live"]').waitFor();

    for (const [i, victim] of replicas.entries()) {
      await victim.kill('SIGKILL');
      await register(`lb-after-kill-${i}`);
      await page.locator(`.table-body [data-agent-id="lb-after-kill-${i}"]`).waitFor();
      await victim.restart();
    }
    // One of the two kills cut the stream: it came back resuming from its last event.
    await page.locator('[data-connection="live"]').waitFor();
    const resumed = feeds.slice(1).map((r) => r.headers()['last-event-id']);
    expect(resumed.length).toBeGreaterThan(0);
    for (const id of resumed) expect(id).toMatch(/^\d+-\d+$/);
    expect(await page.locator('.table-body [data-agent-id]').count()).toBe(3);
    // Requests cut by a kill surface as failed loads (or the balancer's 502/503); nothing else.
    expect(log.unexpected([/Failed to load resource: (net::ERR_|the server responded with a status of 50[23])/])).toEqual([]);
  }, 120_000);
});
