import { describe, expect, it } from 'vitest';
import { LeaderTracker, type LeaderChange } from '../../../../sdk/src/agent/leadership.js';

function tracker(self = 'me', leaseMs = 1000) {
  const log: string[] = [];
  let now = 0;
  const fmt = (c: LeaderChange) => `${c.leaderId ?? '-'}@${c.term}`;
  const t = new LeaderTracker(
    self,
    leaseMs,
    {
      elected: (c) => log.push(`elected ${fmt(c)}`),
      lost: (c) => log.push(`lost ${fmt(c)}`),
      changed: (c) => log.push(`changed ${fmt(c)}`),
    },
    () => now,
  );
  return { t, log, advance: (ms: number) => (now += ms) };
}

describe('LeaderTracker', () => {
  it('reports election, loss and every change, in that order of importance', () => {
    const { t, log } = tracker();
    t.update('me', 5);
    expect(t.isLeader).toBe(true);
    t.update('other', 6);
    expect(log).toEqual(['changed me@5', 'elected me@5', 'lost other@6', 'changed other@6']);
    expect(t.leaderId).toBe('other');
    expect(t.term).toBe(6);
  });

  it('fences by term: older terms are stale, and within a term only a vacancy is news', () => {
    const { t, log } = tracker();
    t.update('a', 7);
    t.update('me', 6); // stale
    t.update('b', 7); // a different leader for the same term: stale too
    expect(t.leaderId).toBe('a');
    expect(t.isLeader).toBe(false);
    t.update(null, 7); // the seat is vacant now
    expect(t.leaderId).toBeNull();
    t.update('me', 7); // filling the vacancy within the term is accepted
    expect(t.isLeader).toBe(true);
    expect(log).toEqual(['changed a@7', 'changed -@7', 'changed me@7', 'elected me@7']);
  });

  it('a new registration resets the fence (a registry that restarted its terms)', () => {
    const { t } = tracker();
    t.update('me', 1_700_000_000_000);
    t.update('me', 1, true);
    expect(t.term).toBe(1);
    expect(t.isLeader).toBe(true);
  });

  it('a leader steps down when its lease lapses without acknowledgement, not before', () => {
    const { t, log, advance } = tracker('me', 1000);
    t.acknowledged();
    t.update('me', 3);
    advance(1000);
    t.checkLease();
    expect(t.isLeader).toBe(true);
    advance(1);
    t.checkLease();
    expect(t.isLeader).toBe(false);
    expect(log.at(-1)).toBe('lost -@3');
    // The registry still says so: news of the same term and leader is no change.
    t.checkLease();
    expect(log.filter((l) => l.startsWith('lost'))).toHaveLength(1);
  });

  it('stepDown only reports a loss while leading', () => {
    const { t, log } = tracker();
    t.stepDown();
    expect(log).toEqual([]);
    t.update('me', 2);
    t.stepDown();
    expect(log.at(-1)).toBe('lost -@2');
  });
});
