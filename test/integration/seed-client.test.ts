// A client that knows only the seed's wire types (spec-ai's MeshClient, strict: every field present
// with the right type; unknown fields ignored like serde does) works unchanged over real HTTP.
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { meshPerSuite } from '../helpers/app.js';
import { match } from '../helpers/match.js';

const timestamp = z.string().refine((s) => /Z$/.test(s) && !Number.isNaN(Date.parse(s)), 'RFC 3339 UTC');
const u16 = z.number().int().min(0).max(65535);
const MeshInstance = z.object({
  instance_id: z.string(),
  hostname: z.string(),
  port: u16,
  capabilities: z.array(z.string()),
  is_leader: z.boolean(),
  last_heartbeat: timestamp,
  created_at: timestamp,
  agent_profiles: z.array(z.string()),
});
const RegisterResponse = z.object({
  success: z.boolean(),
  instance_id: z.string(),
  is_leader: z.boolean(),
  leader_id: z.string().nullable(),
  peers: z.array(MeshInstance),
});
const InstancesResponse = z.object({ instances: z.array(MeshInstance), leader_id: z.string().nullable() });
const HeartbeatResponse = z.object({ acknowledged: z.boolean(), leader_id: z.string().nullable(), should_sync: z.boolean() });
const MessageType = z.union([
  z.enum(['Query', 'Response', 'Notification', 'TaskDelegation', 'TaskResult', 'GraphSync']),
  z.object({ Custom: z.string() }),
]);
const AgentMessage = z.object({
  message_id: z.string(),
  source_instance: z.string(),
  target_instance: z.string().nullable(),
  message_type: MessageType,
  payload: z.unknown(),
  correlation_id: z.string().nullable(),
  created_at: timestamp,
});
const SendMessageResponse = z.object({ message_id: z.string(), status: z.string(), delivered_to: z.array(z.string()) });
const PendingMessagesResponse = z.object({ messages: z.array(AgentMessage) });

/** What spec-ai's MeshClient does, byte for byte in its requests. */
class SeedClient {
  constructor(private readonly base: string) {}
  private async call<T>(schema: z.ZodType<T>, method: string, path: string, body?: unknown): Promise<{ status: number; data: T | null }> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, data: text ? schema.parse(JSON.parse(text)) : null };
  }
  register(id: string, port: number, capabilities: string[]) {
    return this.call(RegisterResponse, 'POST', '/registry/register', {
      instance_id: id,
      hostname: 'localhost',
      port,
      capabilities,
      agent_profiles: ['default'],
    });
  }
  heartbeat(id: string) {
    return this.call(HeartbeatResponse, 'POST', `/registry/heartbeat/${id}`, { status: 'healthy', metrics: null });
  }
  list() {
    return this.call(InstancesResponse, 'GET', '/registry/agents');
  }
  deregister(id: string) {
    return this.call(z.unknown(), 'DELETE', `/registry/deregister/${id}`);
  }
  send(source: string, target: string | null, payload: unknown) {
    return this.call(SendMessageResponse, 'POST', `/messages/send/${source}`, {
      target_instance: target,
      message_type: 'TaskDelegation',
      payload,
      correlation_id: null,
    });
  }
  messages(id: string) {
    return this.call(PendingMessagesResponse, 'GET', `/messages/${id}`);
  }
  ack(id: string, ids: string[]) {
    return this.call(z.unknown(), 'POST', `/messages/ack/${id}`, { message_ids: ids });
  }
}

const mesh = meshPerSuite();
let client: SeedClient;
beforeAll(async () => {
  const address = await mesh.apps[0]!.listen({ port: 0, host: '127.0.0.1' });
  client = new SeedClient(address);
});

describe('seed wire compatibility', () => {
  it('register two, list, heartbeat, message, deregister', async () => {
    const id1 = `localhost-${crypto.randomUUID()}`;
    const id2 = `localhost-${crypto.randomUUID()}`;
    const r1 = await client.register(id1, 3000, ['code']);
    expect(r1.status).toBe(200);
    expect(r1.data).toMatchObject({ success: true, is_leader: true, leader_id: id1 });
    const r2 = await client.register(id2, 3001, []);
    expect(r2.data?.peers.map((p) => p.instance_id)).toEqual([id1, id2]);

    const list = await client.list();
    expect(list.data?.instances).toHaveLength(2);
    expect(list.data?.leader_id).toBe(id1);

    const hb = await client.heartbeat(id2);
    expect(hb).toEqual({ status: 200, data: match.objectContaining({ acknowledged: true, leader_id: id1, should_sync: false }) });

    const sent = await client.send(id1, id2, { task: 'x' });
    expect(sent.data).toMatchObject({ status: 'queued', delivered_to: [id2] });
    const inbox = await client.messages(id2);
    expect(inbox.data?.messages).toHaveLength(1);
    expect(inbox.data?.messages[0]).toMatchObject({
      source_instance: id1,
      target_instance: id2,
      message_type: 'TaskDelegation',
      payload: { task: 'x' },
    });
    expect((await client.ack(id2, [sent.data!.message_id])).status).toBe(204);
    expect((await client.messages(id2)).data?.messages).toEqual([]);

    expect((await client.deregister(id2)).status).toBe(204);
    expect((await client.deregister(id1)).status).toBe(204);
    expect((await client.heartbeat(id1)).status).toBe(404);
    expect((await client.list()).data).toEqual({ instances: [], leader_id: null });
  });
});
