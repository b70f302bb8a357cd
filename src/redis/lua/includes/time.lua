--[[
  Redis' clock, inlined by `-- @include "time"`. Every script reads time here and never from a
  replica: replicas' clocks may disagree, Redis' TIME is one clock for the whole namespace.
]]
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
