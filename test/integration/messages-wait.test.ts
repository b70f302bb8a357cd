// The waiting forms of messaging: long-poll (GET /messages/{id}?wait=), server-sent events
// (GET /messages/{id}/stream) and request/response (POST /messages/request/{source}). Sends go
// through a different app instance than the waiter, so wake-ups must cross replicas (pub/sub).
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageService } from '../../src/registry/messages.js';
import { eventually, register, sleep, startMesh, type TestMesh } from '../helpers/app.js';
import {
  ack,
  expectError,
  fetchMessages,
  fetchRaw,
  http,
  openStream,
  RFC3339_Z,
  send,
  sendBody,
  UUID_V7,
  type AgentMessage,
  type SseReader,
} from '../helpers/messages.js';
import { match } from '../helpers/match.js';

const meshes: TestMesh[] = [];
const streams: SseReader[] = [];
const listening: FastifyInstance[] = [];
afterAll(async () => {
  await Promise.all(streams.map((s) => s.close()));
  // fetch()'s connection pool can leave a socket connected that never sent a request (seen after
  // an aborted request); http.Server.close() waits for those until headersTimeout. All requests
  // are over by now, so drop every connection.
  for (const app of listening) app.server.closeAllConnections();
  await Promise.all(meshes.map((m) => m.close()));
});

async function mesh(overrides: Parameters<typeof startMesh>[0] = {}, apps = 2) {
  const m = await startMesh(overrides, { apps });
  meshes.push(m);
  return m;
}

async function listen(app: FastifyInstance): Promise<string> {
  listening.push(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

/** Waits until `app` has at least `n` in-process waiters (long-polls, streams, requests). */
async function waiters(app: FastifyInstance, n: number) {
  await eventually(async () => app.mesh.wake.waiterCount >= n);
}

describe('long-poll: GET /messages/{id}?wait=<s>', () => {
  let m: TestMesh;
  let waiter: FastifyInstance;
  let sender: FastifyInstance;
  let url: string;
  beforeAll(async () => {
    m = await mesh();
    [waiter, sender] = m.apps as [FastifyInstance, FastifyInstance];
    url = await listen(waiter);
    for (const id of ['a', 'b', 'c']) await register(sender, id);
  });

  it('returns before the deadline when a message is sent through another replica', async () => {
    const started = Date.now();
    const poll = http<{ messages: AgentMessage[] }>(`${url}/messages/b?wait=5`);
    await waiters(waiter, 1);
    const sent = await send(sender, 'a', sendBody('b', { wake: 'up' }));
    const res = await poll;
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body.messages.map((x) => x.message_id)).toEqual([sent.message_id]);
    expect(res.body.messages[0]).toMatchObject({ source_instance: 'a', target_instance: 'b', payload: { wake: 'up' } });
    expect(elapsed).toBeLessThan(4000);
    // Long-poll does not consume: the message stays until acked.
    expect((await fetchMessages(sender, 'b')).map((x) => x.message_id)).toEqual([sent.message_id]);
    await ack(sender, 'b', [sent.message_id]);
    await eventually(async () => waiter.mesh.wake.waiterCount === 0);
  });

  it('is woken by a broadcast from another replica (and the broadcaster itself is not)', async () => {
    const started = Date.now();
    const pollB = waiter.inject({ method: 'GET', url: '/messages/b?wait=5' });
    await waiters(waiter, 1);
    const sent = await send(sender, 'c', sendBody(null, 'to all'));
    const res = await pollB;
    expect(Date.now() - started).toBeLessThan(4000);
    expect(res.json<{ messages: AgentMessage[] }>().messages.map((x) => x.message_id)).toEqual([sent.message_id]);
    await ack(sender, 'b', [sent.message_id]);
    const forA = await fetchMessages(sender, 'a');
    expect(forA.map((x) => x.message_id)).toEqual([sent.message_id]);
    await ack(sender, 'a', [sent.message_id]);
    expect(await fetchMessages(sender, 'c')).toEqual([]);
  });

  it('returns immediately when messages are already pending', async () => {
    const sent = await send(sender, 'a', sendBody('c', 'waiting already'));
    const started = Date.now();
    const res = await http<{ messages: AgentMessage[] }>(`${url}/messages/c?wait=5`);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(res.body.messages.map((x) => x.message_id)).toEqual([sent.message_id]);
    await ack(sender, 'c', [sent.message_id]);
  });

  it('?wait=1 with nothing pending answers 200 {messages: []} after about a second', async () => {
    const started = Date.now();
    const res = await http<{ messages: AgentMessage[] }>(`${url}/messages/b?wait=1`);
    const elapsed = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ messages: [] });
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5000);
    // Same through inject.
    const t1 = Date.now();
    const injected = await waiter.inject({ method: 'GET', url: '/messages/b?wait=1' });
    expect(injected.json()).toEqual({ messages: [] });
    expect(Date.now() - t1).toBeGreaterThanOrEqual(900);
  });

  it('a client that goes away leaves no waiter behind', async () => {
    const controller = new AbortController();
    const poll = fetch(`${url}/messages/b?wait=20`, { signal: controller.signal }).catch((e: unknown) => e);
    await waiters(waiter, 1);
    controller.abort();
    await poll;
    await eventually(async () => waiter.mesh.wake.waiterCount === 0, 5000);
  });

  it('rejects wait over 60 and answers 404 for an unknown id', async () => {
    expectError(await fetchRaw(waiter, 'b', 'wait=61'), 400, 'invalid_request');
    expectError(await fetchRaw(waiter, 'b', 'wait=-1'), 400, 'invalid_request');
    expectError(await fetchRaw(waiter, 'nobody', 'wait=1'), 404, 'instance_not_found');
  });

  it('caps the wait at LONG_POLL_MAX_S', async () => {
    const capped = await mesh({ LONG_POLL_MAX_S: 1 }, 1);
    await register(capped.apps[0]!, 'x');
    const started = Date.now();
    const res = await capped.apps[0]!.inject({ method: 'GET', url: '/messages/x?wait=30' });
    expect(res.json()).toEqual({ messages: [] });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('closing the app ends a waiting long-poll promptly', async () => {
    const extra = await m.addApp();
    const started = Date.now();
    const poll = extra.inject({ method: 'GET', url: '/messages/b?wait=30' });
    await waiters(extra, 1);
    await extra.close();
    const res = await poll;
    expect([200, 503]).toContain(res.statusCode);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('server-sent events: GET /messages/{id}/stream', () => {
  let m: TestMesh;
  let streamer: FastifyInstance;
  let sender: FastifyInstance;
  let url: string;
  beforeAll(async () => {
    m = await mesh({ SSE_KEEPALIVE_MS: 100 });
    [streamer, sender] = m.apps as [FastifyInstance, FastifyInstance];
    url = await listen(streamer);
    for (const id of ['src', 'dst', 'other']) await register(sender, id);
  });

  async function open(id: string): Promise<SseReader> {
    const s = await openStream(`${url}/messages/${id}/stream`);
    streams.push(s);
    return s;
  }

  it('sends pending and new messages as `id: <message_id>`, `event: message`, JSON data; re-sends un-acked ones on reconnect', async () => {
    const m1 = await send(sender, 'src', sendBody('dst', { n: 1 }, { message_type: 'Query', correlation_id: 'k1' }));
    const m2 = await send(sender, 'src', sendBody('dst', { n: 2 }));

    const s1 = await open('dst');
    expect(s1.response.status).toBe(200);
    expect(s1.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await s1.until(() => s1.messages().length >= 2, 5000, 'two pending messages');
    const evs = s1.events.filter((e) => e.event === 'message');
    expect(evs.map((e) => e.id)).toEqual([m1.message_id, m2.message_id]);
    const first = JSON.parse(evs[0]!.data!) as AgentMessage;
    expect(first).toEqual({
      message_id: m1.message_id,
      source_instance: 'src',
      target_instance: 'dst',
      message_type: 'Query',
      payload: { n: 1 },
      correlation_id: 'k1',
      created_at: match.stringMatching(RFC3339_Z),
    });
    expect(first.message_id).toMatch(UUID_V7);

    // A message sent through the other replica arrives live, once.
    const m3 = await send(sender, 'src', sendBody('dst', { n: 3 }));
    await s1.until(() => s1.messages().length >= 3, 5000, 'the live message');
    const m4 = await send(sender, 'other', sendBody(null, { n: 4 }));
    await s1.until(() => s1.messages().length >= 4, 5000, 'the broadcast');
    expect(s1.messages().map((x) => x.message_id)).toEqual([m1.message_id, m2.message_id, m3.message_id, m4.message_id]);
    expect(s1.messages()[3]!.target_instance).toBeNull();
    await s1.close();

    // Nothing was acked: a new connection gets all of them again.
    const s2 = await open('dst');
    await s2.until(() => s2.messages().length >= 4, 5000, 're-sent messages');
    expect(s2.messages().map((x) => x.message_id)).toEqual([m1.message_id, m2.message_id, m3.message_id, m4.message_id]);
    await s2.close();

    // Acked ones are not re-sent.
    await ack(sender, 'dst', [m1.message_id, m3.message_id, m4.message_id]);
    const s3 = await open('dst');
    await s3.until(() => s3.messages().length >= 1, 5000, 'the un-acked message');
    const m5 = await send(sender, 'src', sendBody('dst', { n: 5 }));
    await s3.until(() => s3.messages().length >= 2, 5000, 'a new message');
    expect(s3.messages().map((x) => x.message_id)).toEqual([m2.message_id, m5.message_id]);
    await s3.close();
    await ack(sender, 'dst', [m2.message_id, m5.message_id]);
    await eventually(async () => streamer.mesh.wake.waiterCount === 0);
  });

  it('sends keep-alive comments while idle', async () => {
    const s = await open('other');
    await s.until(() => s.comments.filter((c) => c === 'keep-alive').length >= 2, 5000, 'two keep-alive comments');
    expect(s.messages()).toEqual([]);
    await s.close();
  });

  it('answers 404 JSON for an unknown id', async () => {
    const res = await fetch(`${url}/messages/nobody/stream`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('instance_not_found');
    expect(body.error).toContain('nobody');
  });

  it('does not miss a message that arrives between the first read and subscribing to wake-ups', async () => {
    // Make the stream's first read slow: a message is sent (and its wake notice delivered on this
    // replica) after that read saw an empty inbox, but before the stream starts waiting.
    const svc = streamer.mesh.messages as MessageService & { fetchPage: MessageService['fetchPage'] };
    const realFetch = svc.fetchPage.bind(svc);
    let sent: string | null = null;
    let calls = 0;
    svc.fetchPage = async (...args: Parameters<MessageService['fetchPage']>) => {
      const result = await realFetch(...args);
      const id = args[0];
      if (id === 'other' && calls++ === 0) {
        let seen = false;
        const off = streamer.mesh.wake.onInbox('other', () => {
          seen = true;
        });
        sent = (await send(sender, 'src', sendBody('other', 'in the gap'))).message_id;
        await eventually(async () => seen);
        off();
      }
      return result;
    };
    try {
      const s = await open('other');
      await s.until(() => s.messages().length >= 1, 5000, 'the message sent in the gap');
      expect(s.messages().map((x) => x.message_id)).toEqual([sent]);
      await s.close();
    } finally {
      delete (svc as Partial<typeof svc>).fetchPage; // back to the prototype's method
    }
    await ack(sender, 'other', [sent!]);
  });

  it('ends open streams when the app closes', async () => {
    const extra = await m.addApp({ SSE_KEEPALIVE_MS: 100 });
    const extraUrl = await listen(extra);
    const s = await openStream(`${extraUrl}/messages/src/stream`);
    streams.push(s);
    await s.until(() => s.comments.includes('keep-alive'), 5000, 'a keep-alive');
    await extra.close();
    await s.finished;
    expect(s.ended).toBe(true);
  });
});

describe('request/response: POST /messages/request/{source}', () => {
  let m: TestMesh;
  let front: FastifyInstance;
  let back: FastifyInstance;
  beforeAll(async () => {
    m = await mesh();
    [front, back] = m.apps as [FastifyInstance, FastifyInstance];
    await register(front, 'asker');
    await register(front, 'answerer');
  });

  /** The answerer's loop, on the other replica: long-poll its inbox, answer each Query. */
  async function answer(opts: { decoys?: boolean } = {}) {
    for (let i = 0; i < 10; i++) {
      const res = await back.inject({ method: 'GET', url: '/messages/answerer?wait=5' });
      const q = res.json<{ messages: AgentMessage[] }>().messages.find((x) => x.message_type === 'Query');
      if (!q) continue;
      expect(q.correlation_id).toMatch(UUID_V7);
      if (opts.decoys) {
        // Neither a Response with another correlation id nor a Notification with this one counts.
        await send(back, 'answerer', sendBody('asker', 'decoy 1', { message_type: 'Response', correlation_id: 'not-it' }));
        await send(back, 'answerer', sendBody('asker', 'decoy 2', { message_type: 'Notification', correlation_id: q.correlation_id }));
        await sleep(50);
      }
      await send(
        back,
        'answerer',
        sendBody(q.source_instance, { echo: q.payload }, { message_type: 'Response', correlation_id: q.correlation_id }),
      );
      await ack(back, 'answerer', [q.message_id]);
      return q;
    }
    throw new Error('no Query arrived');
  }

  it('resolves with the Response carrying the same correlation_id, sent back through another replica', async () => {
    const answered = answer();
    const res = await front.inject({
      method: 'POST',
      url: '/messages/request/asker',
      payload: { target_instance: 'answerer', payload: { question: 42 }, timeout_ms: 10_000 },
    });
    const q = await answered;
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ request: { message_id: string; status: string; delivered_to: string[] }; response: AgentMessage }>();
    expect(body.request).toEqual({ message_id: q.message_id, status: 'queued', delivered_to: ['answerer'] });
    expect(body.response).toMatchObject({
      source_instance: 'answerer',
      target_instance: 'asker',
      message_type: 'Response',
      correlation_id: q.correlation_id,
      payload: { echo: { question: 42 } },
    });
    expect(body.response.created_at).toMatch(RFC3339_Z);
    // The Response was consumed by the request: the asker's inbox does not show it again.
    expect(await fetchMessages(front, 'asker')).toEqual([]);
    expect(await fetchMessages(front, 'answerer')).toEqual([]);
  });

  it('ignores Responses with another correlation_id and non-Response messages with the same one', async () => {
    const answered = answer({ decoys: true });
    const res = await front.inject({
      method: 'POST',
      url: '/messages/request/asker',
      payload: { target_instance: 'answerer', payload: 'q2', timeout_ms: 10_000 },
    });
    const q = await answered;
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ response: AgentMessage }>();
    expect(body.response).toMatchObject({ message_type: 'Response', correlation_id: q.correlation_id, payload: { echo: 'q2' } });
    // The decoys stay in the asker's inbox for its normal message loop.
    const left = await fetchMessages(front, 'asker');
    expect(left.map((x) => x.payload)).toEqual(['decoy 1', 'decoy 2']);
    await ack(
      front,
      'asker',
      left.map((x) => x.message_id),
    );
  });

  it('answers 504 timeout when nobody responds in timeout_ms (the request itself stays queued)', async () => {
    const started = Date.now();
    const res = await front.inject({
      method: 'POST',
      url: '/messages/request/asker',
      payload: { target_instance: 'answerer', payload: 'anyone?', timeout_ms: 300 },
    });
    expectError(res, 504, 'timeout');
    expect(Date.now() - started).toBeLessThan(10_000);
    const pending = await fetchMessages(front, 'answerer');
    expect(pending.map((x) => x.payload)).toEqual(['anyone?']);
    await ack(
      front,
      'answerer',
      pending.map((x) => x.message_id),
    );
    await eventually(async () => front.mesh.wake.waiterCount === 0);
  });

  it('validates the request like a send: unknown target 400, unknown source 404', async () => {
    const unknown = await front.inject({
      method: 'POST',
      url: '/messages/request/asker',
      payload: { target_instance: 'ghost', payload: 1, timeout_ms: 1000 },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json<{ error: string }>().error).toBe("Target instance 'ghost' not found");
    expectError(
      await front.inject({ method: 'POST', url: '/messages/request/ghost', payload: { target_instance: 'answerer', payload: 1 } }),
      404,
      'source_not_found',
    );
    expectError(
      await front.inject({
        method: 'POST',
        url: '/messages/request/asker',
        payload: { target_instance: 'answerer', payload: 1, timeout_ms: 0 },
      }),
      400,
      'invalid_request',
    );
  });

  it('a lookup that fails while the request is still being sent does not become an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    // While the request's own send is in flight, a broadcast wakes the asker's waiter, whose
    // lookup of the asker's inbox fails (as on a Redis error).
    const svc = front.mesh.messages as unknown as {
      send: MessageService['send'];
      fetch: MessageService['fetch'];
    };
    const realSend = svc.send.bind(svc);
    const realFetch = svc.fetch.bind(svc);
    let failedLookups = 0;
    svc.fetch = async (id, limit) => {
      if (id !== 'asker') return realFetch(id, limit);
      failedLookups++;
      throw new Error('simulated Redis failure during the lookup');
    };
    svc.send = async (source, input) => {
      if (source === 'asker') {
        await send(back, 'answerer', sendBody(null, 'a broadcast meanwhile'));
        await eventually(async () => failedLookups > 0);
        await sleep(50); // let the failed lookup settle while nothing listens to it yet
      }
      return realSend(source, input);
    };
    let res;
    try {
      res = await front.inject({
        method: 'POST',
        url: '/messages/request/asker',
        payload: { target_instance: 'answerer', payload: 'during a failure', timeout_ms: 2000 },
      });
      await sleep(50);
    } finally {
      delete (svc as Partial<typeof svc>).send;
      delete (svc as Partial<typeof svc>).fetch;
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    // The request itself fails with the lookup's error (a 5xx), not by taking the replica down.
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    for (const id of ['asker', 'answerer']) {
      const left = await fetchMessages(front, id);
      await ack(
        front,
        id,
        left.map((x) => x.message_id),
      );
    }
  });
});
