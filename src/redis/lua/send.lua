--[[
  Queues one message, checking the source and the target(s) in the same atomic step, so nothing is
  ever queued for a request that is answered with an error.
    direct:     into the target's inbox (target must be live; inbox below its bound)
    capability: into the inbox of the live holder of the capability (sender excluded) with the fewest
                pending messages; ties are broken by a rotating start so equal peers share the load
    broadcast:  stored once in the broadcast stream; every member live now except the sender reads it
                through its own consumer group (created at its join, so later joiners never see it)

  KEYS[1] deadlines   KEYS[2] broadcast   KEYS[3] bidx   KEYS[4] joined   KEYS[5] rr
  (derived: inbox:<id>, inboxidx:<id>, inbox_oldest, cap:<name>, msgseq)

  ARGV[1] prefix  ARGV[2] mode 'direct'|'capability'|'broadcast'  ARGV[3] source id
  ARGV[4] target id or capability name ('' for broadcast)  ARGV[5] message_id  ARGV[6] body JSON
  ARGV[7] inbox max pending  ARGV[8] message TTL ms (0 = keep)

  Returns { code, expired_count, recipient... }
    code 1 ok, -1 source not live, -2 target not live, -3 inbox full (broadcast: followed by the
    ids of the recipients whose backlog is full), -4 no capable instance
]]
-- @include "base"
-- @include "messages"

local P, mode, source, target = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mid, body = ARGV[5], ARGV[6]
local max, ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
local now = nowMs()

if not isLive(P, source, now) then return { -1, 0 } end

if mode == 'direct' then
  if not isLive(P, target, now) then return { -2, 0 } end
  local expired = expireInbox(P, target, now, ttl, 1000)
  if redis.call('XLEN', P .. 'inbox:' .. target) >= max then return { -3, expired } end
  enqueue(P, target, mid, body, now)
  return { 1, expired, target }
end

if mode == 'capability' then
  local members = redis.call('SMEMBERS', P .. 'cap:' .. target)
  local candidates = {}
  for _, id in ipairs(members) do
    if id ~= source and isLive(P, id, now) then candidates[#candidates + 1] = id end
  end
  if #candidates == 0 then return { -4, 0 } end
  table.sort(candidates)
  local start = redis.call('INCR', KEYS[5]) % #candidates
  local best, bestLen = nil, nil
  for i = 0, #candidates - 1 do
    local id = candidates[(start + i) % #candidates + 1]
    local len = redis.call('XLEN', P .. 'inbox:' .. id)
    if len < max and (bestLen == nil or len < bestLen) then best, bestLen = id, len end
  end
  if not best then return { -3, 0 } end
  enqueue(P, best, mid, body, now)
  return { 1, 0, best }
end

-- broadcast
local recipients, isRecipient = {}, {}
local all = redis.call('ZRANGE', KEYS[4], 0, -1)
for _, id in ipairs(all) do
  if id ~= source and isLive(P, id, now) then
    recipients[#recipients + 1] = id
    isRecipient['g:' .. id] = true
  end
end
if #recipients == 0 then return { 1, 0 } end

-- The bound is per recipient, like an inbox: a member's broadcast backlog is what its group has
-- not acked yet (pending) plus what it has not read yet (lag). Only recipients that are full block
-- the send, and the error names them. When lag is unknown (entries deleted past the group's
-- cursor by TTL expiry) it is counted from the stream, bounded by the limit.
local full = {}
local senderCaughtUp = false
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local name = info['name']
  local pending = tonumber(info['pending'])
  if isRecipient[name] then
    local lag = info['lag']
    if type(lag) ~= 'number' then
      lag = #redis.call('XRANGE', KEYS[2], '(' .. info['last-delivered-id'], '+', 'COUNT', max)
    end
    if pending + lag >= max then full[#full + 1] = string.sub(name, 3) end
  elseif name == 'g:' .. source then
    senderCaughtUp = pending == 0 and info['lag'] == 0
  end
end
if #full > 0 then
  local out = { -3, 0 }
  for _, id in ipairs(full) do out[#out + 1] = id end
  return out
end

local sid = redis.call('XADD', KEYS[2], '*', 'm', mid, 's', source, 'b', body, 'q', nextSeq(P))
redis.call('HSET', KEYS[3], mid, sid)
-- The sender never receives its own broadcast. When its cursor was at the end of the stream, move
-- it past this entry now, so the entry does not wait for the sender's next fetch to be trimmed.
if senderCaughtUp then
  local added = 0
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' then added = info[i + 1] end
  end
  redis.call('XGROUP', 'SETID', KEYS[2], 'g:' .. source, sid, 'ENTRIESREAD', added)
end
local out = { 1, 0 }
for _, id in ipairs(recipients) do out[#out + 1] = id end
return out
