// A membership-feed event as the SDK hands it out, from one SSE event of GET /registry/events. Lenient
// about the data's shape (older servers named some fields differently), strict about nothing.
import type { SseEvent } from './sse.js';
import type { MeshEvent } from './types.js';
import { isRecord } from './transport.js';

/** null for keep-alives. */
export function toMeshEvent(ev: SseEvent): MeshEvent | null {
  let data: Record<string, unknown>;
  try {
    const parsed = JSON.parse(ev.data) as unknown;
    data = isRecord(parsed) ? parsed : { value: parsed };
  } catch {
    data = { value: ev.data };
  }
  const type = ev.event !== 'message' ? ev.event : typeof data.type === 'string' ? data.type : 'message';
  if (type === 'keep-alive' || type === 'ping') return null;
  const instance = data.instance_id ?? data.leader_id ?? null;
  const termRaw = data.term ?? data.leader_term ?? null;
  const term = typeof termRaw === 'number' ? termRaw : typeof termRaw === 'string' && /^\d+$/.test(termRaw) ? Number(termRaw) : null;
  return { id: ev.id, type, instance_id: typeof instance === 'string' ? instance : null, term, data };
}
