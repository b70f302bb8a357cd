// One agent in full, with the ids of the messages waiting in its inbox (re-read every 2 s while
// open). Reading someone's pending ids needs their instance token or an admin token in
// AUTH_MODE=instance: a 403 is shown here, the rest of the console keeps working.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api';
import { fmtDuration, fmtInt, fmtMetricValue, healthOf } from '../format';
import type { MeshStore } from '../store';
import type { PendingPage } from '../types';
import { AgentCardView } from './AgentCardView';

const PAGE = 100;

type PendingState = { kind: 'loading' } | { kind: 'ok'; page: PendingPage } | { kind: 'error'; error: ApiError | Error };

function usePending(api: Api, id: string): PendingState {
  const [state, setState] = useState<PendingState>({ kind: 'loading' });
  useEffect(() => {
    let live = true;
    setState({ kind: 'loading' });
    const read = async () => {
      try {
        const page = await api.get<PendingPage>(`/registry/agents/${encodeURIComponent(id)}/pending?limit=${PAGE}`);
        if (live) setState({ kind: 'ok', page });
      } catch (err) {
        if (live) setState({ kind: 'error', error: err instanceof Error ? err : new Error(String(err)) });
        // Refused for good (no access, or the agent is gone): asking again every 2 s would only repeat it.
        if (err instanceof ApiError && [401, 403, 404].includes(err.status)) clearInterval(timer);
      }
    };
    const timer = setInterval(() => void read(), 2000);
    void read();
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, id]);
  return state;
}

function PendingList({ state }: { state: PendingState }) {
  if (state.kind === 'loading') return <p class="muted">Reading…</p>;
  if (state.kind === 'error') {
    const e = state.error;
    const status = e instanceof ApiError ? e.status : 0;
    const hint =
      status === 401 || status === 403
        ? 'Reading an inbox needs that instance’s own token or an admin token (AUTH_MODE=instance).'
        : status === 404
          ? 'The agent is no longer live.'
          : '';
    return (
      <div class="alert" role="alert" data-testid="pending-error" data-status={status}>
        <strong>{status ? `${status} ${e instanceof ApiError ? e.code : ''}` : 'Error'}</strong> {e.message}
        {hint && <div>{hint}</div>}
      </div>
    );
  }
  const { page } = state;
  return (
    <>
      <p>
        <strong data-testid="detail-pending">{fmtInt(page.pending)}</strong> pending message{page.pending === 1 ? '' : 's'}
        {page.next_cursor && <span class="muted"> (first {PAGE} shown)</span>}
      </p>
      {page.message_ids.length > 0 && (
        <ol class="pending-ids mono" data-testid="pending-ids">
          {page.message_ids.map((m) => (
            <li key={m} data-message-id={m}>
              {m}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

export function AgentDetail(props: { store: MeshStore; api: Api; id: string; now: number; onClose: () => void }) {
  const { store, id } = props;
  const a = store.agents.get(id);
  const pending = usePending(props.api, id);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && props.onClose();
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [props.onClose]);

  const stale = store.stats?.stale_timeout_ms ?? 15_000;
  const serverNow = props.now + store.clockOffsetMs;
  return (
    <aside class="detail" aria-label={`Agent ${id}`} data-testid="detail" data-agent-id={id}>
      <header class="detail-head">
        <h2 class="mono">
          {store.leader.id === id && <span class="crown">★ </span>}
          {id}
        </h2>
        <button type="button" class="close" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </header>
      {!a ? (
        <p class="muted" data-testid="detail-gone">
          Not live any more (deregistered or lapsed).
        </p>
      ) : (
        <dl class="fields">
          <dt>Address</dt>
          <dd class="mono">
            {a.hostname}:{a.port}
          </dd>
          <dt>Status</dt>
          <dd>{a.status ?? '–'}</dd>
          <dt>Last heartbeat</dt>
          <dd data-health={healthOf(serverNow - Date.parse(a.last_heartbeat), stale)}>
            {fmtDuration(serverNow - Date.parse(a.last_heartbeat))} ago (stale after {fmtDuration(stale)})
          </dd>
          <dt>Registered</dt>
          <dd>{fmtDuration(serverNow - Date.parse(a.created_at))} ago</dd>
          <dt>Capabilities</dt>
          <dd>
            {a.capabilities.length
              ? a.capabilities.map((c) => (
                  <span key={c} class="chip">
                    {c}
                  </span>
                ))
              : '–'}
          </dd>
          <dt>Profiles</dt>
          <dd>{a.agent_profiles.join(', ') || '–'}</dd>
          <dt>Metrics</dt>
          <dd>
            {a.metrics && Object.keys(a.metrics).length ? (
              <table class="metrics-table">
                <tbody>
                  {Object.entries(a.metrics).map(([k, v]) => (
                    <tr key={k}>
                      <th>{k}</th>
                      <td class="mono">{fmtMetricValue(v)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              '–'
            )}
          </dd>
        </dl>
      )}
      {a && (
        <>
          <h3>A2A Agent Card</h3>
          <AgentCardView api={props.api} id={id} skills={a.skills} />
        </>
      )}
      <h3>Inbox</h3>
      <PendingList state={pending} />
    </aside>
  );
}
