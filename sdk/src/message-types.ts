// Message types as strings: the builtin PascalCase names as they are, and `{Custom: "x"}` as
// "Custom:x", so handlers can be keyed and CLI arguments written as plain strings.
import type { BuiltinMessageType, MessageType } from './types.js';
import { BUILTIN_MESSAGE_TYPES } from './wire.gen.js';

export { BUILTIN_MESSAGE_TYPES };

/** "Query", "Response", ..., or "Custom:<name>". */
export type MessageTypeName = BuiltinMessageType | `Custom:${string}`;

const BUILTIN = new Set<string>(BUILTIN_MESSAGE_TYPES);

/** The string form of a wire message type: "Query" or "Custom:name". */
export function messageTypeName(t: MessageType): MessageTypeName {
  return typeof t === 'string' ? t : `Custom:${t.Custom}`;
}

/** True for the builtin names and "Custom:<non-empty>". */
export function isMessageTypeName(name: string): name is MessageTypeName {
  return BUILTIN.has(name) || (name.startsWith('Custom:') && name.length > 'Custom:'.length);
}

/** Wire form of a type given as a name ("Custom:x" -> {Custom: "x"}) or already in wire form. */
export function toMessageType(t: MessageType | MessageTypeName): MessageType {
  if (typeof t !== 'string') return t;
  if (t.startsWith('Custom:')) {
    const name = t.slice('Custom:'.length);
    if (!name) throw new TypeError('custom message type needs a name: "Custom:<name>"');
    return { Custom: name };
  }
  if (!BUILTIN.has(t))
    throw new TypeError(`unknown message type ${JSON.stringify(t)} (use one of ${BUILTIN_MESSAGE_TYPES.join(', ')} or "Custom:<name>")`);
  return t as BuiltinMessageType;
}
