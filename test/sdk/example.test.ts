// examples/ is a project of its own that depends on the agent-mesh-sdk workspace package (its
// built dist, through the package's exports) like an outside agent would: it compiles with tsc
// strict (exactOptionalPropertyTypes, skipLibCheck false) and runs against a real server, prints
// the answers, exits 0 and leaves no registration behind.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MeshClient } from '../../sdk/src/index.js';
import { REPO_ROOT, run, startServer, type TestServer } from './support.js';

let server: TestServer;
beforeAll(async () => {
  if (!existsSync(path.join(REPO_ROOT, 'sdk', 'dist', 'esm', 'index.js')))
    throw new Error('sdk/dist is missing: run `npm run build` first');
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

it('examples/two-agents.ts compiles strict against the package and answers a request', async () => {
  const tsc = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc');
  const built = await run(tsc, ['-p', path.join('examples', 'tsconfig.json')], {}, 120_000);
  expect(built.stdout + built.stderr).toBe('');
  expect(built.code).toBe(0);
  const r = await run(process.execPath, [path.join('examples', 'dist', 'two-agents.js')], { MESH_URL: server.url, MESH_TOKEN: '' }, 60_000);
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(
    /^summary \(routed by capability\): \{"summary":"Agents register with the mesh\. \(15 words\)","by":"worker\.example-[0-9a-f-]{36}"\}$/m,
  );
  expect(r.stdout).toMatch(
    /^summary \(direct to worker\.example-[0-9a-f-]{36}\): \{"summary":"Direct requests name the target instance\. \(9 words\)"/m,
  );
  expect((await new MeshClient({ url: server.url }).listAgents()).instances).toEqual([]);
}, 180_000);
