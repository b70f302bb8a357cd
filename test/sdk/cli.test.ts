// The `mesh` CLI as users run it: `node dist/cli/main.js ...` in a child process against a real
// server, checking stdout, stderr and exit codes (0 ok, 1 API error, 2 usage, 3 connection).
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshClient } from '../../sdk/src/index.js';
import { freePort } from '../helpers/ports.js';
import { CLI, eventually, mesh, run, startServer, type TestServer } from './support.js';
import { match } from '../helpers/match.js';

let server: TestServer;
let client: MeshClient;

const reg = (id: string, capabilities: string[] = []) =>
  client.register({ instance_id: id, hostname: `${id}.local`, port: 4000, capabilities, agent_profiles: ['default'] });

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  server = await startServer();
  client = new MeshClient({ url: server.url });
});
afterAll(async () => {
  await server.close();
});

describe('mesh CLI', () => {
  it('health', async () => {
    const r = await mesh(server.url, 'health');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: version \S+, uptime \d+s, \d+ live instance\(s\), namespace t-/);
    const j = await mesh(server.url, 'health', '--json');
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ status: 'ok', namespace: server.mesh.namespace });
  });

  it('agents, agent and leader', async () => {
    const empty = await mesh(server.url, 'agents');
    expect(empty).toMatchObject({ code: 0, stdout: 'no live instances\n' });

    await reg('cli-a', ['summarize']);
    await reg('cli-b');
    const table = await mesh(server.url, 'agents');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^INSTANCE\s+LEADER\s+HOST\s+PORT\s+CAPABILITIES\s+PROFILES\s+STATUS\s+HEARTBEAT$/);
    expect(lines[1]).toMatch(/^cli-a\s+\*\s+cli-a\.local\s+4000\s+summarize\s+default\s+-\s+\d/);
    expect(lines[2]).toMatch(/^cli-b\s+cli-b\.local\s+4000\s+-\s+default/);
    expect(lines[3]).toMatch(/^2 instance\(s\); leader cli-a \(term \d+\)$/);

    const filtered = await mesh(server.url, 'agents', '--capability', 'summarize', '--json');
    expect(filtered.code).toBe(0);
    const body = JSON.parse(filtered.stdout) as { instances: { instance_id: string }[]; leader_id: string };
    expect(body.instances.map((i) => i.instance_id)).toEqual(['cli-a']);
    expect(body.leader_id).toBe('cli-a');

    const one = await mesh(server.url, 'agent', 'cli-b');
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^instance_id\s+cli-b$/m);
    expect(one.stdout).toMatch(/^leader\s+no$/m);
    const oneJson = await mesh(server.url, 'agent', 'cli-a', '--json');
    expect(JSON.parse(oneJson.stdout)).toMatchObject({ instance_id: 'cli-a', is_leader: true, capabilities: ['summarize'] });

    const missing = await mesh(server.url, 'agent', 'cli-nobody');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^mesh agent: 404 instance_not_found: Instance 'cli-nobody' is not registered/);

    const leader = await mesh(server.url, 'leader');
    expect(leader.code).toBe(0);
    expect(leader.stdout).toMatch(/^cli-a \(term \d+\)\n$/);
    expect(JSON.parse((await mesh(server.url, 'leader', '--json')).stdout)).toMatchObject({ leader_id: 'cli-a' });
    await client.deregister('cli-a');
    await client.deregister('cli-b');
  });

  it('send (direct, broadcast, capability) and inbox with --ack and --wait', async () => {
    await reg('snd-a');
    await reg('snd-b', ['echo']);
    await reg('snd-c');

    const direct = await mesh(server.url, 'send', 'snd-a', 'snd-b', 'Query', '{"q":"hi"}', '--correlation-id', 'corr-1');
    expect(direct.code).toBe(0);
    expect(direct.stdout).toMatch(/^queued [0-9a-f-]{36} -> snd-b\n$/);
    const bcast = await mesh(server.url, 'send', 'snd-a', '--broadcast', 'Notification', '"all"', '--json');
    expect(bcast.code).toBe(0);
    expect((JSON.parse(bcast.stdout) as { delivered_to: string[] }).delivered_to.sort()).toEqual(['snd-b', 'snd-c']);
    const routed = await mesh(server.url, 'send', 'snd-a', '--capability', 'echo', 'Custom:ping', '42');
    expect(routed).toMatchObject({ code: 0 });
    expect(routed.stdout).toMatch(/-> snd-b\n$/);
    // Run again with the same key: the first send's answer, nothing queued twice.
    await reg('snd-d');
    const keyed = ['send', 'snd-a', 'snd-d', 'Notification', '"once"', '--idempotency-key', 'cli-once'];
    const once = await mesh(server.url, ...keyed);
    const twice = await mesh(server.url, ...keyed);
    expect(once.code).toBe(0);
    expect(twice.stdout).toBe(once.stdout);
    const inboxD = await mesh(server.url, 'inbox', 'snd-d', '--json');
    expect((JSON.parse(inboxD.stdout) as { messages: { payload: unknown }[] }).messages.map((m) => m.payload)).toEqual(['once']);

    const inbox = await mesh(server.url, 'inbox', 'snd-b');
    expect(inbox.code).toBe(0);
    const rows = inbox.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^MESSAGE\s+FROM\s+TYPE\s+TO\s+CORRELATION\s+CREATED\s+PAYLOAD$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(1, 5))).toEqual([
      ['snd-a', 'Query', 'snd-b', 'corr-1'],
      ['snd-a', 'Notification', '*', '-'],
      ['snd-a', 'Custom:ping', 'snd-b', '-'],
    ]);
    expect(rows[1]).toMatch(/\{"q":"hi"\}$/);

    const acked = await mesh(server.url, 'inbox', 'snd-b', '--ack', '--json');
    expect(acked.code).toBe(0);
    const ackBody = JSON.parse(acked.stdout) as { messages: unknown[]; acked: string[] };
    expect(ackBody.messages).toHaveLength(3);
    expect(ackBody.acked).toHaveLength(3);
    expect(await mesh(server.url, 'inbox', 'snd-b')).toMatchObject({ code: 0, stdout: 'no messages\n' });

    // --wait returns at once when something is pending...
    const now = JSON.parse((await mesh(server.url, 'inbox', 'snd-c', '--wait', '20', '--json')).stdout) as {
      messages: { message_id: string; payload: unknown }[];
    };
    expect(now.messages.map((m) => m.payload)).toEqual(['all']);
    await client.ack(
      'snd-c',
      now.messages.map((m) => m.message_id),
    );
    // ...and otherwise parks until a message arrives.
    const waiting2 = mesh(server.url, 'inbox', 'snd-c', '--wait', '20', '--json');
    await new Promise((r) => setTimeout(r, 300));
    await client.send('snd-a', { target_instance: 'snd-c', message_type: 'Notification', payload: 'late', correlation_id: null });
    const late = JSON.parse((await waiting2).stdout) as { messages: { payload: unknown }[] };
    expect(late.messages.map((m) => m.payload)).toEqual(['late']);

    const unknown = await mesh(server.url, 'send', 'snd-a', 'snd-nobody', 'Query', '{}');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/400 target_not_found: Target instance 'snd-nobody' not found/);
    for (const id of ['snd-a', 'snd-b', 'snd-c']) await client.deregister(id);
  });

  it('usage errors exit 2 with a hint on stderr', async () => {
    const cases: [string[], RegExp, string][] = [
      [[], /^mesh: missing command/, 'mesh'],
      [['bogus'], /^mesh: unknown command 'bogus'/, 'mesh'],
      [['agnets'], /unknown command 'agnets'\n\(Did you mean agents\?\)/, 'mesh'],
      [['agent'], /^mesh agent: missing required argument 'id'/, 'mesh agent'],
      [['agents', '--ack'], /^mesh agents: unknown option '--ack'/, 'mesh agents'],
      [['agents', '--capabilty', 'x'], /unknown option '--capabilty'\n\(Did you mean --capability\?\)/, 'mesh agents'],
      [['send', 'a', 'b', 'Query', '{not json'], /<json> is not valid JSON/, 'mesh send'],
      [['send', 'a', 'b', 'query', '{}'], /unknown message type "query"/, 'mesh send'],
      [['send', 'a', 'b', 'Query'], /expects <source> <target> <type> <json>/, 'mesh send'],
      [['send', 'a', '--broadcast', '--capability', 'x', 'Query', '{}'], /either --broadcast or --capability/, 'mesh send'],
      [['request', 'a', '--capability', 'x', 'Query', '{}', '--wait', '0'], /--wait must be between 1 and 60/, 'mesh request'],
      [['inbox', 'a', '--wait', 'soon'], /--wait must be a number/, 'mesh inbox'],
      [['inbox', 'a', '--follow', '--wait', '1'], /--follow streams: it takes no --wait or --limit/, 'mesh inbox'],
      [['health', '--frobnicate'], /unknown option '--frobnicate'/, 'mesh health'],
      [['health', '--url', 'nope'], /invalid mesh URL/, 'mesh health'],
    ];
    for (const [args, pattern, prefix] of cases) {
      const r = await mesh(server.url, ...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).toContain(`\nRun '${prefix} --help' for usage.\n`);
      expect(r.stdout).toBe('');
    }
    const help = await mesh(server.url, '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: mesh <command> \[options\]/);
    for (const cmd of ['agents', 'agent', 'leader', 'send', 'request', 'inbox', 'evict', 'watch', 'health'])
      expect(help.stdout).toContain(`\n  ${cmd} `);
    expect(help.stdout).toMatch(/Exit codes: 0 ok, 1 the server answered with an error, 2 usage error, 3 could not reach the server/);
    // Every command has its own help, with examples and the global options.
    for (const cmd of ['agents', 'agent', 'leader', 'send', 'request', 'inbox', 'evict', 'watch', 'health']) {
      const h = await mesh(server.url, cmd, '--help');
      expect({ cmd, code: h.code }).toEqual({ cmd, code: 0 });
      expect(h.stdout).toMatch(new RegExp(`^Usage: mesh ${cmd} `));
      expect(h.stdout).toMatch(new RegExp(`Examples:\\n  \\$ mesh ${cmd}`));
      expect(h.stdout).toContain('--url <url>');
    }
    const version = await mesh(server.url, '--version');
    expect(version).toMatchObject({ code: 0 });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('connection errors exit 3; --url and MESH_URL pick the server', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await mesh(dead, 'agents', '--retries', '0');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^mesh agents: cannot reach the registry \(connect, ECONNREFUSED\)/);
    // It names the URL it tried.
    expect(r.stderr).toContain(`GET ${dead}/registry/agents failed after 1 attempt(s); check --url or MESH_URL`);
    // --url wins over MESH_URL
    const ok = await mesh(dead, 'health', '--url', server.url);
    expect(ok.code).toBe(0);
  });

  it('sends the bearer token from --token or MESH_TOKEN', async () => {
    const secured = await startServer({ AUTH_MODE: 'token', AUTH_TOKENS: 'cli-secret' });
    try {
      const denied = await mesh(secured.url, 'agents');
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/401 unauthorized/);
      expect((await mesh(secured.url, 'agents', '--token', 'cli-secret')).code).toBe(0);
    } finally {
      await secured.close();
    }
  });

  it('watch follows the membership feed, or says clearly that the server has none', async () => {
    // This registry has the feed: a 404 here is a missing route, not "the other kind of server".
    const probe = await fetch(`${server.url}/registry/events?format=json`);
    await probe.body?.cancel();
    expect(probe.status).toBe(200);
    const watch = spawnWatch(server.url, ['--json']);
    const ids: string[] = [];
    try {
      // The feed starts "from now": keep registering until the watcher shows one (it is connected).
      await eventually(
        async () => {
          const id = `watch-${ids.length}`;
          ids.push(id);
          await reg(id);
          await new Promise((r) => setTimeout(r, 200));
          return watch.stdout().includes(`"instance_id":"${id}"`);
        },
        15_000,
        0,
      );
      const events = watch
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; instance_id: string; id: string | null });
      expect(events.find((e) => e.instance_id === ids.at(-1))).toMatchObject({ type: 'joined', instance_id: ids.at(-1) });
      expect(events.every((e) => typeof e.id === 'string')).toBe(true);
    } finally {
      expect(await watch.interrupt()).toBe(0);
      for (const id of ids) await client.deregister(id);
    }
  });

  it('watch --since replays retained history, readable (no null fields) or as JSON lines', async () => {
    await reg('since-a');
    await client.deregister('since-a');
    const readable = spawnWatch(server.url, ['--since', '0']);
    const lines = spawnWatch(server.url, ['--since', '0', '--json']);
    try {
      await eventually(
        async () => /left +since-a/.test(readable.stdout()) && lines.stdout().includes('"type":"left","instance_id":"since-a"'),
        10_000,
      );
      const joined = readable
        .stdout()
        .split('\n')
        .find((l) => /joined +since-a/.test(l))!;
      // The registry's own time of the change, and no `reason=null`-style noise.
      expect(joined).toMatch(/^\d{4}-\d\d-\d\dT\S+Z {2}joined {4}since-a$/);
      expect(readable.stdout()).not.toMatch(/null/);
      expect(readable.stdout()).toMatch(/left {6}since-a {2}reason=deregistered/);
      const records = lines
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records.find((r) => r.instance_id === 'since-a' && r.type === 'left')).toMatchObject({
        reason: 'deregistered',
        id: match.stringMatching(/^\d+-\d+$/),
      });
      // Resuming after an event id starts right after it.
      const firstId = records[0]!.id as string;
      const resumed = spawnWatch(server.url, ['--since', firstId, '--json']);
      try {
        await eventually(async () => resumed.stdout().includes('"instance_id":"since-a"'), 10_000);
        expect(resumed.stdout()).not.toContain(`"id":"${firstId}"`);
      } finally {
        await resumed.interrupt();
      }
    } finally {
      await readable.interrupt();
      await lines.interrupt();
    }
  });

  it('watch: a server without the feed is an API error with a clear message', async () => {
    const none = http.createServer((_req, res) =>
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Route GET /registry/events not found","code":"not_found"}'),
    );
    await new Promise<void>((r) => none.listen(0, '127.0.0.1', r));
    try {
      const r = await mesh(`http://127.0.0.1:${(none.address() as AddressInfo).port}`, 'watch');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/this server has no membership feed \(GET \/registry\/events answered 404 not_found\)/);
    } finally {
      none.closeAllConnections();
      await new Promise<void>((r) => none.close(() => r()));
    }
  });

  it('request sends and prints the correlated Response', async () => {
    await reg('rq-a');
    await reg('rq-b', ['echo']);
    const answering = (async () => {
      const [q] = await client.fetchMessages('rq-b', { wait: 20 });
      await client.send('rq-b', {
        target_instance: q!.source_instance,
        message_type: 'Response',
        payload: { echo: q!.payload },
        correlation_id: q!.correlation_id,
      });
      await client.ack('rq-b', [q!.message_id]);
    })();
    const r = await mesh(server.url, 'request', 'rq-a', '--capability', 'echo', 'Query', '{"q":1}', '--wait', '20');
    await answering;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^response from rq-b \([0-9a-f-]{36}\):\n\{\n {2}"echo": \{\n {4}"q": 1\n {2}\}\n\}\n$/);
    // Nobody answers: the server's 504 is an API error.
    const late = await mesh(server.url, 'request', 'rq-a', 'rq-b', 'Query', 'null', '--wait', '1');
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^mesh request: 504 /);
    for (const id of ['rq-a', 'rq-b']) await client.deregister(id);
  });

  it('inbox --follow prints messages as they arrive (--ack acks them), JSON lines with --json', async () => {
    await reg('fl-a');
    await reg('fl-b');
    await client.send('fl-a', { target_instance: 'fl-b', message_type: 'Query', payload: { n: 1 }, correlation_id: 'c-1' });
    // The follower that does not ack starts first and shows the first message before the acking
    // one starts: otherwise a slow process start (a busy machine) lets the ack win the race and the
    // JSON follower never sees that message.
    const asJson = spawnMesh(server.url, ['inbox', 'fl-b', '--follow', '--json']);
    let acking: ReturnType<typeof spawnMesh> | undefined;
    try {
      await eventually(async () => asJson.stdout().includes('"payload":{"n":1}'), 10_000);
      const follow = (acking = spawnMesh(server.url, ['inbox', 'fl-b', '--follow', '--ack']));
      await eventually(async () => follow.stdout().includes('{"n":1}'), 10_000);
      await client.send('fl-a', { target_instance: 'fl-b', message_type: { Custom: 'late' }, payload: 'two', correlation_id: null });
      await eventually(async () => follow.stdout().includes('"two"'), 10_000);
      const rows = follow.stdout().trim().split('\n');
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(/^\S+Z {2}Query {2}fl-a -> fl-b {2}correlation=c-1 {2}\{"n":1\} {2}[0-9a-f-]{36}$/);
      expect(rows[1]).toMatch(/^\S+Z {2}Custom:late {2}fl-a -> fl-b {2}"two" {2}[0-9a-f-]{36}$/);
      await eventually(async () => (await client.fetchMessages('fl-b')).length === 0);
      // The --json follower runs on its own schedule: wait for its two complete lines.
      const lines = () => asJson.stdout().split('\n').slice(0, -1);
      await eventually(async () => lines().length >= 2, 10_000);
      const seen = lines().map((l) => (JSON.parse(l) as { payload: unknown }).payload);
      expect(seen).toEqual([{ n: 1 }, 'two']);
    } finally {
      await acking?.interrupt();
      await asJson.interrupt();
    }
    for (const id of ['fl-a', 'fl-b']) await client.deregister(id);
  });

  it('evict deregisters an instance as an operator (admin token), exit 1 when there is none', async () => {
    const secured = await startServer({ AUTH_MODE: 'token', AUTH_TOKENS: 'agent-t', ADMIN_TOKENS: 'admin-t' });
    try {
      const admin = new MeshClient({ url: secured.url, token: 'admin-t' });
      await admin.register({ instance_id: 'ev-a', hostname: 'ev.local', port: 4000, capabilities: [], agent_profiles: [] });
      expect(await mesh(secured.url, 'evict', 'ev-a')).toMatchObject({ code: 1 });
      const ok = await mesh(secured.url, 'evict', 'ev-a', '--token', 'admin-t');
      expect(ok).toMatchObject({ code: 0, stdout: 'evicted ev-a\n' });
      await expect(admin.getAgent('ev-a')).rejects.toMatchObject({ status: 404 });
      const again = await mesh(secured.url, 'evict', 'ev-a', '--token', 'admin-t', '--json');
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toEqual({ instance_id: 'ev-a', evicted: false });
    } finally {
      await secured.close();
    }
  });

  it('colours only when asked (FORCE_COLOR) and never with NO_COLOR', async () => {
    await reg('col-a');
    const plain = await mesh(server.url, 'agents');
    expect(plain.stdout).not.toContain('\x1b[');
    const forced = await run(process.execPath, [CLI, 'agents'], { MESH_URL: server.url, MESH_TOKEN: '', FORCE_COLOR: '1' });
    expect(forced.stdout).toContain('\x1b[1mINSTANCE');
    const off = await run(process.execPath, [CLI, 'agents'], { MESH_URL: server.url, MESH_TOKEN: '', FORCE_COLOR: '1', NO_COLOR: '1' });
    expect(off.stdout).not.toContain('\x1b[');
    expect(off.stdout).toMatch(/^INSTANCE\s+LEADER/);
    await client.deregister('col-a');
  });

  it('watch prints each event of an SSE feed and exits 0 on Ctrl-C', async () => {
    const sse = http.createServer((req, res) => {
      if (req.url !== '/registry/events') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no","code":"not_found"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 1000\n\nid: 1-0\nevent: ready\ndata: {"type":"ready","last_id":"1-0","gap":false}\n\n');
      res.write('id: 2-0\nevent: joined\ndata: {"type":"joined","instance_id":"w-1","term":null}\n\n');
      res.write(': keep-alive\n\nid: 3-0\r\nevent: leader\r\ndata: {"type":"leader",\r\ndata: "instance_id":"w-1","term":7}\r\n\r\n');
    });
    await new Promise<void>((r) => sse.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(sse.address() as AddressInfo).port}`;
    const watch = spawnWatch(url, []);
    try {
      await eventually(async () => watch.stdout().split('\n').length > 2, 10_000);
      const lines = watch.stdout().trim().split('\n');
      expect(lines[0]).toMatch(/^\S+Z {2}joined {4}w-1$/);
      expect(lines[1]).toMatch(/^\S+Z {2}leader {4}w-1 {2}term 7$/);
    } finally {
      expect(await watch.interrupt()).toBe(0);
      sse.closeAllConnections();
      await new Promise<void>((r) => sse.close(() => r()));
    }
  });
});

function spawnWatch(url: string, args: string[]) {
  return spawnMesh(url, ['watch', ...args]);
}

/** A long-running `mesh` command (watch, inbox --follow), stopped with Ctrl-C (SIGINT). */
function spawnMesh(url: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, MESH_URL: url, MESH_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    stdout: () => out,
    stderr: () => err,
    async interrupt(): Promise<number | null> {
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      if (code === null && child.exitCode === null) child.kill('SIGKILL');
      if (code !== 0) throw new Error(`watch exited with ${code}; stderr: ${err}`);
      return code;
    },
  };
}
