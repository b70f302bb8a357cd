// Offline Dockerfile checks (no Docker engine here to build it): syntax and instruction
// validation by dockerfile-utils (the linter of the VS Code Docker language server), then
// the properties this project relies on, read from the dockerfile-ast parse tree.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { configSchema } from '../../../src/config.js';
import { PROJECT_ROOT } from './yaml-util.js';

interface Stage {
  image: string;
  name: string | null;
  instructions: { keyword: string; args: string; json: string[] | null }[];
}

/** Exec-form arguments (`["a", "b"]`) of CMD/HEALTHCHECK CMD/RUN, or null for shell form. */
function execForm(args: string): string[] | null {
  const i = args.indexOf('[');
  if (i < 0) return null;
  try {
    const v: unknown = JSON.parse(args.slice(i));
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}

export function parseStages(text: string): Stage[] {
  const df = DockerfileParser.parse(text);
  const initial = new Map<string, string>();
  for (const a of df.getInitialARGs()) {
    const p = a.getProperty();
    if (p) initial.set(p.getName(), p.getValue() ?? '');
  }
  const stages: Stage[] = [];
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword();
    // The whole instruction text minus the keyword: getArgumentsContent() drops flags such
    // as COPY --from=, which we need. Line continuations are joined into one line.
    const args = ins
      .getTextContent()
      .replace(/\\\r?\n\s*/g, ' ')
      .trim()
      .slice(ins.getInstruction().length)
      .trim();
    if (keyword === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/);
      const resolved = image.replace(
        /\$\{(\w+)\}|\$(\w+)/g,
        (_m, a: string | undefined, b: string | undefined) => initial.get(a ?? b ?? '') ?? '',
      );
      stages.push({ image: resolved, name: as?.toUpperCase() === 'AS' && name ? name : null, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword, args, json: execForm(args) });
    }
  }
  return stages;
}

/** .dockerignore patterns (Go filepath.Match style, `**` for any depth, `!` re-includes). */
export function isIgnored(file: string, dockerignore: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const re = pat
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) =>
          part === '**/'
            ? '(?:.*/)?'
            : part === '**'
              ? '.*'
              : part === '*'
                ? '[^/]*'
                : part === '?'
                  ? '[^/]'
                  : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return { negate, re: new RegExp(`^${re}$`) };
    });
  // A path is excluded when it, or any directory above it, matches (last rule wins).
  const parts = path.posix
    .normalize(file)
    .replace(/^\.\/|\/+$/g, '')
    .split('/');
  let ignored = false;
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    for (const r of rules) if (r.re.test(prefix)) ignored = !r.negate;
  }
  return ignored;
}

export function dockerfileProblems(dockerfile: string, dockerignore: string): string[] {
  const problems: string[] = [];
  for (const d of lintDockerfile(dockerfile)) {
    problems.push(`Dockerfile line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);
  }

  const stages = parseStages(dockerfile);
  if (stages.length < 2) problems.push('multi-stage build expected (build stage + runtime stage)');
  const nodeMajor = /^node:(\d+)-(bookworm-slim|alpine)/;
  for (const s of stages) {
    const m = nodeMajor.exec(s.image);
    if (!m || m[1] !== '20')
      problems.push(`stage ${s.name ?? '?'} uses ${s.image || '(unresolved image)'}, expected node:20-bookworm-slim or node:20-alpine`);
  }
  const runs = (s: Stage): string[] => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const build = stages.find((s) => runs(s).some((r) => /\bnpm run build\b/.test(r)));
  if (!build) problems.push('no stage runs npm run build');
  else if (!runs(build).some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)))
    problems.push('the build stage must install all dependencies with npm ci');

  const final = stages.at(-1);
  if (!final) return problems;
  const fin = (k: string) => final.instructions.filter((i) => i.keyword === k);
  const copiesFrom = (from: string | null) => fin('COPY').filter((c) => from !== null && c.args.includes(`--from=${from}`));
  // Production dependencies: installed in the final stage with --omit=dev, or copied from a
  // stage that did exactly that.
  const prodStage = stages.find((s) => runs(s).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)));
  const prodInFinal =
    prodStage === final || (prodStage !== undefined && copiesFrom(prodStage.name).some((c) => /node_modules/.test(c.args)));
  if (!prodInFinal) problems.push('the runtime stage must get node_modules from npm ci --omit=dev');
  if (runs(final).some((r) => /\bnpm (ci|install)\b/.test(r) && !/--omit=dev/.test(r)))
    problems.push('the runtime stage installs dev dependencies');
  if (!build || !copiesFrom(build.name).some((c) => /\bdist\b/.test(c.args)))
    problems.push('the runtime stage must copy dist/ from the build stage');

  const user = fin('USER').at(-1)?.args;
  if (!user || /^(root|0)(:|$)/.test(user)) problems.push(`the runtime stage must run as a non-root user (USER ${user ?? 'missing'})`);
  else if (user !== 'node' && user !== '1000') problems.push(`USER ${user}: expected node (uid 1000, which k8s runAsUser pins)`);

  const defaultPort = configSchema.shape.PORT.parse(undefined);
  const env = new Map<string, string>();
  for (const e of fin('ENV'))
    for (const m of e.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(m[1] ?? '', (m[2] ?? '').replace(/^"|"$/g, ''));
  if (env.get('NODE_ENV') !== 'production') problems.push('ENV NODE_ENV=production missing in the runtime stage');
  if (env.get('PORT') !== String(defaultPort))
    problems.push(`ENV PORT must be ${defaultPort} (src/config.ts default), got ${env.get('PORT') ?? 'none'}`);
  const exposed = fin('EXPOSE')
    .flatMap((e) => e.args.split(/\s+/))
    .map((p) => p.replace(/\/tcp$/, ''));
  if (exposed.length !== 1 || exposed[0] !== env.get('PORT'))
    problems.push(`EXPOSE ${exposed.join(' ') || '(none)'} must equal PORT ${env.get('PORT') ?? '?'}`);

  const hc = fin('HEALTHCHECK').at(-1);
  const hcCmd = hc?.json ?? null;
  if (!hc || !hcCmd || hcCmd[0] !== 'node') problems.push('HEALTHCHECK must be exec-form CMD ["node", ...] (slim images have no curl)');
  else if (!hcCmd.join(' ').includes('/livez')) problems.push('HEALTHCHECK must hit /livez');

  const cmd = fin('CMD').at(-1)?.json;
  const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const start = pkg.scripts?.start ?? '';
  if (!cmd) problems.push('CMD must be exec form so node is PID 1 and receives SIGTERM');
  else if (cmd.join(' ') !== start) problems.push(`CMD ${JSON.stringify(cmd)} differs from npm start (${start})`);
  // dist/<x>.js is compiled from src/<x>.ts (tsconfig rootDir src, outDir dist).
  const entry = /^dist\/(.+)\.js$/.exec(cmd?.[1] ?? '');
  if (!entry || !existsSync(path.join(PROJECT_ROOT, 'src', `${entry[1] ?? ''}.ts`)))
    problems.push(`CMD entry ${cmd?.[1] ?? '?'} has no source under src/`);
  if (fin('ENTRYPOINT').length) problems.push('no ENTRYPOINT expected (CMD runs node directly)');

  // Every local COPY source must exist and must not be excluded from the build context.
  for (const s of stages) {
    for (const c of s.instructions.filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))) {
      const words = c.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const src of words.slice(0, -1)) {
        if (!existsSync(path.join(PROJECT_ROOT, src))) problems.push(`COPY ${src}: not in the repository`);
        if (isIgnored(src, dockerignore)) problems.push(`COPY ${src}: excluded by .dockerignore`);
      }
    }
  }
  for (const must of ['node_modules', 'dist', '.git', '.env']) {
    if (!isIgnored(must, dockerignore)) problems.push(`.dockerignore must exclude ${must}`);
  }
  return problems;
}
