// The image cannot be built here (no Docker engine), so the Dockerfile is linted and its
// parse tree checked against what the server and the orchestrators rely on.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerfileProblems, isIgnored, parseStages } from './lib/dockerfile-check.js';
import { runHealthcheck, withStatusServer } from './lib/probe-run.js';
import { PROJECT_ROOT } from './lib/yaml-util.js';

const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(path.join(PROJECT_ROOT, '.dockerignore'), 'utf8');

describe('Dockerfile', () => {
  it('lints clean and has the structure the deployment relies on', () => {
    expect(dockerfileProblems(dockerfile, dockerignore)).toEqual([]);
    expect(parseStages(dockerfile).map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
  });

  it('the HEALTHCHECK command works: exit 0 on 200 from /livez, 1 on 503 or no server', async () => {
    const hc = parseStages(dockerfile)
      .at(-1)
      ?.instructions.find((i) => i.keyword === 'HEALTHCHECK')?.json;
    if (!hc) throw new Error('no exec-form HEALTHCHECK');
    await withStatusServer(
      (p) => (p === '/livez' ? 200 : 404),
      async (port) => expect(await runHealthcheck(hc, port)).toBe(0),
    );
    await withStatusServer(
      () => 503,
      async (port) => expect(await runHealthcheck(hc, port)).toBe(1),
    );
    const closed = await withStatusServer(
      () => 200,
      async (port) => port,
    );
    expect(await runHealthcheck(hc, closed)).toBe(1);
  });
});

describe('Dockerfile checks catch broken copies', () => {
  it('syntax errors from the linter', () => {
    const problems = dockerfileProblems(dockerfile.replace('WORKDIR /app', 'WORKDIRR /app'), dockerignore).join('\n');
    expect(problems).toMatch(/Dockerfile line \d+: Unknown instruction: WORKDIRR/);
  });

  it('root user, shell-form CMD, wrong port, healthcheck path, dev deps at runtime', () => {
    const broken = dockerfile
      .replace(/^USER node$/m, 'USER root')
      .replace('CMD ["node", "dist/main.js"]', 'CMD node dist/main.js')
      .replace('EXPOSE 8080', 'EXPOSE 3000')
      .replace("'/livez'", "'/health'")
      .replace('npm ci --omit=dev --no-audit', 'npm ci --no-audit');
    const problems = dockerfileProblems(broken, dockerignore);
    expect(problems).toContain('the runtime stage must run as a non-root user (USER root)');
    expect(problems).toContain('CMD must be exec form so node is PID 1 and receives SIGTERM');
    expect(problems).toContain('EXPOSE 3000 must equal PORT 8080');
    expect(problems).toContain('HEALTHCHECK must hit /livez');
    expect(problems).toContain('the runtime stage must get node_modules from npm ci --omit=dev');
  });

  it('.dockerignore that hides sources or lets secrets in', () => {
    const problems = dockerfileProblems(dockerfile, `${dockerignore}\nsrc\n!.env\n`);
    expect(problems).toContain('COPY src: excluded by .dockerignore');
    expect(problems).toContain('.dockerignore must exclude .env');
  });

  it('dockerignore matching follows docker semantics for the cases used', () => {
    expect(isIgnored('node_modules/x/y.js', 'node_modules\n')).toBe(true);
    expect(isIgnored('README.md', '*.md\n')).toBe(true);
    expect(isIgnored('docs/a.md', '*.md\n')).toBe(false);
    expect(isIgnored('docs/a.md', '**/*.md\n')).toBe(true);
    expect(isIgnored('src/a.ts', 'src\n!src/a.ts\n')).toBe(false);
  });
});
