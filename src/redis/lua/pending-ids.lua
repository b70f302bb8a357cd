--[[
  Read-only: one page of a live member's targeted inbox, as message ids only (the bodies, up to
  MAX_PAYLOAD_BYTES each, never leave Redis), plus the inbox length. Bounded by the page size.

  KEYS[1] deadlines   KEYS[2] inbox:<id>
  ARGV[1] id   ARGV[2] exclusive start stream id ('' = from the oldest)   ARGV[3] page size

  Returns { live(0/1), pending, stream_id_1, message_id_1, stream_id_2, message_id_2, ... }
    live 0: the member is unknown or its heartbeat lapsed (nothing else follows).
]]
-- @include "time"

local now = nowMs()
local d = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not d or tonumber(d) <= now then return { 0, 0 } end

local start = ARGV[2] == '' and '-' or ('(' .. ARGV[2])
local out = { 1, redis.call('XLEN', KEYS[2]) }
for _, e in ipairs(redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', tonumber(ARGV[3]))) do
  local mid = ''
  for i = 1, #e[2], 2 do
    if e[2][i] == 'm' then mid = e[2][i + 1] end
  end
  out[#out + 1] = e[1]
  out[#out + 1] = mid
end
return out
