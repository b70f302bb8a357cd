// Maintenance: the BullMQ job scheduler sweeps lapsed members (all their keys) in bounded batches,
// exactly one replica runs each tick, and the sweep's cost follows the number expired.
import { describe, expect, it } from 'vitest';
import { sweep } from '../../src/registry/maintenance.js';
import { eventually, heartbeat, meshPerTest, register, sleep } from '../helpers/app.js';

const startMesh = meshPerTest();

describe('cleanup', () => {
  it('deletes every key of lapsed members and re-elects', async () => {
    const mesh = await startMesh({ STALE_TIMEOUT_MS: 200, HEARTBEAT_INTERVAL_MS: 50 });
    const app = mesh.apps[0]!;
    await register(app, 'keep', { capabilities: ['x'] });
    const baseline = await mesh.namespaceKeys();
    await register(app, 'gone-1', { capabilities: ['x', 'only-gone'] });
    await register(app, 'gone-2', { capabilities: ['y'] });
    await app.inject({
      method: 'POST',
      url: '/messages/send/keep',
      payload: { target_instance: 'gone-1', message_type: 'Query', payload: 1, correlation_id: null },
    });
    const withGone = await mesh.namespaceKeys();
    expect(withGone).toContain(mesh.keys.inst('gone-1'));
    expect(withGone).toContain(mesh.keys.inbox('gone-1'));
    // Only `keep` heartbeats; the two others lapse.
    for (let i = 0; i < 6; i++) {
      await heartbeat(app, 'keep');
      await sleep(60);
    }
    const { instances, messages } = app.mesh;
    const result = await sweep(instances, messages, 500);
    expect(result.removed).toBe(2);
    const after = await mesh.namespaceKeys();
    // Nothing of the lapsed members is left: records, inboxes, indexes, capability sets.
    expect(after.filter((k) => k.includes('gone'))).toEqual([]);
    expect(after).not.toContain(mesh.keys.cap('only-gone'));
    expect(after).not.toContain(mesh.keys.cap('y'));
    expect(await mesh.redis.zrange(mesh.keys.deadlines, 0, -1)).toEqual(['keep']);
    expect(await mesh.redis.zrange(mesh.keys.joined, 0, -1)).toEqual(['keep']);
    expect(await mesh.redis.zrange(mesh.keys.cap('x'), 0, -1)).toEqual(['keep']);
    expect(await mesh.redis.zrange(mesh.keys.broadcastLoad, 0, -1)).toEqual(['keep']);
    expect(await mesh.redis.zrange(mesh.keys.broadcastFloor, 0, -1)).toEqual(['keep']);
    expect(
      after
        .filter((k) => !baseline.includes(k))
        .filter(
          (k) =>
            !k.endsWith(':events') &&
            !k.endsWith(':seq') &&
            !k.endsWith(':rr') &&
            !k.endsWith(':inbox_oldest') &&
            !k.endsWith(':msgseq') &&
            !k.endsWith(':electfloor'),
        ),
    ).toEqual([]);
    // The events feed recorded why they left.
    const events = await mesh.redis.xrange(mesh.keys.events, '-', '+');
    const left = events.filter(([, f]) => f[1] === 'left').map(([, f]) => `${f[3]}:${f[5]}`);
    expect(left.sort()).toEqual(['gone-1:expired', 'gone-2:expired']);
  });

  it('removes in bounded batches until none is left', async () => {
    const mesh = await startMesh({ STALE_TIMEOUT_MS: 100, HEARTBEAT_INTERVAL_MS: 20 });
    const app = mesh.apps[0]!;
    await Promise.all(Array.from({ length: 25 }, (_, i) => register(app, `b-${i}`)));
    await sleep(150);
    const first = await app.mesh.instances.cleanupBatch(10);
    expect(first.removed).toHaveLength(10);
    expect(first.more).toBe(true);
    const total = await sweep(app.mesh.instances, app.mesh.messages, 10);
    expect(total.removed).toBe(15);
    expect(await mesh.redis.zcard(mesh.keys.deadlines)).toBe(0);
    expect((await app.mesh.instances.cleanupBatch(10)).removed).toEqual([]);
  });

  it('the BullMQ scheduler runs each tick on exactly one of 3 replicas', async () => {
    // Ticks start as soon as the first app's scheduler exists, inside startMesh: count from before.
    const started = Date.now();
    const mesh = await startMesh(
      { CLEANUP_INTERVAL_MS: 100, STALE_TIMEOUT_MS: 150, HEARTBEAT_INTERVAL_MS: 30 },
      { apps: 3, maintenance: true },
    );
    const app = mesh.apps[0]!;
    await register(app, 'sweep-me');
    await eventually(async () => (await mesh.redis.exists(mesh.keys.inst('sweep-me'))) === 0, 5000, 50);
    await sleep(1200);
    const perReplica = mesh.apps.map((a) => [...a.mesh.maintenance!.ranJobIds]);
    const all = perReplica.flat();
    // Ticks happened (about 10 per second)...
    expect(all.length).toBeGreaterThanOrEqual(5);
    // ...not three times as many as the schedule allows (one per interval, plus slack).
    expect(all.length).toBeLessThanOrEqual((Date.now() - started) / 100 + 3);
    // ...and no tick ran twice: every job id was processed by exactly one replica.
    expect(new Set(all).size).toBe(all.length);
    const removed = mesh.apps.reduce((n, a) => n + a.mesh.maintenance!.stats.removed, 0);
    expect(removed).toBe(1);
  });
});
