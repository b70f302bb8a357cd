// Fault 1: kill -9 one of three replicas every few seconds while agents work through haproxy.
// Proves: no acknowledged message is lost, none is delivered to the wrong instance, every agent is
// still registered at the end (none even had to re-register), only requests in flight on the
// killed replica fail (502 from the load balancer, or no answer) and they succeed when retried.
// Meanwhile churn agents join, leave and lapse so the leader changes, and the leader-safety
// checker sees every (leader, term) any client saw: one leader per term, terms never go back.
import { afterAll, describe, expect, it } from 'vitest';
import { redisEnv } from '../helpers/env.js';
import type { FaultAgent } from './support/agents.js';
import { Api, CallLog, sleep } from './support/http.js';
import { SdkCrew } from './support/sdk-agents.js';
import { Fleet, startStack, type Stack } from './support/workload.js';

const RUN_MS = 36_000;
/** Pause between a restarted replica being ready and the next kill. */
const UP_MS = 2_000;
const DOWN_MS = 1_000;
/** A failure counts as "in flight at a kill" when it was sent before and answered soon after it. */
const IN_FLIGHT_SLACK_MS = 3_000;

let stack: Stack | undefined;
let fleet: Fleet | undefined;
let crew: SdkCrew | undefined;
const churners: FaultAgent[] = [];
afterAll(async () => {
  await crew?.close();
  await fleet?.stop(churners);
  await stack?.stop();
}, 60_000);

describe('fault: kill -9 replicas under load', () => {
  it('loses nothing, misroutes nothing, keeps every agent; only in-flight requests fail and are retried', async () => {
    stack = await startStack(redisEnv());
    const s = stack;
    fleet = new Fleet({ url: s.url, agents: 6 });
    const f = fleet;

    // Churners register first, so they are first in line and their comings and goings move the
    // leadership around while replicas die.
    // Their own call log: a lapsing churner's heartbeat 404 is the point, not a failure.
    const churnApi = new Api(s.url, new CallLog(() => true));
    for (let i = 0; i < 3; i++) {
      const c = f.agent(`churn${i}`, { consume: false, api: churnApi });
      await c.start();
      churners.push(c);
    }
    await f.start();
    // Agents on the project's SDK (MeshAgent) doing request/response among themselves.
    crew = new SdkCrew(s.url, 3, f.safety);
    const sdk = crew;
    await sdk.start();

    const churnStop = new AbortController();
    let churnActions = 0;
    const churn = churners.map(async (c, i) => {
      let current = c;
      await sleep(1500 + i * 2500, churnStop.signal);
      for (let round = 0; !churnStop.signal.aborted; round++) {
        const mode = (round + i) % 3;
        if (mode === 0) {
          // leave gracefully (hands leadership over at once), come back later as a new member
          await current.stop({ deregister: true });
          await sleep(2000, churnStop.signal);
          if (churnStop.signal.aborted) return;
          current = f.agent(current.id, { consume: false, api: churnApi });
          churners[i] = current;
          await current.start();
        } else if (mode === 1) {
          // lapse: stop heartbeating past STALE_TIMEOUT_MS (6 s); the next beat gets 404 and re-registers
          current.heartbeatsPaused = true;
          await sleep(7500, churnStop.signal);
          current.heartbeatsPaused = false;
          await current.heartbeatOnce();
        } else {
          await sleep(3000, churnStop.signal);
        }
        churnActions++;
        await sleep(2000, churnStop.signal);
      }
    });

    const kills: number[] = [];
    sdk.startTraffic();
    await f.run(RUN_MS, async () => {
      const until = Date.now() + RUN_MS - 2_000;
      for (let n = 0; Date.now() < until; n++) {
        await sleep(UP_MS);
        const victim = s.replicas[n % s.replicas.length]!;
        kills.push(Date.now());
        await victim.kill('SIGKILL');
        await sleep(DOWN_MS);
        await victim.restart();
      }
    });
    churnStop.abort();
    await Promise.allSettled(churn);
    await sdk.stopTraffic();

    const missing = await f.drain(30_000);
    const listed = await f.listed();
    const report = f.report();
    console.log(
      '[replica-kill]',
      JSON.stringify({ kills: kills.length, churnActions, sdk: { ...sdk.stats, calls: sdk.log.summary() }, ...report }),
    );

    // A restart waits for /readyz, which takes longer on a loaded machine: at least 4 kills in the
    // run (6-9 on a quiet one) still means every replica died at least once under load.
    expect(kills.length).toBeGreaterThanOrEqual(4);
    // No acknowledged message lost, none misrouted, everyone still registered.
    expect(missing.targeted).toEqual([]);
    expect(missing.broadcasts).toEqual([]);
    expect(f.ledger.wrong).toEqual([]);
    expect(report.fifoViolations).toBe(0);
    for (const a of f.agents) expect(listed.ids).toContain(a.id);
    expect(report.reregistrations).toBe(0);
    // Every operation eventually succeeded.
    expect(report.sendGaveUp).toBe(0);
    expect(report.requestGaveUp).toBe(0);
    expect(report.targetedAcked).toBeGreaterThan(200);
    expect(report.requestsOk).toBeGreaterThan(20);
    // Only requests in flight on a killed replica failed, and only with "try again" answers.
    for (const fail of f.log.failures) {
      expect([0, 502, 503, 504], JSON.stringify(fail)).toContain(fail.status);
      const atKill = kills.some((k) => fail.sentAt <= k + 500 && fail.receivedAt >= k - 50 && fail.receivedAt <= k + IN_FLIGHT_SLACK_MS);
      expect(atKill, `failure not at a kill: ${JSON.stringify(fail)} kills=${JSON.stringify(kills)}`).toBe(true);
    }
    expect(f.log.failures.length).toBeLessThan(kills.length * 20);
    // The SDK agents: still registered (never had to re-register), their request/response went on,
    // and every failed attempt they saw was in flight at a kill too.
    for (const a of sdk.agents) expect(listed.ids).toContain(a.id);
    expect(sdk.stats.reregistered).toBe(0);
    expect(sdk.stats.requestsOk).toBeGreaterThan(30);
    for (const fail of sdk.log.failures) {
      expect([0, 502, 503, 504], JSON.stringify(fail)).toContain(fail.status);
      const atKill = kills.some((k) => fail.sentAt <= k + 500 && fail.receivedAt >= k - 50 && fail.receivedAt <= k + IN_FLIGHT_SLACK_MS);
      expect(atKill, `SDK failure not at a kill: ${JSON.stringify(fail)} kills=${JSON.stringify(kills)}`).toBe(true);
    }
    // Leader safety under churn + replica deaths.
    expect(f.safety.violations()).toEqual([]);
    const terms = new Set(f.safety.history().map((h) => h.term));
    expect(terms.size).toBeGreaterThanOrEqual(3);
  }, 150_000);
});
