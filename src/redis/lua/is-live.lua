--[[
  Whether a member is live now: its deadline is after Redis TIME. Read-only; used next to plain
  reads of the member's data (the A2A card: GET card:<id>) that must not go through Lua, and
  which a MULTI cannot do when Redis is full (every command queued in a MULTI is refused then).

  KEYS[1] deadlines
  ARGV[1] instance id

  Returns 1 live, 0 not (unknown, deregistered or lapsed)
]]
-- @include "time"

local d = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not d then return 0 end
return tonumber(d) > nowMs() and 1 or 0
