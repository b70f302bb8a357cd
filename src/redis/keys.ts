// Every key name of the registry is built here (docs/redis-keys.md says what each holds). Every key
// of one mesh shares the hash tag `{<namespace>}`, so each Lua script touches a single cluster slot
// and the whole namespace lives on one shard. The Lua scripts derive the keys that depend on what
// they read (other members' records, capability indexes) from `prefix`, with the same names.

export interface MeshKeys {
  /** `mesh:{ns}:` - scripts derive per-member keys from it (inst:<id>, capz:<name>, inbox:<id>). */
  readonly prefix: string;
  readonly deadlines: string;
  readonly joined: string;
  readonly seq: string;
  readonly leader: string;
  readonly term: string;
  readonly events: string;
  /** Broadcast stream (metadata; entry id `<bseq>-0`). */
  readonly broadcast: string;
  /** Hash message_id -> bseq of stored broadcasts. */
  readonly broadcastIndex: string;
  /** Hash message_id -> body JSON of stored broadcasts. */
  readonly broadcastBodies: string;
  /** Counter of broadcasts (the newest bseq). */
  readonly broadcastSeq: string;
  /** Zset member -> cursor + own broadcasts after it - pending (backlog bound). */
  readonly broadcastLoad: string;
  /** Zset member -> oldest broadcast it still needs (trimming). */
  readonly broadcastFloor: string;
  readonly inboxOldest: string;
  readonly roundRobin: string;
  /** Hash sha256(instance token) -> instance id (AUTH_MODE=instance). */
  readonly tokens: string;
  /** Namespace-wide message sequence (send.lua): also the mesh-wide count of messages sent. */
  readonly msgseq: string;
  /** Mesh-wide counters hash (acked, cleanup_runs): the same figures on every replica. */
  readonly counters: string;
  /** Counter written by every replica-sync barrier (REDIS_SYNC_REPLICAS; see sync-mark.lua). */
  readonly syncMark: string;
  /** Redis TIME (ms) of the namespace's first registration: changes only when Redis lost its data. */
  readonly epoch: string;
  /** Pub/sub channel that wakes long-polls, SSE streams and request/response waiters. */
  readonly wakeChannel: string;
  /** BullMQ prefix: the same hash tag, so maintenance jobs live on the namespace's shard. */
  readonly bullPrefix: string;
  inst(id: string): string;
  cap(name: string): string;
  inbox(id: string): string;
  inboxIndex(id: string): string;
  /** Hash message_id -> body JSON of the member's targeted messages. */
  inboxBodies(id: string): string;
  /** Zset of the broadcasts (bseq) the member took and has not acked. */
  broadcastPending(id: string): string;
  /** String: the member's A2A Agent Card JSON, as registered (src/registry/agent-cards.ts). */
  agentCard(id: string): string;
  /** Zset id -> join seq of members whose card has a skill with this id or tag. */
  skill(value: string): string;
  /** A send's Idempotency-Key record (send.lua; src/registry/idempotency.ts). */
  idempotency(source: string, key: string): string;
  /** A server-side request's remembered answer for its Idempotency-Key. */
  idempotencyAnswer(source: string, key: string): string;
  /** A sender's token bucket (rate-limit.lua). Ids are validated, so no hash-tag tricks. */
  rateLimit(id: string): string;
  /**
   * String a registration's card is written to (plain SET, in the same MULTI) just before the
   * register script moves it to `agentCard(id)` with RENAME: the body never passes through Lua.
   */
  readonly agentCardIncoming: string;
}

export function meshKeys(namespace: string): MeshKeys {
  const prefix = `mesh:{${namespace}}:`;
  return {
    prefix,
    deadlines: `${prefix}deadlines`,
    joined: `${prefix}joined`,
    seq: `${prefix}seq`,
    leader: `${prefix}leader`,
    term: `${prefix}term`,
    events: `${prefix}events`,
    broadcast: `${prefix}bcast`,
    broadcastIndex: `${prefix}bcidx`,
    broadcastBodies: `${prefix}bbody`,
    broadcastSeq: `${prefix}bseq`,
    broadcastLoad: `${prefix}bload`,
    broadcastFloor: `${prefix}bfloor`,
    inboxOldest: `${prefix}inbox_oldest`,
    roundRobin: `${prefix}rr`,
    tokens: `${prefix}tokens`,
    msgseq: `${prefix}msgseq`,
    counters: `${prefix}counters`,
    syncMark: `${prefix}sync`,
    epoch: `${prefix}epoch`,
    wakeChannel: `${prefix}wake`,
    bullPrefix: `mesh:{${namespace}}:bull`,
    inst: (id) => `${prefix}inst:${id}`,
    cap: (name) => `${prefix}capz:${name}`,
    inbox: (id) => `${prefix}inbox:${id}`,
    inboxIndex: (id) => `${prefix}inboxidx:${id}`,
    inboxBodies: (id) => `${prefix}inboxb:${id}`,
    broadcastPending: (id) => `${prefix}bpend:${id}`,
    agentCard: (id) => `${prefix}card:${id}`,
    skill: (value) => `${prefix}skillz:${value}`,
    // `/` separates the parts: instance ids cannot contain it.
    idempotency: (source, key) => `${prefix}idem:${source}/${key}`,
    idempotencyAnswer: (source, key) => `${prefix}idemr:${source}/${key}`,
    rateLimit: (id) => `${prefix}rl:${id}`,
    agentCardIncoming: `${prefix}cardin`,
  };
}
