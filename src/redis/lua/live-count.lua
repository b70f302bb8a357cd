--[[
  Number of live members: deadlines strictly after now (Redis time).
  KEYS[1] deadlines
  Returns an integer.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
