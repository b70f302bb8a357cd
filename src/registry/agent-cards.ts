// A2A Agent Cards of live members: stored as registered, read back only while the member is live.
//
// Storage (docs/redis-keys.md): the card's JSON is one string `card:<id>`, written with a plain SET
// in the MULTI of the register script and renamed into place by it (see register.lua), so no card
// byte ever passes through Lua; the script indexes the card's skill ids and tags in `skillz:<value>`
// zsets, and purgeMember removes both with the member. Reading is a plain GET of the card, then a
// liveness check (is-live.lua: deadline against Redis TIME on the slot's own node), pipelined in
// that order. Not a MULTI: Redis refuses every command queued in a MULTI while it is full, and
// reads must keep working then. Not atomic, and need not be: a member that left between the two
// reads answers "not live"; one that registered its card in between answers "no card", as it
// would have a moment earlier.
import { createHash } from 'node:crypto';
import { AGENT_CARD_MAX_BYTES, skillIndexValues, type AgentCard } from '../a2a/agent-card.js';
import { errors } from '../errors.js';
import { isLive } from '../redis/scripts/is-live.js';
import type { RegistryContext } from './context.js';

/** A validated card, ready for the register script. */
export interface StoredAgentCard {
  /** The card's JSON, as the caller sent it (field order and unknown fields kept). */
  json: string;
  /** sha256 of `json` (hex): tells the script whether a refresh changed the card. */
  digest: string;
  /** Distinct skill ids and tags to index. */
  index: string[];
}

/**
 * `raw`: the card as it arrived in the request body (before validation, which rebuilds objects in
 * schema order); `card`: the same card validated. Throws 413 when the JSON is over the limit.
 */
export function storedAgentCard(raw: unknown, card: AgentCard): StoredAgentCard {
  const json = JSON.stringify(raw);
  if (Buffer.byteLength(json) > AGENT_CARD_MAX_BYTES) throw errors.agentCardTooLarge(AGENT_CARD_MAX_BYTES);
  return { json, digest: createHash('sha256').update(json).digest('hex'), index: skillIndexValues(card) };
}

export type AgentCardLookup = { found: 'card'; json: string } | { found: 'no-card' } | { found: 'not-live' };

export class AgentCardService {
  constructor(private readonly ctx: Pick<RegistryContext, 'keys' | 'scripts'>) {}

  /** The card of `id` while it is live (deadline after Redis TIME), as registered. */
  async get(id: string): Promise<AgentCardLookup> {
    const { keys, scripts } = this.ctx;
    // Issued together: the auto-pipelining connection sends them in this order, in one write.
    const [json, live] = await Promise.all([scripts.client.get(keys.agentCard(id)), isLive(scripts, keys, id)]);
    if (!live) return { found: 'not-live' };
    return json === null ? { found: 'no-card' } : { found: 'card', json };
  }

  /** The skill ids and tags each member's card indexed ([] without a card or record): one pipeline. */
  async indexedSkills(ids: readonly string[]): Promise<string[][]> {
    const { keys } = this.ctx;
    const redis = this.ctx.scripts.client;
    const values = await Promise.all(ids.map((id) => redis.hget(keys.inst(id), 'skills')));
    return values.map((v) => (v ? (JSON.parse(v) as string[]) : []));
  }
}
