--[[
  Everything not yet acknowledged by the member, oldest first per source stream: its inbox head plus
  its broadcast consumer group's pending entries, then new broadcasts (which become pending). Nothing
  is removed here: entries stay until acked, so a crash between fetch and ack re-delivers them.
  The member's own broadcasts and entries already expired or trimmed are acked on the way.

  KEYS[1] deadlines   KEYS[2] broadcast
  (derived: inbox:<id>, inboxidx:<id>)
  ARGV[1] prefix  ARGV[2] id  ARGV[3] limit  ARGV[4] message TTL ms (0 = keep)

  Returns { code, expired_count, { sid, body, seq, ... } (inbox), { sid, body, seq, ... } (broadcast) }
    seq is the entry's send sequence (field q), the order across both lists; '' when absent
    code 1 ok, -1 id not live
]]
-- @include "base"
-- @include "messages"

local P, id = ARGV[1], ARGV[2]
local limit, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = nowMs()
if not isLive(P, id, now) then return { -1, 0, {}, {} } end

local expired = expireInbox(P, id, now, ttl, 1000)
local inbox = {}
for _, e in ipairs(redis.call('XRANGE', P .. 'inbox:' .. id, '-', '+', 'COUNT', limit)) do
  inbox[#inbox + 1] = e[1]
  inbox[#inbox + 1] = fieldOf(e[2], 'b')
  inbox[#inbox + 1] = fieldOf(e[2], 'q') or ''
end

local group = 'g:' .. id
local cutoff = ttl > 0 and (now - ttl) or -1
local bcast = {}
local taken = 0
local function collect(reply)
  if not reply or not reply[1] then return 0 end
  local entries = reply[1][2]
  for _, e in ipairs(entries) do
    local src = fieldOf(e[2], 's')
    if src == nil or src == id or idMs(e[1]) <= cutoff then
      redis.call('XACK', KEYS[2], group, e[1])
    else
      bcast[#bcast + 1] = e[1]
      bcast[#bcast + 1] = fieldOf(e[2], 'b')
      bcast[#bcast + 1] = fieldOf(e[2], 'q') or ''
      taken = taken + 1
    end
  end
  return #entries
end

local pending = redis.pcall('XREADGROUP', 'GROUP', group, 'c', 'COUNT', limit, 'STREAMS', KEYS[2], '0')
if type(pending) == 'table' and pending.err then
  -- The group vanished (e.g. Redis lost data): start the cursor afresh rather than fail the fetch.
  redis.call('XGROUP', 'CREATE', KEYS[2], group, '$', 'MKSTREAM')
else
  collect(pending)
  if taken < limit then
    collect(redis.call('XREADGROUP', 'GROUP', group, 'c', 'COUNT', limit - taken, 'STREAMS', KEYS[2], '>'))
  end
end
return { 1, expired, inbox, bcast }
