import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ReplyCode, replyCode, ScriptReplyError } from '../../../../src/redis/scripts/reply-codes.js';

const CODES_LUA = new URL('../../../../src/redis/lua/includes/codes.lua', import.meta.url);

/** NOT_LIVE -> NotLive */
const pascal = (upper: string): string =>
  upper
    .toLowerCase()
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

describe('reply codes', () => {
  it('the Lua table and the TypeScript one are the same names and numbers', () => {
    const lua = Object.fromEntries(
      [...readFileSync(CODES_LUA, 'utf8').matchAll(/^local ([A-Z_]+) = (-?\d+)$/gm)].map(([, name, n]) => [pascal(name!), Number(n)]),
    );
    expect(lua).toEqual({ ...ReplyCode });
  });

  it('one meaning per number', () => {
    const numbers = Object.values(ReplyCode);
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('replyCode accepts the codes a script may return and refuses any other', () => {
    expect(replyCode('route', 1, [ReplyCode.Ok, ReplyCode.NoHolder])).toBe(ReplyCode.Ok);
    expect(replyCode('route', -4, [ReplyCode.Ok, ReplyCode.NoHolder])).toBe(ReplyCode.NoHolder);
    // Not a code route.lua returns: a mismatch between Lua and wrapper, never guessed at.
    expect(() => replyCode('route', -2, [ReplyCode.Ok, ReplyCode.NoHolder])).toThrow(ScriptReplyError);
    expect(() => replyCode('route', 'x', [ReplyCode.Ok])).toThrow(/script route replied with unexpected code x/);
  });
});
