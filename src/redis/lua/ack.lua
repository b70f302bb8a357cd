--[[
  Acknowledges message ids for one member only: its own inbox entries are deleted (metadata and
  body), its own pending broadcast copies leave its pending set. Ids that are not the member's are
  ignored, so nobody can remove someone else's messages. Bounded by the number of ids (the service
  sends at most a page per call).

  KEYS[1] bcidx   KEYS[2] inbox:<id>   KEYS[3] inboxidx:<id>   KEYS[4] inboxb:<id>   KEYS[5] bpend:<id>
  KEYS[6] inst:<id>   KEYS[7] counters
  (through the includes: bload, bfloor)
  ARGV[1] prefix  ARGV[2] id  ARGV[3..] message ids

  Returns the number of copies acknowledged.
]]
-- @include "base"

local P, id = ARGV[1], ARGV[2]
local inbox, idx, bodies, pendKey = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local n, acked = 0, 0
for i = 3, #ARGV do
  local mid = ARGV[i]
  local sid = redis.call('HGET', idx, mid)
  if sid then
    n = n + redis.call('XDEL', inbox, sid)
    redis.call('HDEL', idx, mid)
    redis.call('HDEL', bodies, mid)
  else
    local b = redis.call('HGET', KEYS[1], mid)
    if b then
      local removed = redis.call('ZREM', pendKey, b)
      n = n + removed
      acked = acked + removed
    end
  end
end
if acked > 0 and redis.call('EXISTS', KEYS[6]) == 1 then syncBroadcastState(P, id) end
-- Mesh-wide acked count (the console's acked/s): one hash, the same on every replica.
if n > 0 then redis.call('HINCRBY', KEYS[7], 'acked', n) end
return n
