// GET /registry/events: the membership feed over real HTTP server-sent events. A watcher on one
// replica sees changes made through another, in order; reconnecting with Last-Event-ID delivers
// what happened while it was away, without gaps or repeats; the JSON form long-polls; streams end
// promptly at shutdown.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, heartbeat, meshPerTest, register, sleep } from '../helpers/app.js';

const RFC3339_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface SseEvent {
  id: string | undefined;
  event: string;
  data: Record<string, unknown>;
}

/** A minimal EventSource-like reader over fetch: collects events and comments as they arrive. */
class SseReader {
  readonly events: SseEvent[] = [];
  comments = 0;
  ended = false;
  status = 0;
  private readonly abort = new AbortController();
  private done!: Promise<void>;

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const r = new SseReader();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: r.abort.signal });
    r.status = res.status;
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    r.done = r.pump(res.body!);
    return r;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          this.frame(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    } catch {
      // aborted by close()
    } finally {
      this.ended = true;
    }
  }

  private frame(raw: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of raw.split('\n')) {
      if (line.startsWith(':')) this.comments++;
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) this.events.push({ id, event, data: JSON.parse(data.join('\n')) as Record<string, unknown> });
  }

  /** Events other than `ready`. */
  get changes(): SseEvent[] {
    return this.events.filter((e) => e.event !== 'ready');
  }

  async until(pred: (r: SseReader) => boolean, timeoutMs = 5000): Promise<void> {
    await eventually(async () => pred(this), timeoutMs, 10);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

const startMesh = meshPerTest();
const readers: SseReader[] = [];
// After-hooks run in reverse order: the readers close before their mesh does.
afterEach(async () => {
  await Promise.all(readers.splice(0).map((r) => r.close()));
});

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return `http://127.0.0.1:${addr.port}`;
}

async function watch(base: string, query = '', headers: Record<string, string> = {}): Promise<SseReader> {
  const r = await SseReader.open(`${base}/registry/events${query}`, headers);
  readers.push(r);
  expect(r.status).toBe(200);
  await r.until((x) => x.events.some((e) => e.event === 'ready'));
  return r;
}

const brief = (e: SseEvent) => `${e.event}:${String(e.data.instance_id)}`;

function expectOrderedIds(events: SseEvent[]): void {
  for (const e of events) {
    expect(e.id).toBe(e.data.id);
    expect(e.data.type).toBe(e.event);
    expect(e.data.at).toMatch(RFC3339_Z);
  }
  const ids = events.map((e) => e.id!);
  const key = (id: string) =>
    id
      .split('-')
      .map((p) => p.padStart(20, '0'))
      .join('-');
  expect([...ids].sort((a, b) => (key(a) < key(b) ? -1 : 1))).toEqual(ids);
  expect(new Set(ids).size).toBe(ids.length);
}

describe('GET /registry/events (server-sent events)', () => {
  it('a watcher on one replica sees joined / left / leader made through another, in order', async () => {
    const mesh = await startMesh({}, { apps: 2 });
    const [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    const w = await watch(await listen(b));
    await register(a, 'w-1');
    await register(a, 'w-2');
    expect((await a.inject({ method: 'DELETE', url: '/registry/deregister/w-1' })).statusCode).toBe(204);
    await w.until((r) => r.changes.length >= 5);
    expect(w.changes.map(brief)).toEqual(['joined:w-1', 'leader:w-1', 'joined:w-2', 'left:w-1', 'leader:w-2']);
    const [j1, l1, , left, l2] = w.changes as [SseEvent, SseEvent, SseEvent, SseEvent, SseEvent];
    expect(j1.data).toMatchObject({ type: 'joined', instance_id: 'w-1', reason: null, term: null });
    // The first term is Redis time in ms when the namespace began; each change adds one.
    const t1 = (l1.data as { term: number }).term;
    expect(t1).toBeGreaterThan(1);
    expect(left.data).toMatchObject({ type: 'left', reason: 'deregistered' });
    expect(l2.data).toMatchObject({ type: 'leader', instance_id: 'w-2', term: t1 + 1 });
    expectOrderedIds(w.changes);
    // Started "from now": nothing from before the watch (the ready event carries that cursor).
    const ready = w.events[0]!;
    expect(ready.event).toBe('ready');
    expect(ready.data).toMatchObject({ type: 'ready', gap: false });
    expect(ready.id).toBe(ready.data.last_id);
    // No Redis connection per watcher: the replica waits on its in-process bus.
    expect(b.mesh.wake.waiterCount).toBe(1);
  });

  it('resumes from Last-Event-ID without gaps or repeats after a disconnect', async () => {
    const mesh = await startMesh({}, { apps: 2 });
    const [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    const base = await listen(b);
    await register(a, 'early'); // before any watcher: not part of this feed
    const first = await watch(base);
    await register(a, 'r-1');
    await first.until((r) => r.changes.length >= 1);
    expect(first.changes.map(brief)).toEqual(['joined:r-1']);
    const lastSeen = first.changes.at(-1)!.id!;
    await first.close();
    expect(first.ended).toBe(true);
    await eventually(async () => b.mesh.wake.waiterCount === 0);

    // While nobody watches: a join, a leave that hands over leadership, a status change.
    await register(a, 'r-2');
    await a.inject({ method: 'DELETE', url: '/registry/deregister/early' });
    await heartbeat(a, 'r-2', { status: 'busy', metrics: null });

    const again = await watch(base, '', { 'last-event-id': lastSeen });
    expect(again.events[0]!.data).toMatchObject({ type: 'ready', last_id: lastSeen, gap: false });
    await again.until((r) => r.changes.length >= 4);
    expect(again.changes.map(brief)).toEqual(['joined:r-2', 'left:early', 'leader:r-1', 'updated:r-2']);
    expect(again.changes[3]!.data).toMatchObject({ what: 'status', status: 'busy' });
    expectOrderedIds([...first.changes, ...again.changes]);

    // Live again: new changes keep coming on the resumed stream.
    await register(a, 'r-3');
    await again.until((r) => r.changes.some((e) => brief(e) === 'joined:r-3'));

    // Last-Event-ID wins over ?since= (an EventSource reconnects to the same URL plus the header).
    const third = await watch(base, '?since=0', { 'last-event-id': again.changes.at(-1)!.id! });
    await sleep(100);
    expect(third.changes).toEqual([]);
    // ?since=0 alone replays everything retained, from the very first join.
    const all = await watch(base, '?since=0');
    await all.until((r) => r.changes.some((e) => brief(e) === 'joined:r-3'));
    expect(all.changes.map(brief).slice(0, 2)).toEqual(['joined:early', 'leader:early']);
    expectOrderedIds(all.changes);
  });

  it('reports expiry and the failover a heartbeat decides, as they happen', async () => {
    const mesh = await startMesh({ STALE_TIMEOUT_MS: 800, HEARTBEAT_INTERVAL_MS: 50 }, { apps: 2 });
    const [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    const w = await watch(await listen(b));
    await register(a, 'e-old');
    await register(a, 'e-new');
    await heartbeat(a, 'e-new');
    await w.until((r) => r.changes.length >= 4);
    // The first heartbeat set a status (null -> healthy): an `updated` event.
    expect(w.changes.map(brief)).toEqual(['joined:e-old', 'leader:e-old', 'joined:e-new', 'updated:e-new']);
    expect(w.changes[3]!.data).toMatchObject({ what: 'status', status: 'healthy' });
    // e-old goes silent; e-new keeps heartbeating (same status: no more updates) until one of its
    // heartbeats finds the seat vacant and takes it. No cleanup has run: the heartbeat decided.
    await eventually(
      async () => {
        expect((await heartbeat(a, 'e-new')).statusCode).toBe(200);
        return w.changes.length > 4;
      },
      5000,
      50,
    );
    await sleep(50);
    expect(w.changes.slice(4).map(brief)).toEqual(['leader:e-new']);
    expect(w.changes[4]!.data).toMatchObject({ term: (w.changes[1]!.data as { term: number }).term + 1 });
    // Cleanup then removes the lapsed member: left with reason expired.
    await a.mesh.instances.cleanupBatch(100);
    await w.until((r) => r.changes.length >= 6);
    expect(w.changes[5]!.data).toMatchObject({ type: 'left', instance_id: 'e-old', reason: 'expired' });
  });

  it('sends keep-alive comments and ends promptly when the replica shuts down', async () => {
    const mesh = await startMesh({ SSE_KEEPALIVE_MS: 50 }, { apps: 2 });
    const b = mesh.apps[1]!;
    const w = await watch(await listen(b));
    await w.until((r) => r.comments >= 2, 2000);
    const started = Date.now();
    await b.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await w.until((r) => r.ended, 2000);
  });

  it('refuses a malformed cursor with a JSON 400 before streaming', async () => {
    const mesh = await startMesh();
    const app = mesh.apps[0]!;
    const bad = await app.inject({ url: '/registry/events?since=yesterday' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_request' });
    const badHeader = await app.inject({ url: '/registry/events', headers: { 'last-event-id': 'x' } });
    expect(badHeader.statusCode).toBe(400);
  });
});

describe('GET /registry/events?format=json', () => {
  it('pages through the feed and long-polls for the next event', async () => {
    const mesh = await startMesh({}, { apps: 2 });
    const [a, b] = mesh.apps as [FastifyInstance, FastifyInstance];
    await register(a, 'j-1');
    await register(a, 'j-2');
    const page = (await b.inject({ url: '/registry/events?format=json&since=0&limit=2' })).json<{
      events: { id: string; type: string; instance_id: string }[];
      last_id: string;
      gap: boolean;
    }>();
    expect(page.events.map((e) => `${e.type}:${e.instance_id}`)).toEqual(['joined:j-1', 'leader:j-1']);
    expect(page.last_id).toBe(page.events[1]!.id);
    expect(page.gap).toBe(false);
    const next = (await b.inject({ url: `/registry/events?format=json&since=${page.last_id}` })).json<typeof page>();
    expect(next.events.map((e) => `${e.type}:${e.instance_id}`)).toEqual(['joined:j-2']);

    // Nothing pending: an immediate answer keeps the cursor ...
    const empty = (await b.inject({ url: `/registry/events?format=json&since=${next.last_id}` })).json<typeof page>();
    expect(empty).toEqual({ events: [], last_id: next.last_id, gap: false });
    // ... and with wait= it returns as soon as a change lands on another replica.
    const started = Date.now();
    const waiting = b.inject({ url: `/registry/events?format=json&since=${next.last_id}&wait=10` });
    await sleep(150);
    await register(a, 'j-3');
    const woke = (await waiting).json<typeof page>();
    expect(woke.events.map((e) => `${e.type}:${e.instance_id}`)).toEqual(['joined:j-3']);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('flags a gap when the capped feed trimmed events after the cursor', async () => {
    const mesh = await startMesh({ EVENTS_MAXLEN: 100 });
    const app = mesh.apps[0]!;
    await register(app, 'gap-0');
    const first = (await app.inject({ url: '/registry/events?format=json&since=0&limit=1' })).json<{
      events: { id: string }[];
      last_id: string;
      gap: boolean;
    }>();
    for (let i = 1; i <= 300; i += 30) {
      await Promise.all(Array.from({ length: 30 }, (_, k) => register(app, `gap-${i + k}`)));
    }
    expect(await mesh.redis.xlen(mesh.keys.events)).toBeLessThan(300);
    const stale = (await app.inject({ url: `/registry/events?format=json&since=${first.last_id}` })).json<typeof first>();
    expect(stale.gap).toBe(true);
    const fresh = (await app.inject({ url: `/registry/events?format=json&since=${stale.last_id}` })).json<typeof first>();
    expect(fresh.gap).toBe(false);
  });
});
