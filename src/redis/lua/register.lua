--[[
  Registers an instance, or refreshes the record of a live one (same id re-registering keeps its
  join order, created_at and leadership). A lapsed record under the same id is purged first, so
  the newcomer starts with empty queues and joins at the back of the leadership line.
  Bounded: the work is the member's own record and indexes (at most 64 capabilities, at most 128
  skill ids and tags); the peers of the answer are read by a separate, paged listing.
  A2A Agent Card: its JSON never passes through this script. The caller SETs it to `cardin` in
  the same MULTI, just before; this script RENAMEs it to `card:<id>` when the registration is
  accepted and deletes it when refused, and indexes the card's skill ids and tags (ARGV[13]) in
  `skillz:<value>` zsets scored by join sequence, like capabilities. The record remembers them
  (`skills`) and the card's digest (`cardh`), so a refresh or a purge removes exactly those.

  KEYS[1] inst:<id>   KEYS[2] deadlines   KEYS[3] joined   KEYS[4] leader   KEYS[5] term
  KEYS[6] seq         KEYS[7] events      KEYS[8] tokens   KEYS[9] card:<id>   KEYS[10] cardin
  KEYS[11] epoch
  (derived from ARGV[1]: capz:<name> and skillz:<value> of the old and new registration; through
   the includes: electfloor, bseq, bload, bfloor, inbox_oldest and a lapsed record's queues)

  ARGV[1] prefix  ARGV[2] id  ARGV[3] hostname  ARGV[4] port  ARGV[5] capabilities (JSON array)
  ARGV[6] agent_profiles (JSON array)  ARGV[7] stale timeout ms  ARGV[8] events maxlen
  ARGV[9] token hash to store for a new registration ('' = none)
  ARGV[10] token hash presented by the caller ('' = none)
  ARGV[11] '1' when a live id may only be re-registered by its token holder (a live record without
           a token - registered with AUTH_MODE none/token - then cannot be taken over at all)
  ARGV[12] record grace ms: the record key expires this long after the deadline (backstop, see
           heartbeat.lua)
  ARGV[13] skill ids and tags of the card to index (JSON array, distinct; '[]' without a card)
  ARGV[14] digest of the card's JSON, '' = the registration has no card (then `cardin` is not
           involved, and a card of an earlier registration of this id is removed)

  Returns { code, leader|false, term, created(0/1), join_seq, leader_changed(0/1), row, epoch }
    code OK, or ID_IN_USE (live, token missing or wrong; includes/codes.lua)
    row = the caller's own instance row (see instanceRow), for read-your-writes in the answer
    epoch = the namespace's epoch (see below)

  The namespace's epoch (`epoch`: Redis time in ms when its first member registered) is created
  here when absent. It changes only when Redis lost the namespace's data: replicas compare it to
  detect that (src/registry/data-loss.ts), and the events feed to tell a watcher that its cursor
  belongs to a previous lifetime.
]]
-- @include "base"

local P, id = ARGV[1], ARGV[2]
local maxlen = tonumber(ARGV[8])
local now = nowMs()
local inst = KEYS[1]

local skills, cardh = ARGV[13], ARGV[14]
local live = isLive(P, id, now)
if live and ARGV[11] == '1' then
  local tok = redis.call('HGET', inst, 'tok')
  if not tok or tok ~= ARGV[10] then
    if cardh ~= '' then redis.call('DEL', KEYS[10]) end
    return { ID_IN_USE, false, 0, 0, 0, 0, false, false }
  end
end

local created = 0
local seq
if live then
  local old = redis.call('HMGET', inst, 'caps', 'host', 'port', 'profiles', 'seq', 'skills', 'cardh')
  seq = old[5]
  for _, c in ipairs(cjson.decode(old[1] or '[]')) do
    redis.call('ZREM', P .. 'capz:' .. c, id)
  end
  for _, v in ipairs(cjson.decode(old[6] or '[]')) do
    redis.call('ZREM', P .. 'skillz:' .. v, id)
  end
  if old[1] ~= ARGV[5] or old[2] ~= ARGV[3] or old[3] ~= ARGV[4] or old[4] ~= ARGV[6] or (old[7] or '') ~= cardh then
    addEvent(P, maxlen, 'type', 'updated', 'instance_id', id, 'what', 'registration', 'card', cardh ~= '' and '1' or '0')
  end
else
  if redis.call('EXISTS', inst) == 1 or redis.call('ZSCORE', KEYS[2], id) then
    purgeMember(P, id, 'expired', maxlen)
  end
  created = 1
  seq = redis.call('INCR', KEYS[6])
  redis.call('ZADD', KEYS[3], seq, id)
  redis.call('HSET', inst, 'created', now, 'seq', seq)
  if ARGV[9] ~= '' then
    redis.call('HSET', inst, 'tok', ARGV[9])
    redis.call('HSET', KEYS[8], ARGV[9], id)
  end
  joinBroadcasts(P, id)
  addEvent(P, maxlen, 'type', 'joined', 'instance_id', id, 'seq', seq, 'card', cardh ~= '' and '1' or '0')
end

redis.call('HSET', inst, 'host', ARGV[3], 'port', ARGV[4], 'caps', ARGV[5], 'profiles', ARGV[6], 'hb', now)
for _, c in ipairs(cjson.decode(ARGV[5])) do
  redis.call('ZADD', P .. 'capz:' .. c, seq, id)
end
redis.call('HSET', inst, 'skills', skills, 'cardh', cardh)
for _, v in ipairs(cjson.decode(skills)) do
  redis.call('ZADD', P .. 'skillz:' .. v, seq, id)
end
if cardh ~= '' then
  -- The staged copy carries a short TTL (a MULTI whose script never ran must not leave it behind
  -- for long); the card lives as long as the member and goes with it (purgeMember).
  redis.call('RENAME', KEYS[10], KEYS[9])
  redis.call('PERSIST', KEYS[9])
else
  redis.call('DEL', KEYS[9])
end
local deadline = now + tonumber(ARGV[7])
redis.call('ZADD', KEYS[2], deadline, id)
redis.call('PEXPIREAT', inst, deadline + tonumber(ARGV[12]))

redis.call('SET', KEYS[11], now, 'NX')
local leader, term, changed = ensureLeader(P, now, maxlen)
return { OK, leader, term, created, tonumber(seq), changed and 1 or 0, instanceRow(P, id), redis.call('GET', KEYS[11]) }
