--[[
  Renews live instances' deadlines and stores their reported status and metrics. One call renews a
  batch: a replica groups the heartbeats that reach it in one event-loop turn (InstanceService), so
  the fixed cost of a script call (EVALSHA dispatch, TIME, the leader check) is paid once per batch
  instead of once per heartbeat. Each heartbeat in the batch is treated exactly as if alone:
  a lapsed or unknown id is refused (the client re-registers) and nothing is written for it.
  When the leader is found vacant (lapsed), the oldest live member is elected here.

  Status events: a status different from the last one announced records an `updated` event
  (what=status), at most one per instance per status-event interval: an agent flipping its status
  many times a second would otherwise flood the capped feed and every watcher. A change inside the
  interval is announced by the first heartbeat after it (if the status still differs then); the
  current status is always in the record. Fields `sev` (status last announced) and `sevt` (when).

  The record's key expires (PEXPIREAT) a grace period after the member's deadline: a backstop so
  that no record outlives its deadline by more than that even if maintenance never runs.

  KEYS[1] deadlines   KEYS[2] leader   KEYS[3] term   KEYS[4] events   KEYS[5] epoch
  (derived from ARGV[1]: inst:<id> of each heartbeat; through the includes: joined, electfloor)

  ARGV[1] prefix  ARGV[2] stale timeout ms  ARGV[3] events maxlen  ARGV[4] status-event interval ms
  ARGV[5] record grace ms (the record key expires this long after the deadline)
  ARGV[6..] one triple per heartbeat: id, status, metrics JSON ('' = null)

  Returns { leader|false, term, leader_changed(0/1), epoch|false, then per heartbeat: code,
            status_announced(0/1) }   (epoch: see register.lua)
    code OK, or NOT_LIVE (unknown or lapsed; includes/codes.lua)
]]
-- @include "base"

local P = ARGV[1]
local deadlineOffset, maxlen = tonumber(ARGV[2]), tonumber(ARGV[3])
local eventInterval, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = nowMs()
local out = { false, 0, 0, redis.call('GET', KEYS[5]) }
local anyLive = false
for i = 6, #ARGV, 3 do
  local id, status = ARGV[i], ARGV[i + 1]
  if isLive(P, id, now) then
    anyLive = true
    local inst = P .. 'inst:' .. id
    local deadline = now + deadlineOffset
    local announced = redis.call('HMGET', inst, 'sev', 'sevt')
    redis.call('ZADD', KEYS[1], deadline, id)
    redis.call('HSET', inst, 'hb', now, 'status', status, 'metrics', ARGV[i + 2])
    redis.call('PEXPIREAT', inst, deadline + grace)
    local statusChanged = 0
    if announced[1] ~= status and now - tonumber(announced[2] or '0') >= eventInterval then
      statusChanged = 1
      redis.call('HSET', inst, 'sev', status, 'sevt', now)
      addEvent(P, maxlen, 'type', 'updated', 'instance_id', id, 'what', 'status', 'status', status)
    end
    out[#out + 1] = OK
    out[#out + 1] = statusChanged
  else
    out[#out + 1] = NOT_LIVE
    out[#out + 1] = 0
  end
end

if anyLive then
  local leader, term, changed = ensureLeader(P, now, maxlen)
  out[1], out[2], out[3] = leader, term, changed and 1 or 0
else
  -- Only refused heartbeats: write nothing at all, not even an election.
  local leader = redis.call('GET', KEYS[2])
  if leader and not isLive(P, leader, now) then leader = false end
  out[1], out[2] = leader, currentTerm(P)
end
return out
