--[[
  Acknowledges message ids for one member only: its own inbox entries are deleted, its own
  broadcast copies are acked in its own consumer group. Ids that are not the member's are ignored,
  so nobody can remove someone else's messages.

  KEYS[1] broadcast   KEYS[2] bidx
  (derived: inbox:<id>, inboxidx:<id>, counters)
  ARGV[1] prefix  ARGV[2] id  ARGV[3..] message ids

  Returns the number of copies acknowledged.
]]
local P, id = ARGV[1], ARGV[2]
local inbox, idx = P .. 'inbox:' .. id, P .. 'inboxidx:' .. id
local group = 'g:' .. id
local hasBroadcast = redis.call('EXISTS', KEYS[1]) == 1
local n = 0
for i = 3, #ARGV do
  local mid = ARGV[i]
  local sid = redis.call('HGET', idx, mid)
  if sid then
    n = n + redis.call('XDEL', inbox, sid)
    redis.call('HDEL', idx, mid)
  elseif hasBroadcast then
    sid = redis.call('HGET', KEYS[2], mid)
    if sid then
      local ok = redis.pcall('XACK', KEYS[1], group, sid)
      if type(ok) == 'number' then n = n + ok end
    end
  end
end
-- Mesh-wide acked count (the console's acked/s): one hash, the same on every replica.
if n > 0 then redis.call('HINCRBY', P .. 'counters', 'acked', n) end
return n
