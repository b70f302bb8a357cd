// The layering rules of docs/DESIGN.md ("Layers"), checked on the source: main -> app -> http ->
// registry -> redis, nothing importing upwards; the HTTP layer reaches Redis only through registry
// services; scripts are called only through their typed wrappers; key names are built only in
// keys.ts; the layers below HTTP decide no HTTP.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const FILES = sources().map((abs) => ({ path: relative(SRC, abs), text: readFileSync(abs, 'utf8') }));

/** The src-relative paths a file imports (relative imports only, `.js` -> `.ts`). */
function importsOf(file: { path: string; text: string }): string[] {
  const out: string[] = [];
  for (const [, spec] of file.text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
    out.push(relative(SRC, resolve(SRC, file.path, '..', spec!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** The code without its comments (good enough for these checks: no comment markers in strings). */
const code = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');

const layer = (path: string): string => (path.includes('/') ? path.slice(0, path.indexOf('/')) : path.replace(/\.ts$/, ''));

describe('architecture', () => {
  it('dependencies point down: main -> app -> http -> registry -> redis', () => {
    // What each layer may import (besides itself); config, errors, version and a2a (the card model)
    // import no layer and may be imported by any.
    const allowed: Record<string, string[]> = {
      main: ['app', 'config', 'redis', 'usage', 'version'],
      app: ['http', 'registry', 'redis', 'config', 'version'],
      http: ['registry', 'a2a', 'config', 'errors', 'version'],
      registry: ['redis', 'a2a', 'config', 'errors'],
      redis: ['config'],
      a2a: [],
      config: [],
      errors: [],
      usage: ['config', 'version'],
      version: [],
    };
    const wrong: string[] = [];
    for (const f of FILES) {
      const from = layer(f.path);
      for (const to of importsOf(f).map(layer)) {
        if (to !== from && !allowed[from]?.includes(to)) wrong.push(`${f.path} imports ${to}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('scripts are run only by their typed wrappers (src/redis/scripts/)', () => {
    const callers = FILES.filter((f) => /\.(run|runAfter)\(\s*['[]/.test(code(f.text))).map((f) => f.path);
    expect(callers.filter((p) => !p.startsWith('redis/scripts/'))).toEqual([]);
  });

  it('key names are built in keys.ts only', () => {
    const builders = FILES.filter((f) => /\$\{[\w.]*prefix\}[a-z_]|mesh:\{/i.test(code(f.text))).map((f) => f.path);
    expect(builders).toEqual(['redis/keys.ts']);
  });

  it('below the HTTP layer nothing decides HTTP (statuses and headers are mapped in src/http)', () => {
    const offenders = FILES.filter((f) => ['registry', 'redis', 'errors'].includes(layer(f.path)))
      .filter((f) => /statusCode|retry-after|\bheaders\b/i.test(code(f.text)))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });
});
