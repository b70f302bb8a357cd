import { describe, expect, it } from 'vitest';
import { declaredKeys, loadScriptSource, SCRIPT_NAMES } from '../../../src/redis/script-runner.js';
import { RUN_WHEN_FULL } from '../../../src/redis/script-flags.js';

describe('script sources', () => {
  it.each(SCRIPT_NAMES)('%s: a shebang first, every include inlined once', (name) => {
    const source = loadScriptSource(name);
    expect(source.split('\n')[0]).toBe(RUN_WHEN_FULL.has(name) ? '#!lua flags=allow-oom' : '#!lua');
    expect(source).not.toMatch(/^-- @include/m);
    // Includes that include others (base includes time and codes) are still inlined once.
    for (const fn of ['nowMs', 'isLive', 'fieldOf']) {
      expect(source.match(new RegExp(`local function ${fn}\\(`, 'g'))?.length ?? 0).toBeLessThanOrEqual(1);
    }
  });

  it('reads Redis TIME in one place (includes/time.lua)', () => {
    for (const name of SCRIPT_NAMES) {
      const source = loadScriptSource(name);
      expect(source.match(/redis\.call\('TIME'\)/g)?.length ?? 0).toBeLessThanOrEqual(1);
      if (source.includes("redis.call('TIME')")) expect(source).toContain('local function nowMs()');
    }
  });

  it('takes its key count from the header', () => {
    expect(declaredKeys('is-live')).toEqual(['deadlines']);
    expect(declaredKeys('route')).toEqual(['capz:<capability>', 'rr', 'skillz:<capability>']);
  });
});
