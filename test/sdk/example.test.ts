// examples/two-agents.ts runs as documented (`npx tsx examples/two-agents.ts` with MESH_URL) against
// a real server, prints the answers and exits 0, leaving no registration behind.
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MeshClient } from '../../sdk/src/index.js';
import { REPO_ROOT, run, startServer, type TestServer } from './support.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

it('examples/two-agents.ts answers a request and exits 0', async () => {
  const tsx = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
  const r = await run(tsx, ['examples/two-agents.ts'], { MESH_URL: server.url, MESH_TOKEN: '' }, 60_000);
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^summary \(routed by capability\): \{"summary":"Agents register with the mesh\. \(15 words\)","by":"worker\.example-[0-9a-f-]{36}"\}$/m);
  expect(r.stdout).toMatch(/^summary \(direct to worker\.example-[0-9a-f-]{36}\): \{"summary":"Direct requests name the target instance\. \(9 words\)"/m);
  expect((await new MeshClient({ url: server.url }).listAgents()).instances).toEqual([]);
}, 60_000);
