// The A2A Agent Card of the agent in the detail panel: name, version, interfaces and its skills
// with their tags. The inspect answer tells which agents have a card (their indexed skills), so
// the card is only requested for those: an agent without one costs no request and no 404.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api';
import type { AgentCard } from '../types';

type CardState =
  { kind: 'unknown' } | { kind: 'none' } | { kind: 'loading' } | { kind: 'ok'; card: AgentCard } | { kind: 'error'; error: Error };

/** `skills`: the agent's indexed skill ids and tags from inspect (undefined until inspected). */
function useAgentCard(api: Api, id: string, skills: string[] | undefined): CardState {
  const [state, setState] = useState<CardState>({ kind: 'unknown' });
  // A re-registration with other skills changes the key and reads the card again.
  const key = skills === undefined ? null : skills.join('\n');
  useEffect(() => {
    if (key === null) return setState({ kind: 'unknown' });
    if (key === '') return setState({ kind: 'none' });
    let live = true;
    setState({ kind: 'loading' });
    api
      .get<AgentCard>(`/registry/agents/${encodeURIComponent(id)}/agent-card`)
      .then((card) => live && setState({ kind: 'ok', card }))
      .catch((err: unknown) => live && setState({ kind: 'error', error: err instanceof Error ? err : new Error(String(err)) }));
    return () => {
      live = false;
    };
  }, [api, id, key]);
  return state;
}

export function AgentCardView(props: { api: Api; id: string; skills: string[] | undefined }) {
  const state = useAgentCard(props.api, props.id, props.skills);
  if (state.kind === 'unknown' || state.kind === 'loading') return <p class="muted">Reading…</p>;
  if (state.kind === 'none') {
    return (
      <p class="muted" data-testid="card-none">
        No A2A Agent Card registered.
      </p>
    );
  }
  if (state.kind === 'error') {
    const e = state.error;
    return (
      <div class="alert" role="alert" data-testid="card-error">
        <strong>{e instanceof ApiError ? `${e.status} ${e.code}` : 'Error'}</strong> {e.message}
      </div>
    );
  }
  const { card } = state;
  return (
    <div data-testid="agent-card">
      <dl class="fields">
        <dt>Name</dt>
        <dd data-testid="card-name">
          {card.name} <span class="muted">v{card.version}</span>
        </dd>
        <dt>Description</dt>
        <dd>{card.description}</dd>
        <dt>Interfaces</dt>
        <dd>
          {card.supportedInterfaces.map((i) => (
            <div key={`${i.protocolBinding} ${i.url}`} class="mono">
              {i.protocolBinding} {i.protocolVersion} {i.url}
            </div>
          ))}
        </dd>
      </dl>
      <ul class="skills" data-testid="card-skills">
        {card.skills.map((s) => (
          <li key={s.id} data-skill-id={s.id} title={s.description}>
            <span class="mono">{s.id}</span> {s.name}{' '}
            {s.tags.map((t) => (
              <span key={t} class="chip">
                {t}
              </span>
            ))}
          </li>
        ))}
      </ul>
    </div>
  );
}
