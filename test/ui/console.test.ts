// The operator console in a real headless Chromium (Debian's package via playwright-core): the page
// is served by one replica while the test changes the mesh through another, so what the page shows
// came through Redis, the events feed and the public API. Every check waits for the DOM to change
// (no fixed sleeps), and no test may leave an error in the browser console.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sweep } from '../../src/registry/maintenance.js';
import { meshesClosedAfterAll, register } from '../helpers/app.js';
import { buildConsole, launchChromium, watchConsole, type ConsoleLog } from '../helpers/browser.js';
import { send, sendBody } from '../helpers/messages.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { call } from '../helpers/security.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `UPDATE_SCREENSHOT=1 npx vitest run test/ui/console.test.ts` refreshes docs/console.png. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1' ? join(ROOT, 'docs', 'console.png') : join(tmpdir(), 'mesh-console.png');
/** Generous for a loaded 2-core machine; every wait ends as soon as the DOM shows the change. */
const WAIT = 20_000;

const startMesh = meshesClosedAfterAll();
let built: Awaited<ReturnType<typeof buildConsole>>;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  built = await buildConsole();
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  built?.remove();
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});

interface Opened {
  page: Page;
  log: ConsoleLog;
  requests: Request[];
}

/** A fresh browser context (own sessionStorage) with the console of `base` open. */
async function openConsole(base: string, opts: { colorScheme?: 'light' | 'dark'; wait?: boolean } = {}): Promise<Opened> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 820 }, colorScheme: opts.colorScheme ?? 'light' });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const log = watchConsole(page);
  const requests: Request[] = [];
  page.on('request', (r) => requests.push(r));
  await page.goto(`${base}/ui`);
  if (opts.wait !== false) await page.locator('[data-connection="live"]').waitFor();
  return { page, log, requests };
}

const row = (page: Page, id: string) => page.locator(`.table-body [data-agent-id="${id}"]`);

async function listen(app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' });
}

async function heartbeat(app: FastifyInstance, id: string, status: string, metrics: Record<string, unknown> | null = null, token?: string) {
  const res = await call(app, 'POST', `/registry/heartbeat/${id}`, { body: { status, metrics }, token });
  expect(res.statusCode, res.body).toBe(200);
}

/** Two replicas of a fresh mesh: the page is served by `viewer`, the test acts through `actor`. */
async function replicaPair(overrides: Record<string, string | number> = {}) {
  const mesh = await startMesh({ UI_DIR: built.dir, HEARTBEAT_INTERVAL_MS: 5000, STALE_TIMEOUT_MS: 600_000, ...overrides }, { apps: 2 });
  const [viewer, actor] = mesh.apps as [FastifyInstance, FastifyInstance];
  return { viewer, actor, base: await listen(viewer) };
}

describe('console, AUTH_MODE=none (page on one replica, changes through another)', () => {
  it('lists the agents registered before it opened, with address, capabilities, profiles, status and metrics', async () => {
    const { actor, base } = await replicaPair();
    await register(actor, 'pre-1', {
      capabilities: ['summarize', 'search'],
      agent_profiles: ['default'],
      hostname: '10.1.0.1',
      port: 7001,
    });
    await register(actor, 'pre-2', { capabilities: ['code-review'], agent_profiles: ['reviewer'], hostname: 'pre-2.internal', port: 7002 });
    await heartbeat(actor, 'pre-1', 'healthy', { load: 0.25, tasks: 12 });
    const { page, log } = await openConsole(base);
    const r1 = row(page, 'pre-1');
    await r1.waitFor();
    await expect.poll(() => r1.textContent()).toContain('load=0.25');
    const text = await r1.textContent();
    for (const part of ['pre-1', '10.1.0.1:7001', 'summarize', 'search', 'default', 'healthy', 'tasks=12']) expect(text).toContain(part);
    expect(await row(page, 'pre-2').textContent()).toContain('pre-2.internal:7002');
    // The first registered is the leader: starred in its row and named in the leader panel.
    await expect.poll(() => page.getByTestId('leader-id').textContent()).toBe('pre-1');
    expect(await r1.getByTestId('leader-badge').count()).toBe(1);
    // Heartbeat age against the stale timeout.
    expect(await r1.locator('[data-health]').getAttribute('data-health')).toBe('ok');
    await expect.poll(() => page.getByTestId('stat-live').textContent()).toBe('2');
    expect(log.unexpected()).toEqual([]);
  });

  it('shows a join, a status update, a leave with its reason and a leader change without reloading', async () => {
    const { actor, base } = await replicaPair();
    await register(actor, 'pre-1');
    await register(actor, 'pre-2');
    const { page, log } = await openConsole(base);
    await row(page, 'pre-2').waitFor();
    await expect.poll(() => page.getByTestId('leader-id').textContent()).toBe('pre-1');
    // A reload would drop this marker.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const termBefore = Number((await page.getByTestId('leader-term').textContent())!.replace(/\D+/g, ''));

    await register(actor, 'joiner', { capabilities: ['translate'] });
    await row(page, 'joiner').waitFor();
    await page.locator('[data-event-type="joined"][data-instance-id="joiner"]').waitFor();

    await heartbeat(actor, 'joiner', 'busy');
    await expect.poll(() => row(page, 'joiner').textContent()).toContain('busy');
    await page.locator('[data-event-type="updated"][data-instance-id="joiner"]').first().waitFor();

    // The leader leaves: its row goes, the timeline says why, the next oldest takes over.
    expect((await actor.inject({ method: 'DELETE', url: '/registry/deregister/pre-1' })).statusCode).toBe(204);
    await row(page, 'pre-1').waitFor({ state: 'detached' });
    const left = page.locator('[data-event-type="left"][data-instance-id="pre-1"]');
    await left.waitFor();
    expect(await left.textContent()).toContain('deregistered');
    await expect.poll(() => page.getByTestId('leader-id').textContent()).toBe('pre-2');
    await expect.poll(() => page.getByTestId('leader-term').textContent()).toBe(`term ${termBefore + 1}`);
    await page.locator('[data-event-type="leader"][data-instance-id="pre-2"]').waitFor();
    expect(
      await page
        .getByTestId('leader-history')
        .locator(`[data-term="${termBefore + 1}"]`)
        .textContent(),
    ).toContain('pre-2');
    await row(page, 'pre-2').getByTestId('leader-badge').waitFor();

    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(log.unexpected()).toEqual([]);
  });

  it('shows the queue depth after a send, and the pending message ids in the agent detail', async () => {
    const { actor, base } = await replicaPair();
    await register(actor, 'sender');
    await register(actor, 'inbox-owner');
    const { page, log } = await openConsole(base);
    const owner = row(page, 'inbox-owner');
    await owner.waitFor();
    await expect.poll(() => owner.getByTestId('pending').textContent()).toBe('0');
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push((await send(actor, 'sender', sendBody('inbox-owner', { i }))).message_id);
    await expect.poll(() => owner.getByTestId('pending').textContent(), { timeout: WAIT }).toBe('3');
    await expect.poll(() => page.getByTestId('stat-inbox').textContent(), { timeout: WAIT }).toBe('3');

    await owner.click();
    const detail = page.getByTestId('detail');
    await detail.waitFor();
    expect(await detail.getAttribute('data-agent-id')).toBe('inbox-owner');
    await expect
      .poll(() => detail.locator('[data-message-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-message-id'))))
      .toEqual(sent);
    // An ack shows without reopening.
    const ack = await actor.inject({ method: 'POST', url: '/messages/ack/inbox-owner', payload: { message_ids: [sent[0]] } });
    expect(ack.statusCode).toBe(204);
    await expect.poll(() => detail.getByTestId('detail-pending').textContent(), { timeout: WAIT }).toBe('2');
    await expect.poll(() => owner.getByTestId('pending').textContent(), { timeout: WAIT }).toBe('2');
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
    expect(log.unexpected()).toEqual([]);
  });

  it("shows an agent's A2A Agent Card and its skills in the detail; no request for an agent without one", async () => {
    const { actor, base } = await replicaPair();
    const card = {
      name: 'Translator',
      description: 'Translates text',
      version: '2.1.0',
      supportedInterfaces: [{ url: 'https://translator.example.com/a2a/v1', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
      capabilities: {},
      defaultInputModes: ['text/plain'],
      defaultOutputModes: ['text/plain'],
      skills: [
        { id: 'translate', name: 'Translate', description: 'Between languages', tags: ['i18n', 'text'] },
        { id: 'detect-language', name: 'Detect language', description: 'Which language', tags: ['i18n'] },
      ],
    };
    const reg = await actor.inject({
      method: 'POST',
      url: '/registry/register',
      payload: { instance_id: 'a2a-1', hostname: 'a2a-1.local', port: 7001, capabilities: [], agent_profiles: [], agent_card: card },
    });
    expect(reg.statusCode, reg.body).toBe(200);
    await register(actor, 'plain-1');
    const { page, log, requests } = await openConsole(base);
    await row(page, 'a2a-1').click();
    const detail = page.getByTestId('detail');
    await expect.poll(() => detail.getByTestId('card-name').textContent()).toBe('Translator v2.1.0');
    expect(await detail.textContent()).toContain('JSONRPC 1.0 https://translator.example.com/a2a/v1');
    const skills = detail.getByTestId('card-skills').locator('[data-skill-id]');
    expect(await skills.evaluateAll((els) => els.map((e) => e.getAttribute('data-skill-id')))).toEqual(['translate', 'detect-language']);
    expect(await skills.first().textContent()).toBe('translate Translate i18ntext');
    await page.keyboard.press('Escape');
    await row(page, 'plain-1').click();
    await detail.getByTestId('card-none').waitFor();
    expect(requests.filter((r) => r.url().includes('/plain-1/agent-card'))).toEqual([]);
    expect(log.unexpected()).toEqual([]);
  });

  it('filters by capability and searches by id', async () => {
    const { actor, base } = await replicaPair();
    await register(actor, 'no-cap');
    await register(actor, 'cap-a', { capabilities: ['vision'] });
    await register(actor, 'cap-b', { capabilities: ['vision', 'speech'] });
    const { page, log } = await openConsole(base);
    await row(page, 'cap-b').waitFor();
    await page.getByTestId('capability-filter').selectOption('vision');
    await expect
      .poll(() => page.locator('.table-body [data-agent-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-agent-id'))))
      .toEqual(['cap-a', 'cap-b']);
    await page.getByTestId('search').fill('CAP-B');
    await expect.poll(() => page.locator('.table-body [data-agent-id]').count()).toBe(1);
    expect(await page.getByTestId('agent-count').textContent()).toBe('1 of 3 agents');
    expect(log.unexpected()).toEqual([]);
  });

  it('resumes the event stream after a disconnect with Last-Event-ID: a join made while it was away shows', async () => {
    const { viewer, actor, base } = await replicaPair();
    await register(actor, 'anchor');
    const { page, log, requests } = await openConsole(base);
    await row(page, 'anchor').waitFor();
    // Hold the reconnection until the join below has happened, so only a resumed stream can carry it.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const reconnects: Record<string, string>[] = [];
    await page.route('**/registry/events', async (route) => {
      reconnects.push(route.request().headers());
      await released;
      await route.continue();
    });
    // Drop every connection to the page's replica (the feed included); the replica keeps serving.
    viewer.server.closeAllConnections();
    await page.locator('[data-connection="reconnecting"]').waitFor();
    await expect.poll(() => reconnects.length, { timeout: WAIT }).toBeGreaterThan(0);
    await register(actor, 'while-away');
    release();
    await row(page, 'while-away').waitFor();
    await page.locator('[data-connection="live"]').waitFor();
    await page.unroute('**/registry/events');
    const lastEventId = reconnects[0]!['last-event-id'];
    expect(lastEventId).toMatch(/^\d+-\d+$/);
    // The first connection had none: it started from "now".
    const first = requests.find((r) => r.url().endsWith('/registry/events'))!;
    expect(first.headers()['last-event-id']).toBeUndefined();
    // Requests cut by the drop may be reported by the browser as failed loads; nothing else.
    expect(log.unexpected([/Failed to load resource: net::ERR_/])).toEqual([]);
  });

  it('follows the system theme: dark and light', async () => {
    const { base } = await replicaPair();
    const luminance = async (page: Page) =>
      page.evaluate(() => {
        const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g)!.map(Number) as [number, number, number];
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
      });
    const dark = await openConsole(base, { colorScheme: 'dark' });
    expect(await luminance(dark.page)).toBeLessThan(0.2);
    const light = await openConsole(base, { colorScheme: 'light' });
    expect(await luminance(light.page)).toBeGreaterThan(0.8);
    expect([...dark.log.unexpected(), ...light.log.unexpected()]).toEqual([]);
  });
});

describe('console, heartbeat ages', () => {
  it('warns before a heartbeat lapses, drops the agent when it lapses, and shows the cleanup', async () => {
    const mesh = await startMesh({ UI_DIR: built.dir, HEARTBEAT_INTERVAL_MS: 1000, STALE_TIMEOUT_MS: 4500 });
    const app = mesh.apps[0]!;
    const base = await listen(app);
    await register(app, 'fading');
    const { page, log } = await openConsole(base);
    const r = row(page, 'fading');
    await r.waitFor();
    // Warned from 2/3 of the stale timeout (3 s) until it lapses (4.5 s).
    await r.locator('[data-health="warning"]').waitFor({ timeout: 4500 + WAIT });
    expect(await r.textContent()).toMatch(/lapses in/);
    await r.waitFor({ state: 'detached' });
    await sweep(app.mesh.instances, app.mesh.messages, 100);
    const left = page.locator('[data-event-type="left"][data-instance-id="fading"]');
    await left.waitFor();
    expect(await left.textContent()).toContain('expired');
    expect(log.unexpected()).toEqual([]);
  });
});

describe('console with auth', () => {
  it('token mode: asks for a token, shows a 401 for a wrong one, then works live; the token stays out of URLs', async () => {
    const TOKEN = 'console-shared-secret';
    const mesh = await startMesh({ UI_DIR: built.dir, AUTH_MODE: 'token', AUTH_TOKENS: TOKEN, STALE_TIMEOUT_MS: 600_000 });
    const app = mesh.apps[0]!;
    const base = await listen(app);
    expect(
      (
        await call(app, 'POST', '/registry/register', {
          token: TOKEN,
          body: { instance_id: 'guarded', hostname: 'g.local', port: 1, capabilities: [], agent_profiles: [] },
        })
      ).statusCode,
    ).toBe(200);

    const { page, log, requests } = await openConsole(base, { wait: false });
    await page.getByTestId('token-prompt').waitFor();
    expect(await page.getByTestId('auth-error').textContent()).toMatch(/401 unauthorized/);
    await page.getByTestId('token-input').fill('not-the-token');
    await page.getByTestId('token-submit').click();
    await expect.poll(() => page.getByTestId('token-prompt').locator('h2').textContent()).toBe('Token refused');
    expect(await page.getByTestId('auth-error').textContent()).toMatch(/401 unauthorized/);

    await page.getByTestId('token-input').fill(TOKEN);
    await page.getByTestId('token-submit').click();
    await row(page, 'guarded').waitFor();
    await page.locator('[data-connection="live"]').waitFor();
    // The stream works with the token: a join shows live.
    expect(
      (
        await call(app, 'POST', '/registry/register', {
          token: TOKEN,
          body: { instance_id: 'guarded-2', hostname: 'g2.local', port: 2, capabilities: [], agent_profiles: [] },
        })
      ).statusCode,
    ).toBe(200);
    await row(page, 'guarded-2').waitFor();

    expect(requests.some((r) => r.url().includes(TOKEN))).toBe(false);
    const feed = requests.filter((r) => r.url().endsWith('/registry/events'));
    expect(feed.at(-1)!.headers().authorization).toBe(`Bearer ${TOKEN}`);
    // Kept for this tab only.
    expect(await page.evaluate(() => Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)))).toEqual([TOKEN]);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    // Forgetting it asks again.
    await page.getByTestId('forget-token').click();
    await page.getByTestId('token-prompt').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // The browser reports each refused request as a failed load; those are the only errors.
    expect(log.unexpected([/Failed to load resource: the server responded with a status of 401/])).toEqual([]);
    expect(log.errors.length).toBeGreaterThan(0);
  });

  it("instance mode: an inbox's pending ids need that instance's token or an admin token (403 shown)", async () => {
    const REG = 'console-registration';
    const ADMIN = 'console-admin';
    const mesh = await startMesh({
      UI_DIR: built.dir,
      AUTH_MODE: 'instance',
      AUTH_TOKENS: REG,
      ADMIN_TOKENS: ADMIN,
      STALE_TIMEOUT_MS: 600_000,
    });
    const app = mesh.apps[0]!;
    const base = await listen(app);
    const tokens: Record<string, string> = {};
    for (const id of ['inst-a', 'inst-b']) {
      const res = await call(app, 'POST', '/registry/register', {
        token: REG,
        body: { instance_id: id, hostname: `${id}.local`, port: 1, capabilities: [], agent_profiles: [] },
      });
      tokens[id] = res.json<{ instance_token: string }>().instance_token;
    }
    const m = await call(app, 'POST', '/messages/send/inst-a', { token: tokens['inst-a'], body: sendBody('inst-b', 'hi') });
    const mid = m.json<{ message_id: string }>().message_id;

    // Signed in with inst-a's own token: the registry is readable, inst-b's inbox is not.
    const { page, log } = await openConsole(base, { wait: false });
    await page.getByTestId('token-input').fill(tokens['inst-a']!);
    await page.getByTestId('token-submit').click();
    await row(page, 'inst-b').click();
    const err = page.getByTestId('pending-error');
    await err.waitFor();
    expect(await err.getAttribute('data-status')).toBe('403');
    expect(await err.textContent()).toMatch(/403 forbidden/);
    await page.keyboard.press('Escape');
    await row(page, 'inst-a').click();
    await expect.poll(() => page.getByTestId('detail-pending').textContent()).toBe('0');

    // An admin token reads every inbox.
    await page.getByTestId('forget-token').click();
    await page.getByTestId('token-input').fill(ADMIN);
    await page.getByTestId('token-submit').click();
    await row(page, 'inst-b').click();
    await page.locator(`[data-message-id="${mid}"]`).waitFor();
    expect(log.unexpected([/Failed to load resource: the server responded with a status of (401|403)/])).toEqual([]);
  });
});

describe('console screenshot', () => {
  it('renders a realistic mesh (written to docs/console.png with UPDATE_SCREENSHOT=1)', async () => {
    const mesh = await startMesh(
      // A 30 s stale timeout: translator-1 (which stops heartbeating) is in its warning window
      // (20-30 s) for long enough to be caught by the shot on a slow machine.
      {
        UI_DIR: built.dir,
        HEARTBEAT_INTERVAL_MS: 10_000,
        STALE_TIMEOUT_MS: 30_000,
        CLEANUP_INTERVAL_MS: 1000,
        MESH_NAMESPACE: uniqueNamespace('prod'),
      },
      { apps: 2, maintenance: true },
    );
    const [viewer, actor] = mesh.apps as [FastifyInstance, FastifyInstance];
    const base = await listen(viewer);
    const fleet: [string, string[], string, Record<string, number | string>][] = [
      ['planner-1', ['plan', 'delegate'], 'healthy', { load: 0.31, tasks_done: 1284 }],
      ['coder-1', ['code', 'code-review'], 'busy', { load: 0.92, tasks_done: 311 }],
      ['coder-2', ['code', 'code-review'], 'healthy', { load: 0.44, tasks_done: 290 }],
      ['reviewer-1', ['code-review'], 'healthy', { load: 0.12, tasks_done: 845 }],
      ['search-1', ['search', 'embed', 'rerank'], 'healthy', { load: 0.58, qps: 41 }],
      ['search-2', ['search', 'embed', 'rerank'], 'healthy', { load: 0.61, qps: 38 }],
      ['summarizer-1', ['summarize'], 'healthy', { load: 0.27, tasks_done: 2210 }],
      ['translator-1', ['translate', 'summarize'], 'degraded', { load: 0.77, errors: 3 }],
      ['vision-1', ['vision', 'ocr'], 'healthy', { load: 0.35, tasks_done: 97 }],
      ['speech-1', ['speech'], 'idle', { load: 0.02, tasks_done: 12 }],
    ];
    for (const [i, [id, caps, status, metrics]] of fleet.entries()) {
      await register(actor, id, {
        capabilities: caps,
        agent_profiles: i % 3 === 0 ? ['default', 'lead'] : ['default'],
        hostname: `10.20.0.${11 + i}`,
        port: 8400 + i,
      });
      await heartbeat(actor, id, status, metrics);
    }
    const { page, log } = await openConsole(base);
    await row(page, 'speech-1').waitFor();
    // A little life: messages over a few readings of the totals (for the charts), a leader
    // handover, a newcomer.
    const samples = async () => Number(await page.locator('.totals').getAttribute('data-samples'));
    const alive = fleet.filter(([id]) => id !== 'translator-1');
    for (let round = 0; round < 4; round++) {
      const at = await samples();
      // Everyone heartbeats but translator-1, which gets close to lapsing: the shot shows a warning.
      for (const [id, , status, metrics] of alive) await heartbeat(actor, id, status, metrics);
      for (let i = 0; i < 2 + round; i++) await send(actor, 'planner-1', sendBody(i % 2 ? 'coder-1' : 'search-1', { task: i }));
      await expect.poll(samples, { timeout: WAIT }).toBeGreaterThan(at);
    }
    await send(actor, 'planner-1', sendBody('reviewer-1', { task: 'review' }));
    const ack = (await call(actor, 'GET', '/messages/search-1')).json<{ messages: { message_id: string }[] }>();
    await actor.inject({
      method: 'POST',
      url: '/messages/ack/search-1',
      payload: { message_ids: ack.messages.slice(0, 2).map((x) => x.message_id) },
    });
    await actor.inject({ method: 'DELETE', url: '/registry/deregister/planner-1' });
    await register(actor, 'planner-2', {
      capabilities: ['plan', 'delegate'],
      agent_profiles: ['default', 'lead'],
      hostname: '10.20.0.30',
      port: 8430,
    });
    await heartbeat(actor, 'planner-2', 'healthy', { load: 0.05, tasks_done: 0 });
    await row(page, 'planner-2').waitFor();
    // The shot shows the settled state: depths after the ack, totals after the last send.
    for (const [id, n] of [
      ['coder-1', '6'],
      ['search-1', '6'],
      ['reviewer-1', '1'],
    ]) {
      await expect.poll(() => row(page, id!).getByTestId('pending').textContent(), { timeout: WAIT }).toBe(n);
    }
    await expect.poll(() => page.getByTestId('stat-inbox').textContent(), { timeout: WAIT }).toBe('13');
    for (const [id, , status, metrics] of alive) if (id !== 'planner-1') await heartbeat(actor, id, status, metrics);
    await row(page, 'translator-1').locator('[data-health="warning"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => row(page, 'coder-1').locator('[data-health]').getAttribute('data-health')).toBe('ok');
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    const png = await page.screenshot({ path: SCREENSHOT });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);
    expect(log.unexpected()).toEqual([]);
  });
});
