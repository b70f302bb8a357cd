--[[
  Message helpers, inlined by `-- @include "messages"` (after "base").
  An inbox entry is { m = message_id, b = message JSON without created_at, q = send sequence }; a
  broadcast entry adds s = source id. created_at is the entry id's millisecond part: Redis time,
  never a replica clock. q comes from one counter per namespace (P .. 'msgseq'): a member reads two
  streams (its inbox and the broadcast stream) whose ids are only comparable to the millisecond, so
  q is what orders them against each other.
]]
local function fieldOf(fields, name)
  if not fields then return nil end
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function idMs(streamId)
  return tonumber(string.match(streamId, '^(%d+)'))
end

-- Stream ids compare as (ms, seq) pairs; -1 / 0 / 1.
local function cmpId(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then return am < bm and -1 or 1 end
  if as ~= bs then return as < bs and -1 or 1 end
  return 0
end

-- Drops up to `max` inbox entries older than the TTL from the head of a member's inbox.
local function expireInbox(P, id, now, ttl, max)
  if ttl <= 0 then return 0 end
  local inbox = P .. 'inbox:' .. id
  local old = redis.call('XRANGE', inbox, '-', tostring(now - ttl), 'COUNT', max)
  for _, e in ipairs(old) do
    local mid = fieldOf(e[2], 'm')
    if mid then redis.call('HDEL', P .. 'inboxidx:' .. id, mid) end
    redis.call('XDEL', inbox, e[1])
  end
  return #old
end

-- Global send order across a member's inbox and the broadcast stream (see the header).
local function nextSeq(P)
  return redis.call('INCR', P .. 'msgseq')
end

local function enqueue(P, target, mid, body, now)
  local sid = redis.call('XADD', P .. 'inbox:' .. target, '*', 'm', mid, 'b', body, 'q', nextSeq(P))
  redis.call('HSET', P .. 'inboxidx:' .. target, mid, sid)
  redis.call('ZADD', P .. 'inbox_oldest', 'NX', now, target)
  return sid
end
