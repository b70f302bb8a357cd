// Stored message bodies -> the wire's AgentMessage. A body is the JSON of what the sender sent
// (message_id, source_instance, message_type, payload, correlation_id); target_instance and
// created_at come from where it is stored (the inbox's owner, or null for a broadcast) and when
// (Redis time of the entry).
import { isoFromMs } from './iso-time.js';
import type { AgentMessage, MessageType } from './types.js';

/** What a body holds: AgentMessage without the two fields its place in Redis gives. */
export type StoredBody = Omit<AgentMessage, 'created_at' | 'target_instance'>;

/**
 * A pending message as the JSON text of its AgentMessage: built by splicing the stored body, never
 * parsed and serialized again (large answers would otherwise cost the replica their size twice).
 */
export interface PendingMessage {
  message_id: string;
  json: string;
}

/** The name wake notices carry for a message type ('Custom' for custom types). */
export function typeName(t: MessageType): string {
  return typeof t === 'string' ? t : 'Custom';
}

/** The AgentMessage JSON of a stored body: same fields and values as decodeStoredMessage(). */
export function messageJson(body: string, target: string | null, createdMs: number): string {
  return `{"target_instance":${target === null ? 'null' : JSON.stringify(target)},"created_at":"${isoFromMs(createdMs)}",${body.slice(1)}`;
}

/** The wire object of a pending message (for the few callers that inspect it). */
export const parseMessage = (m: PendingMessage): AgentMessage => JSON.parse(m.json) as AgentMessage;

export function decodeStoredMessage(body: string, target: string | null, createdMs: number): AgentMessage {
  const b = JSON.parse(body) as StoredBody;
  return {
    message_id: b.message_id,
    source_instance: b.source_instance,
    target_instance: target,
    message_type: b.message_type,
    payload: b.payload,
    correlation_id: b.correlation_id,
    created_at: isoFromMs(createdMs),
  };
}
