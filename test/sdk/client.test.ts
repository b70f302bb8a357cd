// MeshClient against a real server (every route, typed errors) and against tiny scripted HTTP
// servers for the retry rules, which need failures a healthy server never produces.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MeshApiError, MeshClient, MeshNetworkError, backoffDelay, parseRetryAfter } from '../../sdk/src/index.js';
import type { AgentMessage, MeshEvent } from '../../sdk/src/index.js';
import { freePort } from '../helpers/ports.js';
import { eventually, sleep, startServer, type TestServer } from './support.js';

const reg = (id: string, capabilities: string[] = []) => ({
  instance_id: id,
  hostname: `${id}.local`,
  port: 4000,
  capabilities,
  agent_profiles: ['p1'],
});

describe('MeshClient against a real server', () => {
  let server: TestServer;
  let client: MeshClient;
  beforeAll(async () => {
    server = await startServer();
    client = new MeshClient({ url: server.url });
  });
  afterAll(async () => {
    await server.close();
  });

  it('registers, lists (with pages), gets, heartbeats and deregisters', async () => {
    const a = await client.register(reg('c-a', ['summarize']));
    expect(a).toMatchObject({ success: true, instance_id: 'c-a', is_leader: true, leader_id: 'c-a', instance_token: null });
    expect(a.leader_term).toBeGreaterThanOrEqual(1);
    await client.register(reg('c-b'));
    await client.register(reg('c-c'));

    const page = await client.listAgents({ limit: 2 });
    expect(page.instances.map((i) => i.instance_id)).toEqual(['c-a', 'c-b']);
    expect(page.next_cursor).not.toBeNull();
    const all = await client.listAllAgents({ limit: 1 });
    expect(all.instances.map((i) => i.instance_id)).toEqual(['c-a', 'c-b', 'c-c']);
    expect(all.leader_id).toBe('c-a');
    const capable = await client.listAgents({ capability: 'summarize' });
    expect(capable.instances.map((i) => i.instance_id)).toEqual(['c-a']);

    const one = await client.getAgent('c-b');
    expect(one).toMatchObject({ instance_id: 'c-b', hostname: 'c-b.local', is_leader: false, agent_profiles: ['p1'] });
    expect(await client.leader()).toEqual({ leader_id: 'c-a', leader_term: a.leader_term });

    const hb = await client.heartbeat('c-b', { status: 'busy', metrics: { load: 0.5 } });
    expect(hb).toMatchObject({ acknowledged: true, leader_id: 'c-a', should_sync: false });
    expect((await client.getAgent('c-b')).metrics).toEqual({ load: 0.5 });
    // An unknown id is not an exception: the answer says "register again".
    expect(await client.heartbeat('c-nobody')).toMatchObject({ acknowledged: false });

    expect(await client.deregister('c-a')).toBe(true);
    expect(await client.deregister('c-a')).toBe(false);
    expect((await client.leader()).leader_id).toBe('c-b');
    const missing = await client.getAgent('c-a').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(MeshApiError);
    expect(missing).toMatchObject({ status: 404, code: 'instance_not_found', attempts: 1 });
    await client.deregister('c-b');
    await client.deregister('c-c');
  });

  it('sends, fetches (long-poll), acks, streams and does server-side request/response', async () => {
    await client.register(reg('m-a'));
    await client.register(reg('m-b', ['echo']));

    const sent = await client.send('m-a', {
      target_instance: 'm-b',
      message_type: { Custom: 'ping' },
      payload: { n: 1 },
      correlation_id: 'c1',
    });
    expect(sent).toMatchObject({ status: 'queued', delivered_to: ['m-b'] });
    const inbox = await client.fetchMessages('m-b');
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatchObject({
      message_id: sent.message_id,
      source_instance: 'm-a',
      message_type: { Custom: 'ping' },
      payload: { n: 1 },
      correlation_id: 'c1',
    });
    await client.ack('m-b', [sent.message_id]);
    expect(await client.fetchMessages('m-b')).toEqual([]);

    // Long-poll: parked until a message arrives.
    const t0 = Date.now();
    const waiting = client.fetchMessages('m-b', { wait: 10 });
    setTimeout(
      () =>
        void client.send('m-a', {
          target_instance: null,
          target_capability: 'echo',
          message_type: 'Notification',
          payload: null,
          correlation_id: null,
        }),
      150,
    );
    const woke = await waiting;
    expect(woke).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    await client.ack(
      'm-b',
      woke.map((m) => m.message_id),
    );

    // SSE stream: each un-acked message once.
    const controller = new AbortController();
    const got: AgentMessage[] = [];
    const reading = (async () => {
      for await (const m of client.stream('m-b', { signal: controller.signal })) {
        got.push(m);
        if (got.length === 2) break;
      }
    })();
    await client.send('m-a', { target_instance: 'm-b', message_type: 'Query', payload: 'one', correlation_id: null });
    await client.send('m-a', { target_instance: 'm-b', message_type: 'Query', payload: 'two', correlation_id: null });
    await reading;
    expect(got.map((m) => m.payload)).toEqual(['one', 'two']);
    await client.ack(
      'm-b',
      got.map((m) => m.message_id),
    );

    // Server-side request/response: m-b answers from its own loop.
    const answering = (async () => {
      const [q] = await client.fetchMessages('m-b', { wait: 10 });
      await client.send('m-b', {
        target_instance: q!.source_instance,
        message_type: 'Response',
        payload: { echo: q!.payload },
        correlation_id: q!.correlation_id,
      });
      await client.ack('m-b', [q!.message_id]);
    })();
    const rr = await client.request('m-a', { target_instance: 'm-b', payload: 'hi', timeout_ms: 10_000 });
    await answering;
    expect(rr.response).toMatchObject({ message_type: 'Response', payload: { echo: 'hi' }, correlation_id: rr.response.correlation_id });
    expect(rr.request.delivered_to).toEqual(['m-b']);
  });

  it('maps server errors to MeshApiError with the server code', async () => {
    await client.register(reg('e-a'));
    const notFound = await client
      .send('e-a', { target_instance: 'e-nobody', message_type: 'Query', payload: null, correlation_id: null })
      .catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(MeshApiError);
    expect(notFound).toMatchObject({ status: 400, code: 'target_not_found', attempts: 1 });
    expect((notFound as MeshApiError).body).toMatchObject({ error: "Target instance 'e-nobody' not found" });

    const invalid = await client.register({ ...reg('e-b'), port: 0 }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_request' });

    const noCap = await client.request('e-a', { target_capability: 'nothing-has-this', payload: null }).catch((e: unknown) => e);
    expect(noCap).toMatchObject({ status: 400, code: 'no_capable_instance' });
  });

  it('follows the membership feed (joined, leader, left) with resumable ids', async () => {
    // A clean slate, so the first instance registered below is elected (a `leader` event).
    for (const i of (await client.listAllAgents()).instances) await client.deregister(i.instance_id);
    const controller = new AbortController();
    const seen: MeshEvent[] = [];
    const reading = (async () => {
      try {
        for await (const ev of client.events({ signal: controller.signal })) seen.push(ev);
      } catch (err) {
        if (!controller.signal.aborted) throw err;
      }
    })();
    try {
      // The feed starts "from now": register until the watcher has seen one (it is connected).
      const ids: string[] = [];
      await eventually(
        async () => {
          const id = `feed-${ids.length}`;
          ids.push(id);
          await client.register(reg(id));
          await sleep(100);
          return seen.some((e) => e.instance_id === id);
        },
        10_000,
        0,
      );
      for (const id of ids) await client.deregister(id);
      await eventually(async () => ids.every((id) => seen.some((e) => e.type === 'left' && e.instance_id === id)));
      const last = ids.at(-1)!;
      expect(seen.find((e) => e.instance_id === last && e.type === 'joined')).toMatchObject({
        type: 'joined',
        instance_id: last,
        term: null,
      });
      expect(seen.every((e) => typeof e.id === 'string' && e.id.length > 0)).toBe(true);
      const leaders = seen.filter((e) => e.type === 'leader');
      expect(leaders.length).toBeGreaterThan(0);
      expect(leaders.every((e) => typeof e.term === 'number')).toBe(true);
    } finally {
      controller.abort();
      await reading;
    }
  });

  it('health', async () => {
    const h = await client.health();
    expect(h).toMatchObject({ status: 'ok', namespace: server.mesh.namespace, redis: 'ready' });
  });

  it('uses the bearer token (AUTH_MODE=token)', async () => {
    const secured = await startServer({ AUTH_MODE: 'token', AUTH_TOKENS: 's3cret' });
    try {
      const anon = new MeshClient({ url: secured.url });
      await expect(anon.listAgents()).rejects.toMatchObject({ status: 401, code: 'unauthorized', attempts: 1 });
      const authed = new MeshClient({ url: secured.url, token: 's3cret' });
      expect((await authed.listAgents()).instances).toEqual([]);
      expect((await anon.withToken('s3cret').leader()).leader_id).toBeNull();
    } finally {
      await secured.close();
    }
  });
});

// ---- retry rules against scripted servers -------------------------------------------------------

type Script = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

interface Scripted {
  url: string;
  hits: string[];
  /** The Idempotency-Key header of each hit (undefined: none). */
  keys: (string | undefined)[];
  close(): Promise<void>;
}

async function scripted(script: Script): Promise<Scripted> {
  const hits: string[] = [];
  const keys: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    keys.push(req.headers['idempotency-key'] as string | undefined);
    req.resume();
    req.on('end', () => script(req, res, hits.length));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    keys,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const jsonReply = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
};

const SEND = { target_instance: 'b', message_type: 'Query' as const, payload: null, correlation_id: null };

describe('MeshClient retry rules', () => {
  const servers: Scripted[] = [];
  const serve = async (s: Script) => {
    const srv = await scripted(s);
    servers.push(srv);
    return srv;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const fast = (url: string, extra: Partial<ConstructorParameters<typeof MeshClient>[0]> = {}) =>
    new MeshClient({ url, retries: 3, retryBaseMs: 10, retryMaxMs: 20, timeoutMs: 2000, ...extra });

  it('retries idempotent calls on 5xx and honours Retry-After', async () => {
    const srv = await serve((_req, res, n) => {
      if (n === 1) jsonReply(res, 503, { error: 'Redis is unavailable', code: 'unavailable' }, { 'retry-after': '1' });
      else if (n === 2) jsonReply(res, 500, { error: 'boom', code: 'internal' });
      else jsonReply(res, 200, { leader_id: 'x', leader_term: 3 });
    });
    const t0 = Date.now();
    expect(await fast(srv.url).leader()).toEqual({ leader_id: 'x', leader_term: 3 });
    expect(srv.hits).toHaveLength(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('gives up after the configured retries with the last MeshApiError', async () => {
    const srv = await serve((_req, res) => jsonReply(res, 503, { error: 'not ready', code: 'unavailable' }, { 'retry-after': '0' }));
    const err = await fast(srv.url, { retries: 2 })
      .health()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshApiError);
    expect(err).toMatchObject({ status: 503, code: 'unavailable', attempts: 3, retryAfterMs: 0 });
    expect(srv.hits).toHaveLength(3);
  });

  it('never retries 4xx', async () => {
    const srv = await serve((_req, res) => jsonReply(res, 429, { error: 'full', code: 'inbox_full' }, { 'retry-after': '0' }));
    await expect(fast(srv.url).ack('a', ['m1'])).rejects.toMatchObject({ status: 429, code: 'inbox_full' });
    await expect(fast(srv.url).heartbeat('a')).rejects.toMatchObject({ status: 429 });
    expect(srv.hits).toHaveLength(2);
  });

  it('retries send after a 5xx, a broken connection and a timeout, every attempt with the one Idempotency-Key of the call', async () => {
    const srv = await serve((req, res, n) => {
      if (n === 1) jsonReply(res, 503, { error: 'not confirmed', code: 'not_replicated' }, { 'retry-after': '0' });
      else if (n === 2) req.socket.destroy();
      else if (n === 3)
        return; // never answers: times out
      else jsonReply(res, 200, { message_id: 'm1', status: 'queued', delivered_to: ['b'] });
    });
    const client = fast(srv.url, { timeoutMs: 300 });
    expect(await client.send('a', SEND)).toEqual({ message_id: 'm1', status: 'queued', delivered_to: ['b'] });
    expect(srv.hits).toEqual(Array.from({ length: 4 }, () => 'POST /messages/send/a'));
    const [key] = srv.keys;
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(srv.keys).toEqual([key, key, key, key]);
    // The next logical send is another key.
    await client.send('a', SEND);
    expect(srv.keys[4]).toMatch(/^[0-9a-f-]{36}$/);
    expect(srv.keys[4]).not.toBe(key);
  });

  it('sends a given Idempotency-Key as it is; 422 idempotency_key_mismatch is not retried', async () => {
    const srv = await serve((_req, res) => jsonReply(res, 422, { error: 'used', code: 'idempotency_key_mismatch' }));
    await expect(fast(srv.url).send('a', SEND, { idempotencyKey: 'order-42' })).rejects.toMatchObject({
      status: 422,
      code: 'idempotency_key_mismatch',
      attempts: 1,
    });
    expect(srv.keys).toEqual(['order-42']);
  });

  it('with idempotencyKey: null, send is not retried on 5xx, timeouts or a connection that broke after sending', async () => {
    const s503 = await serve((_req, res) => jsonReply(res, 503, { error: 'x', code: 'unavailable' }, { 'retry-after': '0' }));
    await expect(fast(s503.url).send('a', SEND, { idempotencyKey: null })).rejects.toMatchObject({ status: 503, attempts: 1 });
    expect(s503.hits).toHaveLength(1);
    expect(s503.keys).toEqual([undefined]);

    const reset = await serve((req) => req.socket.destroy());
    const broke = await fast(reset.url)
      .send('a', SEND, { idempotencyKey: null })
      .catch((e: unknown) => e);
    expect(broke).toBeInstanceOf(MeshNetworkError);
    expect(broke).toMatchObject({ kind: 'network', attempts: 1 });
    expect(reset.hits).toHaveLength(1);

    const silent = await serve(() => undefined);
    const slow = await fast(silent.url, { timeoutMs: 150 })
      .send('a', SEND, { idempotencyKey: null })
      .catch((e: unknown) => e);
    expect(slow).toMatchObject({ kind: 'timeout', attempts: 1 });
    expect(silent.hits).toHaveLength(1);
  });

  it("server-side request: retried with its key after a 5xx; the server's own 504 timeout is an answer", async () => {
    const flaky = await serve((_req, res, n) => {
      if (n === 1) jsonReply(res, 502, { error: 'bad gateway', code: 'http_502' });
      else jsonReply(res, 200, { request: { message_id: 'q', status: 'queued', delivered_to: ['b'] }, response: { message_id: 'r' } });
    });
    const ok = await fast(flaky.url).request('a', { target_instance: 'b', payload: null, timeout_ms: 100 });
    expect(ok.request.message_id).toBe('q');
    expect(flaky.keys).toHaveLength(2);
    expect(flaky.keys[0]).toBeDefined();
    expect(flaky.keys[1]).toBe(flaky.keys[0]);

    const unanswered = await serve((_req, res) => jsonReply(res, 504, { error: 'No Response', code: 'timeout' }));
    await expect(fast(unanswered.url).request('a', { target_instance: 'b', payload: null, timeout_ms: 100 })).rejects.toMatchObject({
      status: 504,
      code: 'timeout',
      attempts: 1,
    });
  });

  it('retries idempotent POSTs (heartbeat, register, ack) after a broken connection or timeout', async () => {
    const srv = await serve((req, res, n) => {
      if (n === 1) req.socket.destroy();
      else if (n === 2)
        return; // never answers: times out
      else jsonReply(res, 200, { acknowledged: true, leader_id: null, should_sync: false, leader_term: 0 });
    });
    const hb = await fast(srv.url, { timeoutMs: 200 }).heartbeat('a');
    expect(hb.acknowledged).toBe(true);
    expect(srv.hits).toEqual(['POST /registry/heartbeat/a', 'POST /registry/heartbeat/a', 'POST /registry/heartbeat/a']);
  });

  it('retries send when the connection was refused (the server never saw it)', async () => {
    const port = await freePort();
    const client = fast(`http://127.0.0.1:${port}`, { retries: 2 });
    const err = await client.send('a', SEND).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshNetworkError);
    expect(err).toMatchObject({ kind: 'connect', errno: 'ECONNREFUSED', attempts: 3 });

    // ...and succeeds once the server is there.
    let listening: http.Server | undefined;
    const later = setTimeout(() => {
      listening = http.createServer((_req, res) => jsonReply(res, 200, { message_id: 'm', status: 'queued', delivered_to: ['b'] }));
      listening.listen(port, '127.0.0.1');
    }, 100);
    try {
      const res = await new MeshClient({ url: `http://127.0.0.1:${port}`, retries: 20, retryBaseMs: 50, retryMaxMs: 100 }).send('a', SEND);
      expect(res.delivered_to).toEqual(['b']);
    } finally {
      clearTimeout(later);
      await new Promise<void>((r) => (listening ? listening.close(() => r()) : r()));
    }
  });

  it('events(): a server without the feed answers 404 at once (no reconnect loop)', async () => {
    const srv = await serve((_req, res) => jsonReply(res, 404, { error: 'Route GET /registry/events not found', code: 'not_found' }));
    await expect(fast(srv.url).events({ reconnect: true }).next()).rejects.toMatchObject({ status: 404, code: 'not_found' });
    expect(srv.hits).toEqual(['GET /registry/events']);
  });

  it('events(): reconnects after the stream breaks, resuming with Last-Event-ID', async () => {
    const lastIds: (string | undefined)[] = [];
    const srv = await serve((req, res, n) => {
      lastIds.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 1) {
        res.write('id: 5-0\nevent: ready\ndata: {"type":"ready","last_id":"5-0","gap":false}\n\n');
        res.write('id: 6-0\nevent: joined\ndata: {"type":"joined","instance_id":"a","term":null}\n\n');
        setTimeout(() => res.destroy(), 20);
      } else {
        res.write('id: 7-0\nevent: leader\ndata: {"type":"leader","instance_id":"a","term":2}\n\n');
      }
    });
    const controller = new AbortController();
    const got: MeshEvent[] = [];
    for await (const ev of fast(srv.url).events({ signal: controller.signal })) {
      got.push(ev);
      if (got.length === 2) break;
    }
    expect(got.map((e) => [e.id, e.type, e.instance_id, e.term])).toEqual([
      ['6-0', 'joined', 'a', null],
      ['7-0', 'leader', 'a', 2],
    ]);
    expect(lastIds).toEqual([undefined, '6-0']);
  });

  it('a non-JSON error page still becomes a MeshApiError', async () => {
    const srv = await serve((_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>'));
    const err = await fast(srv.url, { retries: 0 })
      .leader()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, code: 'http_502', body: null });
  });

  it('the caller signal aborts at once, without retries', async () => {
    const srv = await serve(() => undefined);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 100);
    await expect(fast(srv.url).fetchMessages('a', { wait: 20, signal: controller.signal })).rejects.toThrow('stop');
    expect(srv.hits).toHaveLength(1);
  });

  it('backoff and Retry-After helpers', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(backoffDelay(1, 100, 1000, () => 0.999)).toBe(99);
    expect(backoffDelay(5, 100, 1000, () => 0.999)).toBe(999);
    expect(backoffDelay(3, 100, 1000, () => 0)).toBe(0);
  });

  it('rejects a malformed URL up front', () => {
    expect(() => new MeshClient({ url: 'not a url' })).toThrow(/invalid mesh URL/);
    expect(() => new MeshClient({ url: 'ftp://x' })).toThrow(/http/);
  });
});

describe('client bundle', () => {
  it('the built SDK and CLI import only node: builtins, each other and the declared dependencies (no server code)', async () => {
    const { readdirSync, readFileSync, existsSync } = await import('node:fs');
    const path = await import('node:path');
    const sdk = path.join(import.meta.dirname, '..', '..', 'sdk');
    const deps = Object.keys(
      (JSON.parse(readFileSync(path.join(sdk, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies,
    );
    expect(deps.sort()).toEqual(['commander', 'eventsource-parser', 'p-retry']);
    const offenders: string[] = [];
    for (const dir of ['esm', 'esm/cli', 'cjs']) {
      const root = path.join(sdk, 'dist', dir);
      if (!existsSync(path.join(root, dir === 'esm/cli' ? 'main.js' : 'index.js')))
        throw new Error(`sdk/dist/${dir} is missing: run \`npm run build\` first`);
      for (const file of readdirSync(root).filter((f) => f.endsWith('.js'))) {
        const src = readFileSync(path.join(root, file), 'utf8');
        for (const m of src.matchAll(
          /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(['"]([^'"]+)['"]\)|require\(['"]([^'"]+)['"]\)/g,
        )) {
          const spec = m[1] ?? m[2] ?? m[3] ?? '';
          const inPackage = spec.startsWith('./') || (dir === 'esm/cli' && spec.startsWith('../') && !spec.startsWith('../../'));
          const ok =
            spec.startsWith('node:') || inPackage || deps.includes(spec) || (dir === 'esm/cli' && spec === '../../../package.json');
          if (!ok) offenders.push(`${dir}/${file}: ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
