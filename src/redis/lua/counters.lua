--[[
  Read-only: the mesh-wide counters at one moment of Redis time, so a reader that samples them
  twice gets exact rates (the console's sent/s and acked/s), whichever replica it asks.

  KEYS[1] msgseq (every queued message takes one number: the count of messages sent)
  KEYS[2] counters (hash: acked, cleanup_runs)

  Returns { now_ms, sent, acked, cleanup_runs }
]]
-- @include "time"

local now = nowMs()
local c = redis.call('HMGET', KEYS[2], 'acked', 'cleanup_runs')
return { now, tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(c[1] or '0'), tonumber(c[2] or '0') }
