--[[
  Number of live members: deadlines strictly after now (Redis time).
  KEYS[1] deadlines
  Returns an integer.
]]
-- @include "time"

local now = nowMs()
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
