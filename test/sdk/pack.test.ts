// The published package as a user gets it: `npm pack` of sdk/, installed into an empty project
// (its dependencies come from the npm registry; the SDK itself from the tarball). The project has
// no @types/node and compiles strict (lib ES2022 + DOM, skipLibCheck false,
// exactOptionalPropertyTypes), then runs a two-agent request/response against a real server;
// require() works from CommonJS; the install holds none of the server's dependencies; the `mesh`
// bin answers --help.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, run, startServer, type TestServer } from './support.js';
import { match } from '../helpers/match.js';

const SDK = path.join(REPO_ROOT, 'sdk');
let server: TestServer;
let dir: string;
let tarball: string;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022', 'DOM'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    types: [],
    outDir: 'out',
  },
  include: ['agents.mts'],
};

const agents = (url: string) => `import { MeshAgent, MeshApiError, type AgentMessage, type MeshAgentOptions } from 'agent-mesh-sdk';

const base: MeshAgentOptions = { url: ${JSON.stringify(url)}, hostname: 'pack.example', port: 7001 };
const worker = await MeshAgent.join({ ...base, capabilities: ['upper'] });
const asker = await MeshAgent.join({ ...base, port: 7002 });
try {
  worker.on('Query', async (m: AgentMessage, ctx) => {
    const text = typeof m.payload === 'string' ? m.payload : '';
    await ctx.respond({ upper: text.toUpperCase() });
  });
  const answer = await asker.request({ capability: 'upper' }, 'packed', { timeoutMs: 20_000 });
  console.log('answer ' + JSON.stringify(answer.payload));
  const refused = await asker.request('nobody-here', null).catch((e: unknown) => e);
  console.log('refused ' + (refused instanceof MeshApiError ? refused.code : String(refused)));
} finally {
  await Promise.all([worker.close(), asker.close()]);
}
`;

const CJS = `const sdk = require('agent-mesh-sdk');
const client = new sdk.MeshClient({ url: 'http://127.0.0.1:1' });
console.log(typeof sdk.MeshAgent, typeof sdk.MeshClient, client.url, sdk.BUILTIN_MESSAGE_TYPES.includes('Query'), new sdk.MeshApiError({ status: 400, code: 'x', message: 'm', body: null, method: 'GET', path: '/', retryAfterMs: null, attempts: 1 }) instanceof sdk.MeshError);
`;

beforeAll(async () => {
  if (!existsSync(path.join(SDK, 'dist', 'cjs', 'index.js'))) throw new Error('sdk/dist is missing: run `npm run build` first');
  server = await startServer();
  dir = await mkdtemp(path.join(tmpdir(), 'mesh-sdk-pack-'));
  // --ignore-scripts: pack the dist that `npm run build` made (prepack would rebuild it under the
  // feet of the other test files that run the CLI from it).
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {}, 120_000, SDK);
  expect(packed.code, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(dir, info!.filename);
  const files = info!.files.map((f) => f.path);
  expect(files).toEqual(
    match.arrayContaining([
      'package.json',
      'README.md',
      'LICENSE',
      'dist/esm/index.js',
      'dist/esm/index.d.ts',
      'dist/cjs/index.js',
      'dist/cjs/package.json',
      'dist/esm/cli/main.js',
    ]),
  );
  // No sources, maps or tests in the package.
  expect(files.filter((f) => !/^(package\.json|README\.md|LICENSE|dist\/(esm|cjs)\/.*\.(js|d\.ts|json))$/.test(f))).toEqual([]);
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'pack-consumer', version: '1.0.0', private: true }));
  const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tarball], {}, 240_000, dir);
  expect(installed.code, installed.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('installs with only its own few dependencies, none of the server', async () => {
  const ls = await run('npm', ['ls', '--all', '--json'], {}, 60_000, dir);
  const names = new Set<string>();
  const walk = (deps: Record<string, { dependencies?: Record<string, unknown> }> | undefined) => {
    for (const [name, d] of Object.entries(deps ?? {})) {
      names.add(name);
      walk(d.dependencies as never);
    }
  };
  walk((JSON.parse(ls.stdout) as { dependencies: Record<string, { dependencies?: Record<string, unknown> }> }).dependencies);
  const server = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  expect([...names].filter((n) => n in server.dependencies)).toEqual([]);
  expect([...names].sort()).toEqual(['agent-mesh-sdk', 'commander', 'eventsource-parser', 'is-network-error', 'p-retry']);
});

it('compiles strict without @types/node and runs a two-agent request/response against a replica', async () => {
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  await writeFile(path.join(dir, 'agents.mts'), agents(server.url));
  const tsc = await run(path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], {}, 120_000, dir);
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.code).toBe(0);
  const r = await run(process.execPath, ['out/agents.mjs'], {}, 60_000, dir);
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('answer {"upper":"PACKED"}\nrefused target_not_found\n');
  expect(r.code).toBe(0);
}, 180_000);

it('works from CommonJS require()', async () => {
  await writeFile(path.join(dir, 'check.cjs'), CJS);
  const r = await run(process.execPath, ['check.cjs'], {}, 30_000, dir);
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('function function http://127.0.0.1:1 true true\n');
});

it('ships the mesh CLI as a bin with per-command help', async () => {
  const bin = path.join(dir, 'node_modules', '.bin', 'mesh');
  const help = await run(bin, ['--help'], {}, 30_000, dir);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: mesh <command> \[options\]/);
  const agentsHelp = await run(bin, ['agents', '--help'], {}, 30_000, dir);
  expect(agentsHelp.code).toBe(0);
  expect(agentsHelp.stdout).toMatch(/^Usage: mesh agents \[options\]/);
  const health = await run(bin, ['health', '--url', server.url], {}, 30_000, dir);
  expect(health).toMatchObject({ code: 0 });
  expect(health.stdout).toMatch(/^ok: version /);
});
