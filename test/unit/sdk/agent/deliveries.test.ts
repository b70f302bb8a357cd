import { describe, expect, it } from 'vitest';
import { Deliveries, type DeliveryHooks } from '../../../../sdk/src/agent/deliveries.js';
import { MeshApiError, MeshHandlerError } from '../../../../sdk/src/errors.js';
import type { AgentMessage } from '../../../../sdk/src/types.js';

const msg = (id: string, type: AgentMessage['message_type'] = 'Query', cid: string | null = null): AgentMessage => ({
  message_id: id,
  source_instance: 's',
  target_instance: 't',
  message_type: type,
  payload: null,
  correlation_id: cid,
  created_at: '2025-01-01T00:00:00.000Z',
});

const settle = () => new Promise<void>((r) => setTimeout(r, 5));

function setup(
  opts: {
    concurrency?: number;
    fetchLimit?: number;
    handle?: (m: AgentMessage) => Promise<void>;
    ack?: (ids: string[]) => Promise<void>;
  } = {},
) {
  const handled: string[] = [];
  const acks: string[][] = [];
  const reports: unknown[] = [];
  const responses = new Set<string>();
  const hooks: DeliveryHooks = {
    handle: opts.handle ?? (async (m) => void handled.push(m.message_id)),
    takeResponse: (m) => m.correlation_id !== null && responses.delete(m.correlation_id),
    ack: opts.ack ?? (async (ids) => void acks.push(ids)),
    registration: () => 1,
    closed: () => false,
    report: (err) => reports.push(err),
    progressed: () => undefined,
  };
  const d = new Deliveries(hooks, { concurrency: opts.concurrency ?? 8, fetchLimit: opts.fetchLimit ?? 100 });
  return { d, handled, acks, reports, responses };
}

describe('Deliveries', () => {
  it('runs each message once and acks it after its handler resolved', async () => {
    const { d, handled, acks } = setup();
    expect(d.dispatch([msg('a'), msg('b')], d.fetchStarted()).progressed).toBe(true);
    // The next fetch returns them again before the acks went out: nothing runs twice.
    d.dispatch([msg('a'), msg('b')], d.fetchStarted());
    await settle();
    expect(handled).toEqual(['a', 'b']);
    expect(acks.flat().sort()).toEqual(['a', 'b']);
  });

  it('acks again a message that a fetch started after its ack still returns (the ack did not stick)', async () => {
    const { d, acks } = setup();
    d.dispatch([msg('a')], d.fetchStarted());
    await settle();
    expect(acks).toEqual([['a']]);
    // A fetch that started before the ack completed may list it: no news.
    d.dispatch([msg('a')], 1);
    await settle();
    expect(acks).toEqual([['a']]);
    d.dispatch([msg('a')], d.fetchStarted());
    await settle();
    expect(acks).toEqual([['a'], ['a']]);
  });

  it('keeps to the concurrency limit', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const { d } = setup({
      concurrency: 2,
      handle: async (m) => {
        started.push(m.message_id);
        await gate;
      },
    });
    d.dispatch([msg('a'), msg('b'), msg('c')], d.fetchStarted());
    expect(started).toEqual(['a', 'b']);
    expect(d.running).toBe(2);
    release();
    await settle();
    d.dispatch([msg('c')], d.fetchStarted());
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('a failed handler is reported, not acked, and retried only after its backoff', async () => {
    let fail = true;
    const { d, acks, reports, handled } = setup({
      handle: async (m) => {
        if (fail) throw new Error('boom');
        handled.push(m.message_id);
      },
    });
    d.dispatch([msg('a')], d.fetchStarted());
    await settle();
    expect(reports[0]).toBeInstanceOf(MeshHandlerError);
    expect(acks).toEqual([]);
    const retry = d.dispatch([msg('a')], d.fetchStarted());
    expect(retry.progressed).toBe(false);
    expect(retry.nextRetryAt).toBeGreaterThan(Date.now());
    fail = false;
    d.dispatch([msg('a')], d.fetchStarted(), retry.nextRetryAt! + 1);
    await settle();
    expect(handled).toEqual(['a']);
    expect(acks).toEqual([['a']]);
  });

  it('hands a waited-for Response over instead of running a handler, and acks it', async () => {
    const { d, handled, acks, responses } = setup();
    responses.add('c1');
    d.dispatch([msg('r', 'Response', 'c1')], d.fetchStarted());
    await settle();
    expect(handled).toEqual([]);
    expect(acks).toEqual([['r']]);
  });

  it('stops retrying acks the registry refuses with a 4xx (the registration is gone)', async () => {
    const refused = new MeshApiError({
      status: 404,
      code: 'instance_not_found',
      message: 'gone',
      body: null,
      method: 'POST',
      path: '/',
      retryAfterMs: null,
      attempts: 1,
    });
    let calls = 0;
    const { d, reports } = setup({
      ack: async () => {
        calls++;
        throw refused;
      },
    });
    d.dispatch([msg('a')], d.fetchStarted());
    await settle();
    expect(calls).toBe(1);
    expect(reports).toEqual([refused]);
  });

  it('forgetAll drops the bookkeeping of a registration that is gone', async () => {
    const { d, handled } = setup();
    d.dispatch([msg('a')], d.fetchStarted());
    await settle();
    d.forgetAll();
    // The new registration's queue: the same id is a new message to it.
    d.dispatch([msg('a')], d.fetchStarted());
    await settle();
    expect(handled).toEqual(['a', 'a']);
  });
});
