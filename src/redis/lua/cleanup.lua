--[[
  One bounded batch of the maintenance sweep: removes members whose deadline has passed. Cost is
  proportional to the batch (a range query on the deadlines zset and one purge per member), never
  to the number of members. Re-elects if the leader was among them.

  KEYS[1] deadlines   KEYS[2] leader   KEYS[3] term   KEYS[4] events
  ARGV[1] prefix  ARGV[2] batch size  ARGV[3] events maxlen

  Returns { removed_count, more(0/1), leader|false, term, leader_changed, id... }
]]
-- @include "base"

local P = ARGV[1]
local batch = tonumber(ARGV[2])
local maxlen = tonumber(ARGV[3])
local now = nowMs()
local expired = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
for _, id in ipairs(expired) do
  purgeMember(P, id, 'expired', maxlen)
end
local more = 0
if #expired == batch and #redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, 1) > 0 then
  more = 1
end
local leader, term, changed = ensureLeader(P, now, maxlen)
local out = { #expired, more, leader, term, changed and 1 or 0 }
for _, id in ipairs(expired) do out[#out + 1] = id end
return out
