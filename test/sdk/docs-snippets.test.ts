// Every `ts` code block of README.md's "SDK and CLI" section and of docs/sdk.md is a complete
// program: each runs here, verbatim, against a real server (MESH_URL), must exit 0 without
// writing to stderr, and must leave no registration behind (it closes its agents).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshClient } from '../../sdk/src/index.js';
import { REPO_ROOT, run, startServer, type TestServer } from './support.js';

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

async function sdkSection(): Promise<string> {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## SDK and CLI\n');
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

const sources = {
  'README.md (SDK and CLI)': sdkSection,
  'docs/sdk.md': () => readFile(path.join(REPO_ROOT, 'docs', 'sdk.md'), 'utf8'),
};

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startServer();
  // Inside the repository, so `agent-mesh-sdk` resolves to the workspace package (sdk/dist).
  dir = await mkdtemp(path.join(REPO_ROOT, 'test', 'sdk', '.snippets-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe.each(Object.entries(sources))('%s', (name, load) => {
  it('has code examples, each of which runs as written', async () => {
    const blocks = tsBlocks(await load());
    expect(blocks.length, name).toBeGreaterThanOrEqual(name.startsWith('README') ? 1 : 3);
    const admin = new MeshClient({ url: server.url });
    for (const [i, code] of blocks.entries()) {
      const file = path.join(dir, `${name.replace(/\W+/g, '-')}-${i}.mts`);
      await writeFile(file, code);
      const r = await run(process.execPath, ['--import', 'tsx', file], { MESH_URL: server.url, MESH_TOKEN: '' }, 60_000);
      expect({ block: i, code: r.code, stderr: r.stderr }).toEqual({ block: i, code: 0, stderr: '' });
      expect((await admin.listAgents()).instances, `block ${i} left registrations behind`).toEqual([]);
    }
  }, 240_000);
});
