// Each script's header, its typed wrapper and its Lua body must agree on the keys it takes: the
// header names them (`KEYS[n] name`), the wrapper builds them, the body addresses them as KEYS[n].
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { meshKeys } from '../../../../src/redis/keys.js';
import { declaredKeys, SCRIPT_NAMES, type ScriptName } from '../../../../src/redis/script-runner.js';
import { ackKeys } from '../../../../src/redis/scripts/ack.js';
import { cleanupKeys } from '../../../../src/redis/scripts/cleanup.js';
import { countersKeys } from '../../../../src/redis/scripts/counters.js';
import { deregisterKeys } from '../../../../src/redis/scripts/deregister.js';
import { expireMessagesKeys } from '../../../../src/redis/scripts/expire-messages.js';
import { fetchKeys } from '../../../../src/redis/scripts/fetch.js';
import { heartbeatKeys } from '../../../../src/redis/scripts/heartbeat.js';
import { isLiveKeys } from '../../../../src/redis/scripts/is-live.js';
import { listKeys } from '../../../../src/redis/scripts/list.js';
import { liveCountKeys } from '../../../../src/redis/scripts/live-count.js';
import { pendingIdsKeys } from '../../../../src/redis/scripts/pending-ids.js';
import { rateLimitKeys } from '../../../../src/redis/scripts/rate-limit.js';
import { registerKeys } from '../../../../src/redis/scripts/register.js';
import { routeKeys } from '../../../../src/redis/scripts/route.js';
import { sendKeys } from '../../../../src/redis/scripts/send.js';
import { statsKeys } from '../../../../src/redis/scripts/stats.js';
import { syncMarkKeys } from '../../../../src/redis/scripts/sync-mark.js';
import { tokenOwnerKeys } from '../../../../src/redis/scripts/token-owner.js';

const LUA_DIR = new URL('../../../../src/redis/lua/', import.meta.url);
const k = meshKeys('ns');

/** Each wrapper's keys, built with the header's placeholders for the ids and names it takes. */
const WRAPPER_KEYS: Record<ScriptName, string[]> = {
  register: registerKeys(k, '<id>'),
  heartbeat: heartbeatKeys(k),
  deregister: deregisterKeys(k, '<id>'),
  list: listKeys(k, 'cap', '<name>'),
  cleanup: cleanupKeys(k),
  route: routeKeys(k, '<capability>'),
  send: sendKeys(k, '<source>', '<target>', '<key>'),
  fetch: fetchKeys(k, '<id>'),
  ack: ackKeys(k, '<id>'),
  'expire-messages': expireMessagesKeys(k),
  'live-count': liveCountKeys(k),
  stats: statsKeys(k),
  'rate-limit': rateLimitKeys(k, '<id>'),
  'token-owner': tokenOwnerKeys(k),
  counters: countersKeys(k),
  'pending-ids': pendingIdsKeys(k, '<id>'),
  'is-live': isLiveKeys(k),
  'sync-mark': syncMarkKeys(k),
};

const body = (name: string): string => readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8').replace(/^--\[\[[\s\S]*?\]\]/, '');

describe('script contracts', () => {
  it('every Lua script is known to the runner, and every known script has a file', () => {
    const files = readdirSync(LUA_DIR)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => f.slice(0, -4))
      .sort();
    expect(files).toEqual([...SCRIPT_NAMES].sort());
  });

  it.each(SCRIPT_NAMES)('%s: the wrapper builds the keys its header names, in order', (name) => {
    const header = declaredKeys(name);
    const built = WRAPPER_KEYS[name];
    expect(built).toHaveLength(header.length);
    header.forEach((declared, i) => {
      // Every key carries the namespace's hash tag: the script touches one cluster slot.
      expect(built[i]!.startsWith(k.prefix)).toBe(true);
      // `<role>`: a key chosen per call (list's index); otherwise the name after the prefix.
      if (!/^<\w+>$/.test(declared)) expect(built[i]!.slice(k.prefix.length)).toBe(declared);
    });
  });

  it('list pages the index its mode names', () => {
    expect(listKeys(k, 'all', '').at(-1)).toBe(k.joined);
    expect(listKeys(k, 'one', 'some-id').at(-1)).toBe(k.joined);
    expect(listKeys(k, 'cap', 'summarize').at(-1)).toBe(k.cap('summarize'));
    expect(listKeys(k, 'skill', 'currency conversion').at(-1)).toBe(k.skill('currency conversion'));
  });

  it.each(SCRIPT_NAMES)('%s: the body uses only the KEYS it declares, and no declared key by its name', (name) => {
    const header = declaredKeys(name);
    const lua = body(name);
    for (const [, n] of lua.matchAll(/KEYS\[(\d+)\]/g)) expect(Number(n)).toBeLessThanOrEqual(header.length);
    for (const declared of header) {
      // A fixed name in KEYS must be addressed as KEYS[n], not rebuilt from the prefix.
      if (!declared.includes('<')) expect(lua).not.toContain(`P .. '${declared}'`);
    }
  });
});
