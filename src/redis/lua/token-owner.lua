--[[
  Which instance an instance token belongs to, and whether that instance is live now (Redis time).
  Liveness decides, not cleanup: a lapsed member's token must stop authorizing reads at the moment
  its deadline passes, although its record and token hash stay until maintenance purges them.

  KEYS[1] tokens   KEYS[2] deadlines
  ARGV[1] sha256 of the presented token

  Returns { owner|false, live(0/1) }
]]
-- @include "base"

local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner then return { false, 0 } end
local d = redis.call('ZSCORE', KEYS[2], owner)
return { owner, (d and tonumber(d) > nowMs()) and 1 or 0 }
