--[[
  Message helpers, inlined by `-- @include "messages"` (after "base").

  Scripts never read or write message bodies: Lua copies every byte it touches (figures in
  docs/performance.md), so a body would make a script's cost grow with payload sizes. Bodies live in plain hashes written and read by plain commands (HSET in the same
  MULTI as the send script, HMGET by the fetching replica); scripts handle metadata only:
    inbox:<id>    stream, entry { m = message_id, q = send sequence, n = body bytes }
    inboxidx:<id> hash message_id -> stream id (ack finds the entry)
    inboxb:<id>   hash message_id -> body JSON
    bcast         stream of broadcasts, entry id `<bseq>-0`, { m, s = source, q, n, t = ms }
    bcidx         hash message_id -> bseq;  bbody  hash message_id -> body JSON
  q comes from one counter per namespace (P .. 'msgseq'): a member reads its inbox and the
  broadcast stream, and q orders them against each other.
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

-- Drops up to `max` inbox entries older than the TTL from the head of a member's inbox.
local function expireInbox(P, id, now, ttl, max)
  if ttl <= 0 then return 0 end
  local inbox = P .. 'inbox:' .. id
  local old = redis.call('XRANGE', inbox, '-', tostring(now - ttl), 'COUNT', max)
  for _, e in ipairs(old) do
    local mid = fieldOf(e[2], 'm')
    if mid then
      redis.call('HDEL', P .. 'inboxidx:' .. id, mid)
      redis.call('HDEL', P .. 'inboxb:' .. id, mid)
    end
    redis.call('XDEL', inbox, e[1])
  end
  return #old
end

-- Global send order across a member's inbox and the broadcast stream (see the header).
local function nextSeq(P)
  return redis.call('INCR', P .. 'msgseq')
end

-- Queues the metadata of a message whose body is already in inboxb:<target>.
local function enqueue(P, target, mid, size, now)
  local sid = redis.call('XADD', P .. 'inbox:' .. target, '*', 'm', mid, 'q', nextSeq(P), 'n', size)
  redis.call('HSET', P .. 'inboxidx:' .. target, mid, sid)
  redis.call('ZADD', P .. 'inbox_oldest', 'NX', now, target)
  return sid
end
