--[[
  Registers an instance, or refreshes the record of a live one (same id re-registering keeps its
  join order, created_at and leadership). A lapsed record under the same id is purged first, so
  the newcomer starts with empty queues and joins at the back of the leadership line.
  Bounded: the work is the member's own record and indexes (at most 64 capabilities); the peers
  of the answer are read by a separate, paged listing.

  KEYS[1] inst:<id>   KEYS[2] deadlines   KEYS[3] joined   KEYS[4] leader   KEYS[5] term
  KEYS[6] seq         KEYS[7] events
  (derived from ARGV[1]: capz:<name>, tokens, electfloor, bseq, bload, bfloor, and a lapsed
   record's queues)

  ARGV[1] prefix  ARGV[2] id  ARGV[3] hostname  ARGV[4] port  ARGV[5] capabilities (JSON array)
  ARGV[6] agent_profiles (JSON array)  ARGV[7] stale timeout ms  ARGV[8] events maxlen
  ARGV[9] token hash to store for a new registration ('' = none)
  ARGV[10] token hash presented by the caller ('' = none)
  ARGV[11] '1' when a live id may only be re-registered by its token holder (a live record without
           a token - registered with AUTH_MODE none/token - then cannot be taken over at all)
  ARGV[12] record grace ms: the record key expires this long after the deadline (backstop, see
           heartbeat.lua)

  Returns { code, leader|false, term, created(0/1), join_seq, leader_changed(0/1), row, epoch }
    code 1 ok, -1 id in use (live, token missing or wrong)
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

local live = isLive(P, id, now)
if live and ARGV[11] == '1' then
  local tok = redis.call('HGET', inst, 'tok')
  if not tok or tok ~= ARGV[10] then
    return { -1, false, 0, 0, 0, 0, false, false }
  end
end

local created = 0
local seq
if live then
  local old = redis.call('HMGET', inst, 'caps', 'host', 'port', 'profiles', 'seq')
  seq = old[5]
  for _, c in ipairs(cjson.decode(old[1] or '[]')) do
    redis.call('ZREM', P .. 'capz:' .. c, id)
  end
  if old[1] ~= ARGV[5] or old[2] ~= ARGV[3] or old[3] ~= ARGV[4] or old[4] ~= ARGV[6] then
    addEvent(P, maxlen, 'type', 'updated', 'instance_id', id, 'what', 'registration')
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
    redis.call('HSET', P .. 'tokens', ARGV[9], id)
  end
  joinBroadcasts(P, id)
  addEvent(P, maxlen, 'type', 'joined', 'instance_id', id, 'seq', seq)
end

redis.call('HSET', inst, 'host', ARGV[3], 'port', ARGV[4], 'caps', ARGV[5], 'profiles', ARGV[6], 'hb', now)
for _, c in ipairs(cjson.decode(ARGV[5])) do
  redis.call('ZADD', P .. 'capz:' .. c, seq, id)
end
local deadline = now + tonumber(ARGV[7])
redis.call('ZADD', KEYS[2], deadline, id)
redis.call('PEXPIREAT', inst, deadline + tonumber(ARGV[12]))

redis.call('SET', P .. 'epoch', now, 'NX')
local leader, term, changed = ensureLeader(P, now, maxlen)
return { 1, leader, term, created, tonumber(seq), changed and 1 or 0, instanceRow(P, id), redis.call('GET', P .. 'epoch') }
