--[[
  Shared helpers, inlined into every script by scripts.ts at the line `-- @include "base"`.
  P is the namespace prefix `mesh:{<ns>}:`; every key built here carries its hash tag, so a
  script only ever touches one cluster slot.
]]
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Liveness is the member's deadline in the `deadlines` zset: live iff deadline > now (Redis time).
local function isLive(P, id, now)
  local d = redis.call('ZSCORE', P .. 'deadlines', id)
  return d ~= false and tonumber(d) > now
end

local function addEvent(P, maxlen, ...)
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', maxlen, '*', ...)
end

local function currentTerm(P)
  return tonumber(redis.call('GET', P .. 'term') or '0')
end

-- The oldest live member by join sequence, or false. Lapsed members not yet cleaned up are skipped;
-- there are at most one cleanup interval's worth of them.
local function oldestLive(P, now)
  local start = 0
  while true do
    local ids = redis.call('ZRANGE', P .. 'joined', start, start + 99)
    if #ids == 0 then return false end
    for _, id in ipairs(ids) do
      if isLive(P, id, now) then return id end
    end
    start = start + 100
  end
end

-- Keeps a live leader (sticky); otherwise elects the oldest live member and bumps the term.
-- Returns leader id (or false), term, and whether leadership changed in this call.
local function ensureLeader(P, now, maxlen)
  local cur = redis.call('GET', P .. 'leader')
  if cur and isLive(P, cur, now) then
    return cur, currentTerm(P), false
  end
  local nxt = oldestLive(P, now)
  if not nxt then
    if cur then redis.call('DEL', P .. 'leader') end
    return false, currentTerm(P), cur ~= false
  end
  local term = redis.call('INCR', P .. 'term')
  redis.call('SET', P .. 'leader', nxt)
  addEvent(P, maxlen, 'type', 'leader', 'instance_id', nxt, 'term', term)
  return nxt, term, true
end

-- Removes every trace of a member: record, indexes, inbox, broadcast consumer group.
local function purgeMember(P, id, reason, maxlen)
  local inst = P .. 'inst:' .. id
  local caps, tok = unpack(redis.call('HMGET', inst, 'caps', 'tok'))
  if tok then redis.call('HDEL', P .. 'tokens', tok) end
  if caps then
    for _, c in ipairs(cjson.decode(caps)) do
      redis.call('SREM', P .. 'cap:' .. c, id)
    end
  end
  redis.call('DEL', inst, P .. 'inbox:' .. id, P .. 'inboxidx:' .. id)
  redis.call('ZREM', P .. 'deadlines', id)
  redis.call('ZREM', P .. 'joined', id)
  redis.call('ZREM', P .. 'inbox_oldest', id)
  if redis.call('EXISTS', P .. 'broadcast') == 1 then
    redis.call('XGROUP', 'DESTROY', P .. 'broadcast', 'g:' .. id)
  end
  addEvent(P, maxlen, 'type', 'left', 'instance_id', id, 'reason', reason)
end

-- Field order of an instance row as returned to scripts.ts (see toInstance there).
local ROW_FIELDS = { 'host', 'port', 'caps', 'profiles', 'created', 'hb', 'status', 'metrics' }

local function instanceRow(P, id)
  local v = redis.call('HMGET', P .. 'inst:' .. id, unpack(ROW_FIELDS))
  table.insert(v, 1, id)
  return v
end
