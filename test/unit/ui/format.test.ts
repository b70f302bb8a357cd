// The console's metric formatting: heartbeat metrics are any JSON value (issue 12), so nested
// objects and arrays must show as JSON, never as "[object Object]".
import { describe, expect, it } from 'vitest';
import { fmtMetrics, fmtMetricValue } from '../../../ui/src/format.js';

describe('console metric formatting', () => {
  it('shows strings as they are and every other JSON value as JSON', () => {
    expect(fmtMetricValue('busy')).toBe('busy');
    expect(fmtMetricValue(2)).toBe('2');
    expect(fmtMetricValue(null)).toBe('null');
    expect(fmtMetricValue({ running: 2, queued: [1, 2] })).toBe('{"running":2,"queued":[1,2]}');
  });

  it('joins a record of metrics as key=value pairs', () => {
    expect(fmtMetrics({ load: 0.5, tasks: { running: 2 } })).toBe('load=0.5  tasks={"running":2}');
    expect(fmtMetrics(null)).toBe('');
  });
});
