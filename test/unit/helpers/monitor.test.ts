// MONITOR lines as test/helpers/monitor.ts reads them: the same args and source as ioredis gives.
import { describe, expect, it } from 'vitest';
import { parseMonitorLine } from '../../helpers/monitor.js';

describe('parseMonitorLine', () => {
  it('reads a client command and a command a script ran', () => {
    expect(parseMonitorLine('+1796162752.945444 [0 127.0.0.1:50402] "hmget" "mesh:{ns}:inboxb:a" "m-1" "m-2"')).toEqual({
      args: ['hmget', 'mesh:{ns}:inboxb:a', 'm-1', 'm-2'],
      source: '127.0.0.1:50402',
    });
    expect(parseMonitorLine('+1796162752.945500 [0 lua] "ZSCORE" "mesh:{ns}:deadlines" "a"')).toEqual({
      args: ['ZSCORE', 'mesh:{ns}:deadlines', 'a'],
      source: 'lua',
    });
  });

  it('unescapes quotes inside arguments and ignores what is not a MONITOR line', () => {
    expect(parseMonitorLine('+1.0 [0 127.0.0.1:1] "set" "k" "say \\"hi\\""')?.args).toEqual(['set', 'k', 'say "hi"']);
    expect(parseMonitorLine('+OK')).toBeNull();
  });
});
