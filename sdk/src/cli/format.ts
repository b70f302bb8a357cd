// Output of the `mesh` CLI: tables, one-line renderings of messages and membership events, and
// colour that follows the NO_COLOR convention (https://no-color.org): only on a terminal, never
// when NO_COLOR is set to anything non-empty; FORCE_COLOR forces it (for tests and pagers).
import type { AgentMessage, MeshEvent, MeshInstance } from '../types.js';
import { messageTypeName } from '../message-types.js';

export interface Colors {
  bold: (s: string) => string;
  dim: (s: string) => string;
  green: (s: string) => string;
  red: (s: string) => string;
  yellow: (s: string) => string;
  cyan: (s: string) => string;
}

export function colorsFor(env: Record<string, string | undefined>, isTty: boolean): Colors {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0';
  const on = (env.NO_COLOR === undefined || env.NO_COLOR === '') && (forced || (isTty && env.TERM !== 'dumb'));
  const sgr = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { bold: sgr(1, 22), dim: sgr(2, 22), green: sgr(32, 39), red: sgr(31, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

/** Visible length (ANSI colour codes take no columns). */
function width(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[\d+m/g, '').length;
}

export function table(headers: string[], rows: string[][], c: Colors): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => width(r[i] ?? ''))));
  const fmt = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[i] ?? 0) - width(cell)))))
      .join('  ')
      .trimEnd();
  return [c.bold(fmt(headers)), ...rows.map(fmt)].join('\n') + '\n';
}

export function ago(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  if (ms < 1000) return `${Math.max(0, ms)}ms ago`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s ago`;
  return `${Math.round(ms / 60_000)}m ago`;
}

export function compact(value: unknown, max = 60): string {
  const s = JSON.stringify(value) ?? 'null';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export const pretty = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
export const jsonLine = (v: unknown) => `${JSON.stringify(v)}\n`;

export function instanceTable(list: MeshInstance[], c: Colors): string {
  return table(
    ['INSTANCE', 'LEADER', 'HOST', 'PORT', 'CAPABILITIES', 'PROFILES', 'STATUS', 'HEARTBEAT'],
    list.map((i) => [
      i.instance_id,
      i.is_leader ? c.green('*') : '',
      i.hostname,
      String(i.port),
      i.capabilities.join(',') || '-',
      i.agent_profiles.join(',') || '-',
      i.status ?? '-',
      ago(i.last_heartbeat),
    ]),
    c,
  );
}

export function messageTable(list: AgentMessage[], c: Colors): string {
  return table(
    ['MESSAGE', 'FROM', 'TYPE', 'TO', 'CORRELATION', 'CREATED', 'PAYLOAD'],
    list.map((m) => [
      m.message_id,
      m.source_instance,
      messageTypeName(m.message_type),
      m.target_instance ?? '*',
      m.correlation_id ?? '-',
      m.created_at,
      compact(m.payload),
    ]),
    c,
  );
}

/** One message per line, for `inbox --follow`. */
export function messageLine(m: AgentMessage, c: Colors): string {
  const parts = [c.dim(m.created_at), c.cyan(messageTypeName(m.message_type)), `${m.source_instance} -> ${m.target_instance ?? '*'}`];
  if (m.correlation_id !== null) parts.push(`correlation=${m.correlation_id}`);
  parts.push(compact(m.payload, 200), c.dim(m.message_id));
  return `${parts.join('  ')}\n`;
}

const EVENT_SHOWN = new Set(['type', 'id', 'instance_id', 'leader_id', 'term', 'leader_term', 'at']);

/**
 * `<time>  <type>  <instance>  [term N]  key=value...`: the registry's time of the change when
 * the event carries one, and only the fields that have a value (no `null` noise).
 */
export function eventLine(ev: MeshEvent, c: Colors, now = new Date()): string {
  const at = typeof ev.data.at === 'string' ? ev.data.at : now.toISOString();
  const typeColor = ev.type === 'left' ? c.red : ev.type === 'leader' ? c.yellow : ev.type === 'joined' ? c.green : (s: string) => s;
  const parts = [c.dim(at), typeColor(ev.type.padEnd(8)), ev.instance_id ?? '-'];
  if (ev.term !== null) parts.push(`term ${ev.term}`);
  for (const [k, v] of Object.entries(ev.data)) {
    if (EVENT_SHOWN.has(k) || v === null || v === undefined) continue;
    // Most members join without an A2A card: say so only when one came, or went (updated).
    if (k === 'agent_card' && v === false && ev.type === 'joined') continue;
    parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return `${parts.join('  ')}\n`;
}

/** `--json` form of an event: the feed's own record (`data`), with the resume id. */
export function eventJson(ev: MeshEvent): string {
  return jsonLine({ ...ev.data, id: ev.id, type: ev.type, instance_id: ev.instance_id, term: ev.term });
}
