--[[
  Reads one inbox message by message id without removing it (request/response waiters use it).
  KEYS[1] inbox:<id>   KEYS[2] inboxidx:<id>
  ARGV[1] message id
  Returns { stream id, body } or false.
]]
local sid = redis.call('HGET', KEYS[2], ARGV[1])
if not sid then return false end
local e = redis.call('XRANGE', KEYS[1], sid, sid)
if not e[1] then return false end
for i = 1, #e[1][2], 2 do
  if e[1][2][i] == 'b' then return { sid, e[1][2][i + 1] } end
end
return false
