// Messaging across real server processes (dist/main.js) on one Redis: a message may be sent,
// waited for and acknowledged through three different replicas, and a replica killed with -9 while
// it holds a recipient's long-poll loses nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisEnv } from '../helpers/env.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { startReplicas, stopAll, type Replica } from '../helpers/replicas.js';
import { http, sendBody, type AgentMessage, type SendOk } from '../helpers/messages.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let r1: Replica;
let r2: Replica;
let r3: Replica;
beforeAll(async () => {
  [r1, r2, r3] = (await startReplicas(3, {
    ...redisEnv(),
    MESH_NAMESPACE: uniqueNamespace('msg'),
    LOG_LEVEL: 'warn',
    // Nobody heartbeats in this file: keep members live for the whole run.
    STALE_TIMEOUT_MS: '120000',
  })) as [Replica, Replica, Replica];
  for (const id of ['alpha', 'beta', 'gamma', 'delta']) {
    const res = await http(`${r1.url}/registry/register`, {
      body: { instance_id: id, hostname: 'localhost', port: 4000, capabilities: [], agent_profiles: [] },
    });
    expect(res.status).toBe(200);
  }
}, 60_000);
afterAll(async () => stopAll());

async function send(r: Replica, source: string, body: object): Promise<SendOk> {
  const res = await http<SendOk>(`${r.url}/messages/send/${source}`, { body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function fetchIds(r: Replica, id: string, query = ''): Promise<string[]> {
  const res = await http<{ messages: AgentMessage[] }>(`${r.url}/messages/${id}${query}`);
  expect(res.status).toBe(200);
  return res.body.messages.map((m) => m.message_id);
}

describe('messaging across replica processes', () => {
  it('send through replica 1, long-poll through replica 2, ack through replica 3', async () => {
    const started = Date.now();
    const poll = http<{ messages: AgentMessage[] }>(`${r2.url}/messages/beta?wait=10`);
    await sleep(300); // let the long-poll start waiting (if it has not, it still returns the message)
    const sent = await send(r1, 'alpha', sendBody('beta', { via: 'r1' }, { message_type: 'Query', correlation_id: 'mp-1' }));
    expect(sent.delivered_to).toEqual(['beta']);
    const res = await poll;
    expect(res.status).toBe(200);
    // Woken by the send on another process, well before the 10 s deadline.
    expect(Date.now() - started).toBeLessThan(8000);
    expect(res.body.messages).toHaveLength(1);
    expect(res.body.messages[0]).toMatchObject({
      message_id: sent.message_id,
      source_instance: 'alpha',
      target_instance: 'beta',
      message_type: 'Query',
      payload: { via: 'r1' },
      correlation_id: 'mp-1',
    });

    // Not consumed by the long-poll: every replica still sees it until it is acked.
    expect(await fetchIds(r3, 'beta')).toEqual([sent.message_id]);
    const acked = await http(`${r3.url}/messages/ack/beta`, { body: { message_ids: [sent.message_id] } });
    expect(acked.status).toBe(204);
    expect(await fetchIds(r1, 'beta')).toEqual([]);
    expect(await fetchIds(r2, 'beta')).toEqual([]);
  });

  it('a broadcast sent through one replica wakes long-polls on the others; each member acks its own copy', async () => {
    const pollBeta = http<{ messages: AgentMessage[] }>(`${r1.url}/messages/beta?wait=10`);
    const pollGamma = http<{ messages: AgentMessage[] }>(`${r2.url}/messages/gamma?wait=10`);
    await sleep(300);
    const sent = await send(r3, 'alpha', sendBody(null, 'to everyone'));
    expect([...sent.delivered_to].sort()).toEqual(['beta', 'delta', 'gamma']);
    for (const res of await Promise.all([pollBeta, pollGamma])) {
      expect(res.body.messages.map((m) => m.message_id)).toEqual([sent.message_id]);
      expect(res.body.messages[0]!.target_instance).toBeNull();
    }
    expect((await http(`${r2.url}/messages/beta/ack`, { body: { message_ids: [sent.message_id] } })).status).toBe(204);
    expect(await fetchIds(r3, 'beta')).toEqual([]);
    expect(await fetchIds(r3, 'gamma')).toEqual([sent.message_id]);
    expect(await fetchIds(r1, 'delta')).toEqual([sent.message_id]);
    expect(await fetchIds(r1, 'alpha')).toEqual([]);
    for (const id of ['gamma', 'delta']) {
      expect((await http(`${r1.url}/messages/ack/${id}`, { body: { message_ids: [sent.message_id] } })).status).toBe(204);
    }
  });

  it('a message sent while the long-poll replica is killed -9 is delivered through another replica', async () => {
    const poll = http<{ messages: AgentMessage[] }>(`${r2.url}/messages/gamma?wait=20`).then(
      (res) => res.body.messages.map((m) => m.message_id),
      () => null, // connection lost with the process
    );
    await sleep(300);
    // One send races the kill, one goes out while replica 2 is down.
    const [racing] = await Promise.all([send(r1, 'delta', sendBody('gamma', 'during the kill')), r2.kill('SIGKILL')]);
    expect(r2.running).toBe(false);
    const after = await send(r3, 'alpha', sendBody('gamma', 'after the kill'));
    // The long-poll either got the racing message just before the kill or lost its connection;
    // either way the client retries through another replica and finds everything.
    const polled = await poll;
    if (polled !== null) expect(polled).toEqual([racing.message_id]);
    const got = await http<{ messages: AgentMessage[] }>(`${r3.url}/messages/gamma?wait=5`);
    expect(got.status).toBe(200);
    expect(got.body.messages.map((m) => m.message_id)).toEqual([racing.message_id, after.message_id]);
    expect(got.body.messages.map((m) => m.payload)).toEqual(['during the kill', 'after the kill']);
    expect((await http(`${r1.url}/messages/ack/gamma`, { body: { message_ids: [racing.message_id, after.message_id] } })).status).toBe(204);
    expect(await fetchIds(r3, 'gamma')).toEqual([]);

    // A message sent while a long-poll waits on a surviving replica still wakes it.
    const poll2 = http<{ messages: AgentMessage[] }>(`${r3.url}/messages/gamma?wait=10`);
    await sleep(300);
    const next = await send(r1, 'beta', sendBody('gamma', 'after recovery'));
    expect((await poll2).body.messages.map((m) => m.message_id)).toEqual([next.message_id]);
  });
});
