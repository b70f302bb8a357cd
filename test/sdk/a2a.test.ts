// A2A Agent Cards through the SDK and the CLI, against a real server: MeshAgent.join({agentCard}),
// the card coming back after the registry forgot the agent, MeshClient.listAgents({skill}),
// getAgentCard, registryCard, routing by skill, and `mesh agents --skill` / `mesh agent --card`.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MeshApiError, MeshClient, type AgentCard, type AgentMessage } from '../../sdk/src/index.js';
import { AgentPool, CLI, eventually, mesh, startServer, type TestServer } from './support.js';

const FIXTURES = new URL('../fixtures/a2a/', import.meta.url);
const fixture = (name: string): AgentCard => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as AgentCard;

function translator(): AgentCard {
  return {
    ...fixture('valid/minimal.json'),
    name: 'Translator',
    skills: [{ id: 'translate', name: 'Translate', description: 'Translates text', tags: ['text', 'i18n'] }],
  };
}

let server: TestServer;
let client: MeshClient;
const pool = new AgentPool(() => ({ url: server.url, heartbeatIntervalMs: 150 }));

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  server = await startServer({ STALE_TIMEOUT_MS: 600, HEARTBEAT_INTERVAL_MS: 150 });
  client = new MeshClient({ url: server.url });
});
afterEach(async () => {
  await pool.closeAll();
});
afterAll(async () => {
  await server.close();
});

describe('SDK', () => {
  it('an agent joins with its card; others find it by skill and read the card as registered', async () => {
    const card = translator();
    const agent = await pool.join({ agentCard: card });
    expect(await client.getAgentCard(agent.id)).toEqual(card);
    expect((await client.listAgents({ skill: 'i18n' })).instances.map((i) => i.instance_id)).toEqual([agent.id]);
    expect((await client.listAllAgents({ skill: 'translate', limit: 1 })).instances.map((i) => i.instance_id)).toEqual([agent.id]);
    expect((await client.listAgents({ skill: 'nothing' })).instances).toEqual([]);
    await agent.close();
    const gone = await client.getAgentCard(agent.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(MeshApiError);
    expect(gone).toMatchObject({ status: 404, code: 'instance_not_found' });
  });

  it('an agent without a card answers agent_card_not_found', async () => {
    const agent = await pool.join({});
    await expect(client.getAgentCard(agent.id)).rejects.toMatchObject({ status: 404, code: 'agent_card_not_found' });
  });

  it('the card comes back when the agent re-registers after the registry forgot it', async () => {
    const agent = await pool.join({ agentCard: translator() });
    const back = new Promise<void>((resolve) => agent.once('reregistered', () => resolve()));
    // What an eviction does, without waiting for one: the registry no longer has the agent.
    expect(await client.deregister(agent.id)).toBe(true);
    await back;
    expect((await client.getAgentCard(agent.id)).name).toBe('Translator');
    expect((await client.listAgents({ skill: 'translate' })).instances.map((i) => i.instance_id)).toEqual([agent.id]);
  });

  it('sendToCapability and request reach the holder of a skill', async () => {
    const worker = await pool.join({ agentCard: translator() });
    const got: AgentMessage[] = [];
    worker.on('Query', (m, ctx) =>
      ctx.respond({ translated: (typeof m.payload === 'string' ? m.payload : JSON.stringify(m.payload)).toUpperCase() }),
    );
    worker.on('Notification', (m) => {
      got.push(m);
    });
    const asker = await pool.join({});
    expect((await asker.sendToCapability('text', 'Notification', 'hello')).delivered_to).toEqual([worker.id]);
    await eventually(async () => got.length === 1);
    const answer = await asker.request({ capability: 'i18n' }, 'bonjour', { timeoutMs: 10_000 });
    expect(answer.payload).toEqual({ translated: 'BONJOUR' });
  });

  it("reads the registry's own card", async () => {
    const card = await client.registryCard();
    expect(card.supportedInterfaces[0]!.url).toBe(server.url);
    expect(card.skills.map((s) => s.id)).toContain('agent-discovery');
  });
});

describe('mesh CLI', () => {
  it('agents --skill lists the holders of a skill id or tag', async () => {
    const agent = await pool.join({ agentCard: translator(), capabilities: ['other'] });
    const r = await mesh(server.url, 'agents', '--skill', 'i18n');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[1]).toMatch(new RegExp(`^${agent.id.replace(/\./g, '\\.')}\\s`));
    expect(lines.at(-1)).toMatch(/^1 instance\(s\)/);
    const j = await mesh(server.url, 'agents', '--skill', 'translate', '--json');
    expect((JSON.parse(j.stdout) as { instances: { instance_id: string }[] }).instances.map((i) => i.instance_id)).toEqual([agent.id]);
    expect(await mesh(server.url, 'agents', '--skill', 'nothing')).toMatchObject({
      code: 0,
      stdout: "no live instances with skill 'nothing'\n",
    });
    const both = await mesh(server.url, 'agents', '--skill', 'x', '--capability', 'y');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --capability or --skill/);
  });

  it('agent --card shows the card; --json prints it as registered', async () => {
    const sample = fixture('valid/spec-8.5-sample-agent-card.json');
    const agent = await pool.join({ agentCard: sample });
    const text = await mesh(server.url, 'agent', agent.id, '--card');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^name\s+GeoSpatial Route Planner Agent$/m);
    expect(text.stdout).toMatch(/^interfaces\s+JSONRPC 1\.0 https:\/\/georoute-agent\.example\.com\/a2a\/v1$/m);
    expect(text.stdout).toMatch(/^capabilities\s+streaming, pushNotifications, extendedAgentCard$/m);
    expect(text.stdout).toMatch(/^SKILL\s+NAME\s+TAGS$/m);
    expect(text.stdout).toMatch(
      /^route-optimizer-traffic\s+Traffic-Aware Route Optimizer\s+maps, routing, navigation, directions, traffic$/m,
    );
    const json = await mesh(server.url, 'agent', agent.id, '--card', '--json');
    expect(json.code).toBe(0);
    expect(JSON.stringify(JSON.parse(json.stdout))).toBe(JSON.stringify(sample));

    const plain = await pool.join({});
    const none = await mesh(server.url, 'agent', plain.id, '--card');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/404 agent_card_not_found/);
  });
});
