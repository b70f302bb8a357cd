// Three real server processes (dist/main.js) on one Redis: any replica answers for all, kill -9 of
// one loses nothing, SIGTERM drains and exits 0.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentsResponse, HeartbeatResponse, MessagesResponse, SendResponse } from '../../sdk/src/types.js';
import { redisEnv } from '../helpers/env.js';
import { uniqueNamespace } from '../helpers/ns.js';
import { startReplicas, stopAll, type Replica } from '../helpers/replicas.js';

async function call<T = unknown>(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

const reg = (id: string) => ({ instance_id: id, hostname: 'localhost', port: 3000, capabilities: ['work'], agent_profiles: [] });

let replicas: Replica[];
beforeAll(async () => {
  replicas = await startReplicas(3, {
    ...redisEnv(),
    MESH_NAMESPACE: uniqueNamespace('mp'),
    LOG_LEVEL: 'warn',
    // Nothing here tests lapsing: a stale timeout far longer than the file keeps every member live
    // however long a restart takes on a busy machine, so no test depends on another's timing.
    STALE_TIMEOUT_MS: '120000',
    HEARTBEAT_INTERVAL_MS: '500',
    CLEANUP_INTERVAL_MS: '500',
  });
}, 60_000);
afterAll(async () => stopAll());

describe('multi-process replicas', () => {
  it('register through one, heartbeat through another, list through the third', async () => {
    const [r1, r2, r3] = replicas as [Replica, Replica, Replica];
    for (let i = 0; i < 10; i++) expect((await call(r1.url, 'POST', '/registry/register', reg(`mp-${i}`))).status).toBe(200);
    for (let i = 0; i < 10; i++) {
      const hb = await call<HeartbeatResponse>(r2.url, 'POST', `/registry/heartbeat/mp-${i}`, { status: 'ok', metrics: { i } });
      expect(hb.status).toBe(200);
      expect(hb.body.leader_id).toBe('mp-0');
    }
    const list = await call<AgentsResponse>(r3.url, 'GET', '/registry/agents');
    expect(list.body.instances.map((x) => x.instance_id)).toEqual(Array.from({ length: 10 }, (_, i) => `mp-${i}`));
    expect(list.body.instances[3]?.metrics).toEqual({ i: 3 });
  });

  it('kill -9 of one replica mid-run: the others keep serving and nothing is lost', async () => {
    const [r1, r2, r3] = replicas as [Replica, Replica, Replica];
    const ids = Array.from({ length: 10 }, (_, i) => `kill-${i}`);
    for (const id of ids) expect((await call(r2.url, 'POST', '/registry/register', reg(id))).status).toBe(200);
    const leaderBefore = (await call<AgentsResponse>(r3.url, 'GET', '/registry/agents')).body.leader_id;
    let stop = false;
    let errors = 0;
    let beats = 0;
    // Agents heartbeat through r2 and r3 while r1 is killed and restarted.
    const load = (async () => {
      while (!stop) {
        for (const [i, id] of ids.entries()) {
          const target = i % 2 === 0 ? r2 : r3;
          const hb = await call(target.url, 'POST', `/registry/heartbeat/${id}`, { status: 'ok', metrics: null }).catch(() => null);
          if (!hb || hb.status !== 200) errors++;
          else beats++;
        }
      }
    })();
    try {
      const sent = await call<SendResponse>(r1.url, 'POST', '/messages/send/kill-1', {
        target_instance: 'kill-2',
        message_type: 'Notification',
        payload: { n: 1 },
        correlation_id: null,
      });
      expect(sent.status).toBe(200);
      await r1.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1000));
      const listed = (list: AgentsResponse) => list.instances.map((x) => x.instance_id).filter((id) => id.startsWith('kill-'));
      const list = await call<AgentsResponse>(r3.url, 'GET', '/registry/agents');
      expect(listed(list.body)).toEqual(ids);
      expect(list.body.leader_id).toBe(leaderBefore);
      const inbox = await call<MessagesResponse>(r2.url, 'GET', '/messages/kill-2');
      expect(inbox.body.messages.map((m) => m.message_id)).toEqual([sent.body.message_id]);
      // The killed replica comes back and serves the same state.
      await r1.restart();
      expect(listed((await call<AgentsResponse>(r1.url, 'GET', '/registry/agents')).body)).toEqual(ids);
    } finally {
      stop = true;
      await load;
    }
    expect(errors).toBe(0);
    expect(beats).toBeGreaterThan(20);
  });

  it('SIGTERM: an in-flight long-poll is answered, then the process exits 0', async () => {
    const r3 = replicas[2]!;
    expect((await call(r3.url, 'POST', '/registry/register', reg('poller'))).status).toBe(200);
    const poll = call(r3.url, 'GET', '/messages/poller?wait=30');
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const code = await r3.stop();
    const answered = await poll;
    expect(answered.status).toBe(200);
    expect(answered.body).toEqual({ messages: [] });
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('SIGTERM with a connection that never sent a request still exits 0 promptly', async () => {
    const r2 = replicas[1]!;
    const socket = net.connect(r2.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('error', () => {});
    const started = Date.now();
    const code = await r2.stop();
    socket.destroy();
    expect(code).toBe(0);
    // Well under Node's 60 s headers timeout and the 10 s shutdown budget.
    expect(Date.now() - started).toBeLessThan(8000);
  });
});
