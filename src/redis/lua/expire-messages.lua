--[[
  One bounded batch of message maintenance:
    1. inboxes whose oldest entry is past the TTL (found through the inbox_oldest zset, so the cost
       follows the number of expiring inboxes, not the number of members) lose their expired head;
    2. the broadcast stream loses entries past the TTL and entries every member has acknowledged
       (so broadcasts do not pile up when MESSAGE_TTL_MS is 0). This part reads every member's
       consumer group, O(members), so it is skipped while the stream holds no entry.

  KEYS[1] inbox_oldest   KEYS[2] broadcast   KEYS[3] bidx
  (derived: inbox:<id>, inboxidx:<id>)
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
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl, 'LIMIT', 0, batch)
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

-- The broadcast stream exists from the first registration on (its consumer groups live on it), but
-- it is usually empty. Reading every member's group (XINFO GROUPS) costs O(members): with 100k
-- members that was ~120 ms of Redis per tick, paid even with nothing to trim. Look at the head
-- first (O(1)); the group scan only runs while broadcasts are actually stored.
if redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1] then
  -- An entry is consumed by everybody when it is at or below every group's last-delivered id and
  -- below every group's first pending id.
  local safe = nil -- exclusive upper bound as { id, inclusive }
  local function lower(candidate, inclusive)
    if safe == nil then safe = { candidate, inclusive }; return end
    local c = cmpId(candidate, safe[1])
    if c < 0 or (c == 0 and not inclusive) then safe = { candidate, inclusive } end
  end
  local groups = redis.call('XINFO', 'GROUPS', KEYS[2])
  for _, g in ipairs(groups) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if tonumber(info['pending']) > 0 then
      local first = redis.call('XPENDING', KEYS[2], info['name'], '-', '+', 1)
      lower(first[1][1], false)
    else
      lower(info['last-delivered-id'], true)
    end
  end
  local cutoff = ttl > 0 and (now - ttl) or -1
  local entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', batch)
  for _, e in ipairs(entries) do
    local consumed = (#groups == 0)
    if safe ~= nil then
      local c = cmpId(e[1], safe[1])
      consumed = c < 0 or (c == 0 and safe[2])
    end
    local old = idMs(e[1]) <= cutoff
    if not (consumed or old) then break end
    local mid = fieldOf(e[2], 'm')
    if mid then redis.call('HDEL', KEYS[3], mid) end
    redis.call('XDEL', KEYS[2], e[1])
    if old then expiredBroadcast = expiredBroadcast + 1 else trimmed = trimmed + 1 end
  end
  if #entries == batch and (expiredBroadcast + trimmed) == batch then more = 1 end
end

return { expiredInbox, expiredBroadcast, trimmed, more }
