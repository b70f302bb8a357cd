--[[
  One page of what the member has not acknowledged yet, oldest first: its inbox merged with the
  broadcasts it has taken but not acked (`bpend:<id>`) and the new broadcasts after its cursor,
  in send order (field q). Metadata only: the replica reads the bodies with HMGET (see
  includes/messages.lua). Bounded: at most ARGV[3] entries from each source and a byte budget
  (sum of the bodies' sizes, ARGV[4]; the first entry is taken whatever its size, so a message
  larger than the budget is still delivered, alone). Pages continue after the cursors returned.
  Nothing is removed: entries stay until acked, so a crash between fetch and ack re-delivers them.
  New broadcasts taken by this page become pending and the cursor moves past them (and past the
  member's own broadcasts and expired ones before them).

  KEYS[1] deadlines   KEYS[2] bcast   KEYS[3] inst:<id>   KEYS[4] bpend:<id>   KEYS[5] inbox:<id>
  (through the includes: inboxidx:<id>, inboxb:<id>, bload, bfloor)
  ARGV[1] prefix  ARGV[2] id  ARGV[3] entries at most  ARGV[4] byte budget
  ARGV[5] message TTL ms (0 = keep)  ARGV[6] inbox cursor: stream id, exclusive ('' = start)
  ARGV[7] broadcast cursor: bseq, exclusive ('' = start)
  ARGV[8] '1' when the first entry is taken whatever its size (the answer is still empty)

  Returns { code, expired_count, more(0/1), next_inbox_cursor, next_broadcast_cursor, item... }
    item = { kind 'i'|'b', message_id, ref (stream id | bseq), q, bytes, created_ms }
    code OK, or NOT_LIVE (includes/codes.lua)
]]
-- @include "base"
-- @include "messages"

local P, id = ARGV[1], ARGV[2]
local limit, budget, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local afterSid, afterB = ARGV[6], tonumber(ARGV[7] ~= '' and ARGV[7] or '0')
local force = ARGV[8] == '1'
local now = nowMs()
if not isLive(P, id, now) then return { NOT_LIVE, 0, 0, '', '' } end
local cutoff = ttl > 0 and (now - ttl) or -1

local expired = expireInbox(P, id, now, ttl, 100)

-- Three sources, each read lazily in small chunks as the merge needs them (so a page of a few big
-- messages does not read a hundred entries it will not take), each at most `limit` entries:
-- the inbox, the broadcasts taken but not acked (pending), then the new ones after the cursor.
local CHUNK = 16
local inst = KEYS[3]
local pendKey = KEYS[4]
local state = redis.call('HMGET', inst, 'bc', 'bown')
local bc, bown = tonumber(state[1] or '0'), tonumber(state[2] or '0')
local changed = false

local inbox, ii, inboxAfter, inboxDone, inboxSeen = {}, 1, afterSid, false, 0
local function nextInbox()
  if ii > #inbox and not inboxDone then
    inbox, ii = redis.call('XRANGE', KEYS[5], inboxAfter == '' and '-' or ('(' .. inboxAfter), '+', 'COUNT', CHUNK), 1
    inboxSeen = inboxSeen + #inbox
    if #inbox < CHUNK or inboxSeen >= limit then inboxDone = true end
    if #inbox > 0 then inboxAfter = inbox[#inbox][1] end
  end
  return inbox[ii]
end

local bcands, bi = {}, 1
local pendAfter, pendDone, pendSeen = afterB, false, 0
local news, newAfter, newDone, newSeen = {}, bc, false, 0
local pendQueue, pq = {}, 1
local function nextBroadcast()
  while bi > #bcands do
    bcands, bi = {}, 1
    if pq <= #pendQueue then
      -- Pending broadcasts are resolved one at a time, as the merge reaches them: a page of inbox
      -- messages older than all of them reads none of their entries.
      local b = pendQueue[pq]
      pq = pq + 1
      local e = redis.call('XRANGE', KEYS[2], b .. '-0', b .. '-0')[1]
      if not e or tonumber(fieldOf(e[2], 't')) <= cutoff then
        -- trimmed or past the TTL: it will never be delivered
        redis.call('ZREM', pendKey, b)
        changed = true
        expired = expired + 1
      else
        bcands[1] = { b = tonumber(b), f = e[2] }
      end
    elseif not pendDone then
      local ids = redis.call('ZRANGE', pendKey, '(' .. pendAfter, '+inf', 'BYSCORE', 'LIMIT', 0, CHUNK)
      pendSeen = pendSeen + #ids
      if #ids < CHUNK then pendDone = true end
      -- Pending entries not read yet come before every new one: stop here for this page.
      if pendSeen >= limit and not pendDone then pendDone, newDone = true, true end
      pendQueue, pq = ids, 1
      if #ids > 0 then pendAfter = tonumber(ids[#ids]) end
    elseif not newDone then
      local ents = redis.call('XRANGE', KEYS[2], '(' .. newAfter .. '-0', '+', 'COUNT', CHUNK)
      newSeen = newSeen + #ents
      if #ents < CHUNK or newSeen >= limit then newDone = true end
      for _, e in ipairs(ents) do
        local src, t = fieldOf(e[2], 's'), tonumber(fieldOf(e[2], 't'))
        local b = idMs(e[1])
        newAfter = b
        local kind = src == id and 'own' or (t <= cutoff and 'old' or 'take')
        news[#news + 1] = { b = b, kind = kind }
        if kind == 'take' then bcands[#bcands + 1] = { b = b, f = e[2], idx = #news } end
      end
    else
      return nil
    end
  end
  return bcands[bi]
end

-- Merge by send sequence within the entry count and byte budget.
local out = {}
local taken, bytes = 0, 0
local lastSid, lastB = afterSid, afterB
local takenNew = {}
while taken < limit do
  local ie, be = nextInbox(), nextBroadcast()
  if not ie and not be then break end
  local iq = ie and tonumber(fieldOf(ie[2], 'q')) or nil
  local bq = be and tonumber(fieldOf(be.f, 'q')) or nil
  local useInbox = ie and (not be or iq < bq)
  local n = tonumber(fieldOf(useInbox and ie[2] or be.f, 'n') or '0')
  if (taken > 0 or not force) and bytes + n > budget then break end
  if useInbox then
    out[#out + 1] = { 'i', fieldOf(ie[2], 'm'), ie[1], iq, n, idMs(ie[1]) }
    lastSid = ie[1]
    ii = ii + 1
  else
    out[#out + 1] = { 'b', fieldOf(be.f, 'm'), be.b, bq, n, tonumber(fieldOf(be.f, 't')) }
    lastB = be.b
    if be.idx then takenNew[be.idx] = true end
    bi = bi + 1
  end
  taken = taken + 1
  bytes = bytes + n
end

-- Move the cursor over the new broadcasts taken, and the own/expired ones before the first one
-- not taken; the taken ones become pending.
local passed = 0
for i, e in ipairs(news) do
  if e.kind == 'take' and not takenNew[i] then break end
  if e.kind == 'own' then bown = bown - 1 end
  if e.kind == 'take' then redis.call('ZADD', pendKey, e.b, e.b) end
  bc = e.b
  passed = passed + 1
end
if passed > 0 then
  redis.call('HSET', inst, 'bc', bc, 'bown', math.max(bown, 0))
  changed = true
end
if changed then syncBroadcastState(P, id) end

local more = (ii <= #inbox or bi <= #bcands or pq <= #pendQueue or not inboxDone or not pendDone or not newDone) and 1 or 0
local reply = { OK, expired, more, lastSid, lastB > 0 and tostring(lastB) or '' }
for _, item in ipairs(out) do reply[#reply + 1] = item end
return reply
