--[[
  One bounded batch of message maintenance:
    1. inboxes whose oldest entry is past the TTL (found through the inbox_oldest zset, so the cost
       follows the number of expiring inboxes, not the number of members) lose their expired head;
    2. the broadcast stream loses, from its head, entries past the TTL and entries every member is
       done with: below the lowest `bfloor` (each member's oldest pending broadcast, or the one
       after its cursor), one range query instead of a look at every member.
  Metadata only; bodies are deleted by field (HDEL), never read.

  KEYS[1] inbox_oldest   KEYS[2] bcast   KEYS[3] bcidx   KEYS[4] bbody   KEYS[5] bfloor
  (derived: inbox:<id>, inboxidx:<id>, inboxb:<id>)
  ARGV[1] prefix  ARGV[2] message TTL ms (0 = keep)  ARGV[3] batch size

  Returns { expired_inbox, expired_broadcast, trimmed_consumed, more(0/1) }
]]
-- @include "base"
-- @include "messages"

local P = ARGV[1]
local ttl, batch = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = nowMs()
local expiredInbox, expiredBroadcast, trimmed, more = 0, 0, 0, 0

if ttl > 0 then
  local due = redis.call('ZRANGE', KEYS[1], '-inf', now - ttl, 'BYSCORE', 'LIMIT', 0, batch)
  if #due == batch then more = 1 end
  for _, id in ipairs(due) do
    expiredInbox = expiredInbox + expireInbox(P, id, now, ttl, batch)
    local first = redis.call('XRANGE', P .. 'inbox:' .. id, '-', '+', 'COUNT', 1)
    if first[1] then
      redis.call('ZADD', KEYS[1], idMs(first[1][1]), id)
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end

local cutoff = ttl > 0 and (now - ttl) or -1
local lowest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
-- No member at all: nobody will ever read what is stored.
local floor = lowest[2] and tonumber(lowest[2]) or math.huge
local entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', batch)
local removed = 0
for _, e in ipairs(entries) do
  local b = idMs(e[1])
  local old = tonumber(fieldOf(e[2], 't') or '0') <= cutoff
  if not (old or b < floor) then break end
  local mid = fieldOf(e[2], 'm')
  if mid then
    redis.call('HDEL', KEYS[3], mid)
    redis.call('HDEL', KEYS[4], mid)
  end
  redis.call('XDEL', KEYS[2], e[1])
  removed = removed + 1
  if old then expiredBroadcast = expiredBroadcast + 1 else trimmed = trimmed + 1 end
end
if #entries == batch and removed == batch then more = 1 end

return { expiredInbox, expiredBroadcast, trimmed, more }
