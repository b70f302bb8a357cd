// Comments that name a file must name one that exists: a newcomer following a stale reference
// (a file that was renamed, or never was in this repository) loses more than a missing one.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const tracked = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
const basenames = new Set(tracked.map((f) => basename(f)));

/** Source files whose comments are checked. */
const SOURCES = tracked.filter(
  (f) => /^(src|sdk\/src|ui\/src|test|bench|scripts)\/.*\.(ts|tsx|lua|mjs)$/.test(f) && existsSync(join(ROOT, f)),
);

/** The comments of a file (line and block comments of TS/JS, `--` comments of Lua). */
function comments(file: string, text: string): string[] {
  if (file.endsWith('.lua')) return [...text.matchAll(/--\[\[([\s\S]*?)\]\]|--(.*)$/gm)].map((m) => m[1] ?? m[2] ?? '');
  return [...text.matchAll(/\/\*([\s\S]*?)\*\/|(?:^|[^:'"`])\/\/(.*)$/gm)].map((m) => m[1] ?? m[2] ?? '');
}

function exists(cited: string, from: string): boolean {
  if (!cited.includes('/')) return basenames.has(cited);
  // Relative to the repository, docs/, the Lua folder (includes/...), or the citing file's folder
  // or one above it.
  const bases = [ROOT, join(ROOT, 'docs'), join(ROOT, 'src/redis/lua')];
  for (let dir = dirname(join(ROOT, from)); dir.startsWith(ROOT) && dir !== ROOT; dir = dirname(dir)) bases.push(dir);
  return bases.some((b) => existsSync(join(b, cited)));
}

describe('files cited in comments', () => {
  it('exist', () => {
    const missing: string[] = [];
    for (const file of SOURCES) {
      for (const c of comments(file, readFileSync(join(ROOT, file), 'utf8'))) {
        for (const [cited] of c.matchAll(/(?<![\w.:/-])(?:[\w.-]+\/)*[\w-]+\.(?:md|ts|lua|mjs|yml)\b/g)) {
          if (!exists(cited, file)) missing.push(`${file}: ${cited}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
