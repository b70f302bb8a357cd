// Instance rows (as the list and register scripts return them) -> the wire's MeshInstance, as an
// object or directly as JSON text.
import type { InstanceRow } from '../redis/scripts/decode.js';
import { isoFromMs } from './iso-time.js';
import type { MeshInstance, Metrics } from './types.js';

export function toInstance(row: InstanceRow, leaderId: string | null): MeshInstance {
  const [id, host, port, caps, profiles, created, hb, status, metrics] = row;
  return {
    instance_id: id,
    hostname: host,
    port: Number(port),
    capabilities: JSON.parse(caps) as string[],
    is_leader: id === leaderId,
    last_heartbeat: isoFromMs(hb),
    created_at: isoFromMs(created),
    agent_profiles: JSON.parse(profiles) as string[],
    status: status || null,
    metrics: metrics ? (JSON.parse(metrics) as Metrics) : null,
  };
}

/**
 * The JSON text of toInstance(row): same fields, order and values as the meshInstance schema,
 * built without the intermediate objects, whose garbage dominated large listings
 * (docs/performance.md). Capabilities, profiles and metrics are stored as JSON written by the
 * register and heartbeat scripts from JSON.stringify of validated input, so they are copied as
 * they are.
 */
export function instanceJson(row: InstanceRow, leaderId: string | null): string {
  const [id, host, port, caps, profiles, created, hb, status, metrics] = row;
  return (
    `{"instance_id":${JSON.stringify(id)},"hostname":${JSON.stringify(host)},"port":${Number(port)},` +
    `"capabilities":${caps},"is_leader":${id === leaderId},"last_heartbeat":"${isoFromMs(hb)}",` +
    `"created_at":"${isoFromMs(created)}","agent_profiles":${profiles},` +
    `"status":${status ? JSON.stringify(status) : 'null'},"metrics":${metrics || 'null'}}`
  );
}

/** A JSON array of rows, in order. */
export function rowsJson(rows: readonly InstanceRow[], leaderId: string | null): string {
  const parts = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) parts[i] = instanceJson(rows[i]!, leaderId);
  return `[${parts.join(',')}]`;
}
