import { describe, expect, it } from 'vitest';
import { PendingRequests } from '../../../../sdk/src/agent/pending-requests.js';
import { MeshClosedError, MeshTimeoutError } from '../../../../sdk/src/errors.js';
import type { AgentMessage } from '../../../../sdk/src/types.js';

const message = (type: AgentMessage['message_type'], cid: string | null): AgentMessage => ({
  message_id: `m-${cid}`,
  source_instance: 's',
  target_instance: 't',
  message_type: type,
  payload: null,
  correlation_id: cid,
  created_at: '2025-01-01T00:00:00.000Z',
});

describe('PendingRequests', () => {
  it('hands a Response to the call waiting for its correlation id, once', async () => {
    const p = new PendingRequests();
    const w = p.wait('c1', 10_000);
    expect(p.take(message('Query', 'c1'))).toBe(false);
    expect(p.take(message('Response', 'other'))).toBe(false);
    expect(p.take(message('Response', null))).toBe(false);
    const r = message('Response', 'c1');
    expect(p.take(r)).toBe(true);
    expect(await w.answer).toBe(r);
    expect(p.take(r)).toBe(false);
    w.done();
  });

  it('times out with MeshTimeoutError, and forgets the call', async () => {
    const p = new PendingRequests();
    const w = p.wait('c2', 10);
    await expect(w.answer).rejects.toBeInstanceOf(MeshTimeoutError);
    expect(p.take(message('Response', 'c2'))).toBe(false);
  });

  it('done() forgets the call; rejectAll fails every waiting one', async () => {
    const p = new PendingRequests();
    const a = p.wait('a', 10_000);
    const b = p.wait('b', 10_000);
    a.done();
    expect(p.take(message('Response', 'a'))).toBe(false);
    p.rejectAll(() => new MeshClosedError());
    await expect(b.answer).rejects.toBeInstanceOf(MeshClosedError);
    b.done();
  });
});
