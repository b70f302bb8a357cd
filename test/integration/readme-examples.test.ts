// README's curl walkthrough, run as written: the block is extracted from README.md verbatim and
// executed with bash against a real listening replica (MESH points at it, as the block's first line
// allows), stopping at the first command that fails (curl -f: any HTTP error fails it).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { meshPerSuite } from '../helpers/app.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The fenced block that follows `<!-- example: <name> ... -->` in README.md. */
export function readmeExample(name: string): string {
  const marker = README.indexOf(`<!-- example: ${name}`);
  if (marker < 0) throw new Error(`README.md has no example marked ${name}`);
  const m = /```\w*\n([\s\S]*?)```/.exec(README.slice(marker));
  if (!m) throw new Error(`no code block after the ${name} marker`);
  return m[1]!;
}

const mesh = meshPerSuite();
let base: string;
beforeAll(async () => {
  const app = mesh.apps[0]!;
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

describe('README examples', () => {
  it('the curl walkthrough runs as written, every call succeeding', async () => {
    const block = readmeExample('curl-walkthrough');
    expect(block).toContain('worker-2');
    // Asynchronously: the replica answering it runs in this process.
    const run = await promisify(execFile)('bash', ['-e', '-o', 'pipefail', '-c', block], {
      env: { ...process.env, MESH: base },
      timeout: 60_000,
    }).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(`the walkthrough failed (exit ${err.code}):\n${err.stdout}\n${err.stderr}`);
    });
    const out = run.stdout;
    // Both registrations, the heartbeat, the capability listing, the send and the long-poll answered.
    expect(out.match(/"success":true/g)).toHaveLength(2);
    expect(out).toContain('"acknowledged":true');
    expect(out).toContain('"tasks":{"running":1,"queued":[]}');
    expect(out).toMatch(/"status":"queued","delivered_to":\["worker-2"\]/);
    expect(out).toContain('"payload":{"q":"hi"}');
    // The ack found the message by the id the block extracted, and both workers are gone.
    expect(mesh.apps[0]!.mesh.messages.counters.acked).toBe(1);
    const agents = (await (await fetch(`${base}/registry/agents`)).json()) as { instances: unknown[] };
    expect(agents.instances).toEqual([]);
  });

  it('the A2A walkthrough runs as written: card registered, found by skill tag, served, routed by skill', async () => {
    const block = readmeExample('a2a-curl');
    const run = await promisify(execFile)('bash', ['-e', '-o', 'pipefail', '-c', block], {
      env: { ...process.env, MESH: base },
      timeout: 60_000,
    }).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(`the A2A walkthrough failed (exit ${err.code}):\n${err.stdout}\n${err.stderr}`);
    });
    const out = run.stdout;
    // The registry's own card, both registrations, the skill listing, the card and the routed send.
    expect(out).toContain('"protocolBinding":"urn:agent-mesh:registry-http:v1"');
    expect(out.match(/"success":true/g)).toHaveLength(2);
    expect(out).toMatch(/"instances":\[\{"instance_id":"translator-1"/);
    expect(out).toContain(
      '"skills":[{"id":"translate","name":"Translate","description":"Translates between languages","tags":["i18n","text"]}]',
    );
    expect(out).toMatch(/"status":"queued","delivered_to":\["translator-1"\]/);
    const agents = (await (await fetch(`${base}/registry/agents`)).json()) as { instances: unknown[] };
    expect(agents.instances).toEqual([]);
  });
});
