--[[
  Shared helpers, inlined by `-- @include "base"` (src/redis/script-runner.ts). P is the namespace
  prefix `mesh:{<ns>}:` (ARGV[1] of every script that includes this). The helpers derive the keys
  they touch from it - deadlines, joined, leader, term, electfloor, events, tokens, bseq, bload,
  bfloor, inbox_oldest, the capz:/skillz: indexes and a member's inst/inbox/inboxidx/inboxb/bpend/
  card keys - so every key carries the namespace's hash tag and a script touches one cluster slot.

  Bounded work: no helper here walks a structure whose size grows with the mesh. The election
  scan is bounded per call and resumes from `electfloor`, below which every member is known to
  have lapsed for good (a lapsed member never becomes live again: it must register anew, which
  gives it a new, larger join sequence).
]]
-- @include "time"
-- @include "codes"

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

-- The term of a new leader. +1 while the namespace lives; when the term is gone (a new namespace,
-- or Redis lost its data: restart without persistence, FLUSHALL) it starts again from Redis' clock
-- in ms, not from 1, so it is above every term handed out before the loss - a deposed leader
-- still holding one can never out-fence the new one. This rests on Redis' clock not going back
-- across the loss, and on fewer elections than milliseconds since the namespace began (terms
-- step +1 per election). Below 2^53: exact as a JSON number in JavaScript and Rust.
local function nextTerm(P, now)
  if redis.call('EXISTS', P .. 'term') == 0 then
    redis.call('SET', P .. 'term', now)
    return now
  end
  return redis.call('INCR', P .. 'term')
end

-- Members examined per election call at most (see oldestLive).
local ELECTION_SCAN = 128

-- The oldest live member by join sequence, or false. Starts after `electfloor`; members found
-- lapsed at the head of the line raise the floor, so the next call does not look at them again.
-- Returns false also when the scan budget ran out on lapsed members: the seat stays vacant until
-- the next script that checks it (any heartbeat) continues the scan, or cleanup removes them.
local function oldestLive(P, now)
  local floor = redis.call('GET', P .. 'electfloor') or '0'
  local ids = redis.call('ZRANGE', P .. 'joined', '(' .. floor, '+inf', 'BYSCORE', 'LIMIT', 0, ELECTION_SCAN, 'WITHSCORES')
  local newFloor = nil
  for i = 1, #ids, 2 do
    if isLive(P, ids[i], now) then
      if newFloor then redis.call('SET', P .. 'electfloor', newFloor) end
      return ids[i]
    end
    newFloor = ids[i + 1]
  end
  if newFloor then redis.call('SET', P .. 'electfloor', newFloor) end
  return false
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
  local term = nextTerm(P, now)
  redis.call('SET', P .. 'leader', nxt)
  addEvent(P, maxlen, 'type', 'leader', 'instance_id', nxt, 'term', term)
  return nxt, term, true
end

-- A member's broadcast bookkeeping (see send.lua for the model): `bload` scores it by
-- cursor + own-broadcasts-after-cursor - pending, so the members whose backlog reaches the bound
-- are the lowest scores; `bfloor` holds the oldest broadcast it still needs, so the minimum over
-- all members tells maintenance what every member is done with.
local function syncBroadcastState(P, id)
  local inst = P .. 'inst:' .. id
  local st = redis.call('HMGET', inst, 'bc', 'bown')
  local bc, bown = tonumber(st[1] or '0'), tonumber(st[2] or '0')
  local pend = P .. 'bpend:' .. id
  local pending = redis.call('ZCARD', pend)
  redis.call('ZADD', P .. 'bload', bc + bown - pending, id)
  local oldest = redis.call('ZRANGE', pend, 0, 0, 'WITHSCORES')
  redis.call('ZADD', P .. 'bfloor', oldest[2] and tonumber(oldest[2]) or (bc + 1), id)
end

-- A new member's broadcast cursor starts at the newest broadcast: it never sees older ones.
local function joinBroadcasts(P, id)
  local head = tonumber(redis.call('GET', P .. 'bseq') or '0')
  redis.call('HSET', P .. 'inst:' .. id, 'bc', head, 'bown', 0)
  redis.call('ZADD', P .. 'bload', head, id)
  redis.call('ZADD', P .. 'bfloor', head + 1, id)
end

-- Removes every trace of a member: record, indexes, queues, broadcast bookkeeping. The queues
-- can be large (INBOX_MAX messages): UNLINK frees them off the main thread, so a purge costs the
-- same whatever they hold.
local function purgeMember(P, id, reason, maxlen)
  local inst = P .. 'inst:' .. id
  local caps, tok, seq, skills = unpack(redis.call('HMGET', inst, 'caps', 'tok', 'seq', 'skills'))
  if tok then redis.call('HDEL', P .. 'tokens', tok) end
  if caps then
    for _, c in ipairs(cjson.decode(caps)) do
      redis.call('ZREM', P .. 'capz:' .. c, id)
    end
  end
  -- The A2A card's skill ids and tags (register.lua), and the card itself.
  if skills then
    for _, v in ipairs(cjson.decode(skills)) do
      redis.call('ZREM', P .. 'skillz:' .. v, id)
    end
  end
  local deadline = redis.call('ZSCORE', P .. 'deadlines', id)
  redis.call('UNLINK', inst, P .. 'inbox:' .. id, P .. 'inboxidx:' .. id, P .. 'inboxb:' .. id, P .. 'bpend:' .. id, P .. 'card:' .. id)
  redis.call('ZREM', P .. 'deadlines', id)
  redis.call('ZREM', P .. 'joined', id)
  redis.call('ZREM', P .. 'inbox_oldest', id)
  redis.call('ZREM', P .. 'bload', id)
  redis.call('ZREM', P .. 'bfloor', id)
  addEvent(P, maxlen, 'type', 'left', 'instance_id', id, 'reason', reason, 'seq', seq or '0', 'deadline', deadline or '0')
end

-- Field order of an instance row as returned to the services (see toInstance there).
local ROW_FIELDS = { 'host', 'port', 'caps', 'profiles', 'created', 'hb', 'status', 'metrics' }

local function instanceRow(P, id)
  local v = redis.call('HMGET', P .. 'inst:' .. id, unpack(ROW_FIELDS))
  table.insert(v, 1, id)
  return v
end

-- Up to `limit` live members after join sequence `after` of a zset scored by join sequence
-- (`joined`, or a capability index), examining at most `budget` entries. Returns the rows and
-- the cursor to continue from (the sequence of the last entry examined), or false when the
-- index has nothing after it.
local function liveRowsAfter(P, zkey, after, limit, budget, now)
  local start = after
  local floor = redis.call('GET', P .. 'electfloor')
  -- Every member at or below the election floor has lapsed for good: skip them.
  if floor and tonumber(floor) > tonumber(start) then start = floor end
  local rows, cursor, examined, exhausted = {}, false, 0, false
  -- Read the index in chunks sized to what is still missing (usually one chunk: lapsed members are
  -- few), not the whole budget at once: a 400-entry read for a 100-row page cost as much again.
  while #rows < limit and examined < budget and not exhausted do
    local want = math.min(budget - examined, limit - #rows + 8)
    local ids = redis.call('ZRANGE', zkey, '(' .. start, '+inf', 'BYSCORE', 'LIMIT', 0, want, 'WITHSCORES')
    if #ids < want * 2 then exhausted = true end
    for i = 1, #ids, 2 do
      examined = examined + 1
      cursor = ids[i + 1]
      start = cursor
      if isLive(P, ids[i], now) then
        rows[#rows + 1] = instanceRow(P, ids[i])
        if #rows >= limit then break end
      elseif zkey ~= P .. 'joined' and redis.call('EXISTS', P .. 'inst:' .. ids[i]) == 0 then
        -- A capability entry whose record expired by its TTL (maintenance did not run in time, so
        -- nobody could read its capabilities to clean them): drop it now.
        redis.call('ZREM', zkey, ids[i])
      end
    end
  end
  -- Nothing follows when the index ran out before the page filled.
  if exhausted and #rows < limit then cursor = false end
  return rows, cursor
end
