// MeshAgent's life at the edges: hearing its own election at join, create-then-start, waiting
// for a registry that is not up yet (waitForRegistry), and deregistering on SIGTERM
// (closeOnSignals). Real in-process servers; the signal test runs the agent in a child process.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MeshAgent, MeshApiError, MeshClient, MeshClosedError, MeshNetworkError, type LeaderChange } from '../../sdk/src/index.js';
import { startMesh } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';
import { deferred, eventually, REPO_ROOT, startServer, type TestServer } from './support.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((o) => o.close()));
});

async function server(): Promise<TestServer> {
  const s = await startServer();
  opened.push(s);
  return s;
}

function agentOpts(url: string, extra: Partial<ConstructorParameters<typeof MeshAgent>[0]> = {}) {
  return { url, hostname: 'life.local', port: 4000, heartbeatIntervalMs: 200, ...extra };
}

describe('the leader event of an election inside join()', () => {
  it('reaches a listener attached right after `await join()`', async () => {
    const s = await server();
    const agent = await MeshAgent.join(agentOpts(s.url, { instanceId: 'first' }));
    opened.push(agent);
    const heard = deferred<LeaderChange>();
    agent.on('leader', (c) => heard.resolve(c));
    expect(await heard.promise).toEqual({ leaderId: 'first', term: agent.leaderTerm });
    expect(agent.leaderTerm).toBeGreaterThanOrEqual(1);
  });

  it('is heard once by a listener attached before start() (create, listen, start)', async () => {
    const s = await server();
    const agent = new MeshAgent(agentOpts(s.url, { instanceId: 'early' }));
    opened.push(agent);
    const heard: LeaderChange[] = [];
    agent.on('leader', (c) => heard.push(c));
    await agent.start();
    expect(heard).toEqual([{ leaderId: 'early', term: agent.leaderTerm }]);
    // The replay after join() is only for an election nobody heard.
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toHaveLength(1);
  });

  it('is not replayed to listeners attached later, nor to agents that are not leader', async () => {
    const s = await server();
    const leader = await MeshAgent.join(agentOpts(s.url, { instanceId: 'l' }));
    opened.push(leader);
    const follower = await MeshAgent.join(agentOpts(s.url, { instanceId: 'f' }));
    opened.push(follower);
    const heard: string[] = [];
    follower.on('leader', () => heard.push('follower'));
    await new Promise((r) => setTimeout(r, 50));
    leader.on('leader', () => heard.push('late'));
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toEqual([]);
    expect(leader.isLeader).toBe(true);
  });
});

describe('waitForRegistry', () => {
  it('keeps trying until the registry comes up, reporting each failure on error', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const agent = new MeshAgent(agentOpts(url, { instanceId: 'patient', waitForRegistry: true, client: { retries: 0 } }));
    opened.push(agent);
    const errors: Error[] = [];
    agent.on('error', (e) => errors.push(e));
    const started = agent.start();
    await eventually(async () => errors.length >= 2, 10_000);
    expect(errors[0]).toBeInstanceOf(MeshNetworkError);
    // Now the registry starts listening on that port.
    const mesh = await startMesh();
    opened.push(mesh);
    await mesh.apps[0]!.listen({ port, host: '127.0.0.1' });
    await started;
    expect((await new MeshClient({ url }).getAgent('patient')).instance_id).toBe('patient');
  });

  it('gives up after the given time, and fails at once on a 4xx', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    const err = await MeshAgent.join(agentOpts(dead, { waitForRegistry: 600, client: { retries: 0 } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshNetworkError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    expect(Date.now() - t0).toBeLessThan(10_000);

    const s = await server();
    const refused = await MeshAgent.join(agentOpts(s.url, { port: 0, waitForRegistry: true })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MeshApiError);
    expect(refused).toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('without it, an unreachable registry fails join() quickly', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    await expect(MeshAgent.join(agentOpts(dead))).rejects.toBeInstanceOf(MeshNetworkError);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('close() ends the wait with MeshClosedError', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const agent = new MeshAgent(agentOpts(dead, { waitForRegistry: true, client: { retries: 0 } }));
    const outcome = agent.start().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await agent.close();
    expect(await outcome).toBeInstanceOf(MeshClosedError);
  });
});

describe('closeOnSignals', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s.close();
  });

  it('SIGTERM deregisters the agent, then the signal ends the process as it would have', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join('test', 'sdk', 'fixtures', 'signal-agent.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, MESH_URL: s.url, AGENT_ID: 'sig-1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    try {
      await eventually(async () => out.includes('joined sig-1'), 20_000);
      const admin = new MeshClient({ url: s.url });
      expect((await admin.getAgent('sig-1')).instance_id).toBe('sig-1');
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: null, signal: 'SIGTERM' });
      // Deregistered before it died: gone at once, not after the stale timeout.
      await expect(admin.getAgent('sig-1')).rejects.toMatchObject({ status: 404 });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(err).toBe('');
  }, 40_000);
});
