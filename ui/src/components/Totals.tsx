// Mesh totals from GET /registry/stats (read from Redis: the same on every replica), with charts
// of the readings since the page opened (at most the last 10 minutes).
import { fmtInt, fmtRate } from '../format';
import type { MeshStore } from '../store';
import { Sparkline } from './Sparkline';

function Card(props: { name: string; stat: string; value: string; note?: string; series: (number | null)[] }) {
  return (
    <div class="card" data-stat={props.stat}>
      <div class="card-name">{props.name}</div>
      <div class="card-value" data-testid={`stat-${props.stat}`}>
        {props.value}
      </div>
      <div class="card-note">{props.note ?? '\u00a0'}</div>
      <Sparkline values={props.series} label={props.name} />
    </div>
  );
}

export function Totals({ store }: { store: MeshStore }) {
  const s = store.stats;
  const samples = store.samples;
  const last = samples.at(-1);
  const minuteAgo = samples.find((x) => last && x.t >= last.t - 60_000);
  const runsLastMinute = last && minuteAgo ? last.cleanupRuns - minuteAgo.cleanupRuns : null;
  const runs = samples.map((x, i) => (i === 0 ? null : x.cleanupRuns - samples[i - 1]!.cleanupRuns));
  return (
    <section class="totals" aria-label="Mesh totals" data-samples={samples.length}>
      <Card
        name="Live agents"
        stat="live"
        value={s ? fmtInt(s.live) : '–'}
        note={s && s.lapsed > 0 ? `${fmtInt(s.lapsed)} lapsed, awaiting cleanup` : undefined}
        series={samples.map((x) => x.live)}
      />
      <Card
        name="Sent / s"
        stat="sent"
        value={fmtRate(last?.sentPerSec ?? null)}
        note={s ? `${fmtInt(s.messages_sent)} total` : undefined}
        series={samples.map((x) => x.sentPerSec)}
      />
      <Card
        name="Acked / s"
        stat="acked"
        value={fmtRate(last?.ackedPerSec ?? null)}
        note={s ? `${fmtInt(s.messages_acked)} total` : undefined}
        series={samples.map((x) => x.ackedPerSec)}
      />
      <Card
        name="Inbox depth"
        stat="inbox"
        value={s ? `${fmtInt(s.inbox_total)}${s.inbox_truncated ? '+' : ''}` : '–'}
        note={s ? `deepest ${fmtInt(s.inbox_max)} · broadcast ${fmtInt(s.broadcast_length)}` : undefined}
        series={samples.map((x) => x.inboxTotal)}
      />
      <Card
        name="Cleanup runs"
        stat="cleanup"
        value={s ? fmtInt(s.cleanup_runs) : '–'}
        note={runsLastMinute === null ? undefined : `${fmtInt(runsLastMinute)} in the last minute`}
        series={runs}
      />
    </section>
  );
}
