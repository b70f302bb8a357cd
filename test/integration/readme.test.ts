// README.md is the front door: it must name every configuration variable and every route the
// server serves, so it cannot silently drift from the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.js';
import { meshPerSuite } from '../helpers/app.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const shape = (path: string) => path.replace(/\{[^}]*\}/g, '{}');

const mesh = meshPerSuite();

describe('README', () => {
  it('documents every configuration variable', () => {
    const missing = Object.keys(configSchema.shape).filter((k) => !README.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });

  it('documents every route of the OpenAPI document', async () => {
    const doc = (await mesh.apps[0]!.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    const documented = new Set([...README.matchAll(/`(?:GET|POST|DELETE|PUT|PATCH)?\s*(\/[^`\s?[]*)/g)].map((m) => shape(m[1]!)));
    const missing = Object.keys(doc.paths)
      .map(shape)
      .filter((p) => !documented.has(p));
    expect(missing).toEqual([]);
  });
});
