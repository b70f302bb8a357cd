// The agents table, virtualized: only the rows in view (plus a few) exist in the DOM, so 10,000
// agents cost the same to render as 30. Rows are fixed-height and placed by offset.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { fmtDuration, fmtMetrics, healthOf } from '../format';
import type { MeshStore } from '../store';
import type { Agent } from '../types';

export const ROW_HEIGHT = 34;
const OVERSCAN = 6;

function HeartbeatCell({ agent, store, now }: { agent: Agent; store: MeshStore; now: number }) {
  const stale = store.stats?.stale_timeout_ms ?? 15_000;
  const age = now + store.clockOffsetMs - Date.parse(agent.last_heartbeat);
  const health = healthOf(age, stale);
  const pct = Math.min(100, Math.max(0, (age / stale) * 100));
  const title =
    health === 'lapsed'
      ? `No heartbeat for ${fmtDuration(age)}: past the ${fmtDuration(stale)} stale timeout`
      : `Last heartbeat ${fmtDuration(age)} ago; lapses in ${fmtDuration(stale - age)}`;
  const left = Math.max(0, Math.ceil((stale - age) / 1000));
  return (
    <div role="cell" class={`cell hb hb-${health}`} data-health={health} title={title}>
      <span class="hb-age">{fmtDuration(age)}</span>
      {health === 'ok' ? (
        <span class="hb-bar" aria-hidden="true">
          <span class="hb-fill" style={{ width: `${pct}%` }} />
        </span>
      ) : (
        <span class="hb-warn">{health === 'warning' ? `⚠ lapses in ${left} s` : '✕ lapsed'}</span>
      )}
    </div>
  );
}

function Row(props: { agent: Agent; top: number; store: MeshStore; now: number; selected: boolean; onSelect: (id: string) => void }) {
  const { agent: a, store } = props;
  const leader = store.leader.id === a.instance_id;
  const caps = a.capabilities;
  const metrics = fmtMetrics(a.metrics);
  return (
    <div
      class={`row${props.selected ? ' selected' : ''}`}
      role="row"
      tabIndex={0}
      aria-selected={props.selected}
      data-agent-id={a.instance_id}
      style={{ transform: `translateY(${props.top}px)` }}
      onClick={() => props.onSelect(a.instance_id)}
      onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && props.onSelect(a.instance_id)}
    >
      <div role="cell" class="cell id mono" title={a.instance_id}>
        {leader && (
          <span class="crown" title="leader" data-testid="leader-badge">
            ★
          </span>
        )}
        {a.instance_id}
      </div>
      <div role="cell" class="cell addr mono" title={`${a.hostname}:${a.port}`}>
        {a.hostname}:{a.port}
      </div>
      <div role="cell" class="cell caps" title={caps.join(', ')}>
        {caps.slice(0, 3).map((c) => (
          <span key={c} class="chip">
            {c}
          </span>
        ))}
        {caps.length > 3 && <span class="muted">+{caps.length - 3}</span>}
      </div>
      <div role="cell" class="cell profiles" title={a.agent_profiles.join(', ')}>
        {a.agent_profiles.join(', ')}
      </div>
      <div role="cell" class="cell st">
        {a.status ? <span class={`status status-${a.status.toLowerCase()}`}>{a.status}</span> : <span class="muted">–</span>}
      </div>
      <HeartbeatCell agent={a} store={store} now={props.now} />
      <div role="cell" class={`cell pending num${a.pending ? ' has-pending' : ''}`} data-testid="pending">
        {a.pending === null ? '–' : a.pending}
      </div>
      <div role="cell" class="cell metrics mono" title={metrics}>
        {metrics}
      </div>
    </div>
  );
}

export interface AgentTableProps {
  store: MeshStore;
  ids: string[];
  now: number;
  selected: string | null;
  onSelect: (id: string) => void;
  /** The ids in view, whenever they change (the sync refreshes those rows). */
  onVisible: (ids: string[]) => void;
}

export function AgentTable(props: AgentTableProps) {
  const { store, ids } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    setHeight(el.clientHeight);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(ids.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const shown = ids.slice(first, last);
  const key = shown.join(',');
  useEffect(() => props.onVisible(shown), [key, props.onVisible]);

  return (
    <div class="table" role="table" aria-label="Agents" aria-rowcount={ids.length}>
      <div class="row head" role="row">
        <div role="columnheader" class="cell">
          Agent
        </div>
        <div role="columnheader" class="cell">
          Address
        </div>
        <div role="columnheader" class="cell">
          Capabilities
        </div>
        <div role="columnheader" class="cell">
          Profiles
        </div>
        <div role="columnheader" class="cell">
          Status
        </div>
        <div role="columnheader" class="cell">
          Last heartbeat
        </div>
        <div role="columnheader" class="cell num">
          Pending
        </div>
        <div role="columnheader" class="cell">
          Metrics
        </div>
      </div>
      <div class="table-scroll" ref={scroller} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} data-testid="agents-scroll">
        <div class="table-body" role="rowgroup" style={{ height: `${ids.length * ROW_HEIGHT}px` }}>
          {shown.map((id, i) => {
            const a = store.agents.get(id);
            return a ? (
              <Row
                key={id}
                agent={a}
                top={(first + i) * ROW_HEIGHT}
                store={store}
                now={props.now}
                selected={props.selected === id}
                onSelect={props.onSelect}
              />
            ) : null;
          })}
        </div>
        {ids.length === 0 && <p class="empty muted">{store.loading ? 'Loading agents…' : 'No live agent matches.'}</p>}
      </div>
    </div>
  );
}
