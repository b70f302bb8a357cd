--[[
  Removes an instance and everything it owns (record, indexes, queues, broadcast bookkeeping). If
  it led, the oldest live member takes over in the same step, so there is never a leaderless gap.
  A lapsed record is purged too but reported as unknown, like heartbeat does.

  KEYS[1] inst:<id>   KEYS[2] deadlines   KEYS[3] leader   KEYS[4] term   KEYS[5] events
  (through the includes: the member's queues, indexes and broadcast bookkeeping, joined, electfloor)
  ARGV[1] prefix  ARGV[2] id  ARGV[3] events maxlen
  ARGV[4] token hash presented ('' = none)  ARGV[5] '1' to require the instance's token
          ARGV[6] '1' when the caller is an admin (token check skipped)

  Returns { code, leader|false, term, leader_changed(0/1) }
    code OK removed, NOT_LIVE unknown or lapsed (a lapsed record is purged all the same),
    NOT_OWNER the presented token is not the instance's (includes/codes.lua)
]]
-- @include "base"

local P, id = ARGV[1], ARGV[2]
local maxlen = tonumber(ARGV[3])
local now = nowMs()
if redis.call('EXISTS', KEYS[1]) == 0 and not redis.call('ZSCORE', KEYS[2], id) then
  return { NOT_LIVE, false, currentTerm(P), 0 }
end
local live = isLive(P, id, now)
if live and ARGV[5] == '1' and ARGV[6] ~= '1' then
  local tok = redis.call('HGET', KEYS[1], 'tok')
  if tok and tok ~= ARGV[4] then return { NOT_OWNER, false, currentTerm(P), 0 } end
end
purgeMember(P, id, live and 'deregistered' or 'expired', maxlen)
local leader, term, changed = ensureLeader(P, now, maxlen)
return { live and OK or NOT_LIVE, leader, term, changed and 1 or 0 }
