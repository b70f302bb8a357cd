--[[
  Renews a live instance's deadline and stores its reported status and metrics. A lapsed or
  unknown id is refused (the client re-registers); nothing is written for it. When the leader is
  found vacant (lapsed), the oldest live member is elected here. A status different from the
  stored one (the first heartbeat after joining included) records an `updated` event
  (what=status): one HGET more per heartbeat, an XADD only on change.

  KEYS[1] inst:<id>   KEYS[2] deadlines   KEYS[3] leader   KEYS[4] term   KEYS[5] events
  (derived: joined, via ensureLeader)

  ARGV[1] prefix  ARGV[2] id  ARGV[3] stale timeout ms  ARGV[4] status  ARGV[5] metrics JSON ('' = null)
  ARGV[6] events maxlen

  Returns { code, leader|false, term, leader_changed(0/1), status_changed(0/1) };
    code 1 ok, 0 unknown or lapsed
]]
-- @include "base"

local P, id = ARGV[1], ARGV[2]
local now = nowMs()
if not isLive(P, id, now) then
  local leader = redis.call('GET', KEYS[3])
  if leader and not isLive(P, leader, now) then leader = false end
  return { 0, leader, currentTerm(P), 0, 0 }
end
local maxlen = tonumber(ARGV[6])
local oldStatus = redis.call('HGET', KEYS[1], 'status')
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
redis.call('HSET', KEYS[1], 'hb', now, 'status', ARGV[4], 'metrics', ARGV[5])
local statusChanged = 0
if oldStatus ~= ARGV[4] then
  statusChanged = 1
  addEvent(P, maxlen, 'type', 'updated', 'instance_id', id, 'what', 'status', 'status', ARGV[4])
end
local leader, term, changed = ensureLeader(P, now, maxlen)
return { 1, leader, term, changed and 1 or 0, statusChanged }
