--[[
  Token bucket for one instance's sends (SEND_RATE_PER_SEC / SEND_BURST). The bucket lives in
  Redis so every replica draws from the same one; time is Redis TIME, never a replica clock.
  A full bucket is the same as no key: the key expires (PX) once it would have refilled, so idle
  senders cost no memory.

  KEYS[1] rl:<id>   hash { tokens = fractional tokens left, ts = ms of the last refill }
  ARGV[1] rate: tokens added per second (> 0)
  ARGV[2] burst: bucket size (>= 1)
  ARGV[3] cost: tokens this call takes (>= 1)

  Returns { allowed (1/0), retry_after_ms (0 when allowed) }
]]
-- @include "base"

local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = nowMs()
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil or ts == nil then
  tokens, ts = burst, now
elseif now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
-- (now < ts only after a failover to a replica whose clock is behind: no refill until it catches up)

if tokens < cost then
  -- Denied: nothing to store (the refill is recomputed from the stored ts next time).
  return { 0, math.ceil((cost - tokens) * 1000 / rate) }
end

tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return { 1, 0 }
