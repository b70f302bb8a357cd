--[[
  Queues one message's metadata, checking the source and the recipients in the same atomic step,
  so nothing is ever queued for a request that is answered with an error. The body was written by
  a plain HSET in the same MULTI just before this script (see includes/messages.lua); when the
  send is refused the script deletes it again, so a refused send leaves nothing behind.
    direct:    into the target's inbox (target live, inbox below its bound)
    broadcast: stored once in `bcast` with a new broadcast sequence; every member keeps a cursor
               `bc` (the last broadcast it has taken, in its record) and a pending set
               `bpend:<id>` (taken, not acked). A member reads the broadcasts after its cursor that
               are not its own; a new member's cursor starts at the newest, so it never sees older
               ones. Who receives a broadcast is decided by membership at this moment: members
               that joined before (join sequence <= the returned `join_seq`), live now, except the
               sender. This script returns what the replica needs to name them without listing
               every member here: the join sequence, the events position, and the members lapsed
               now (at most ARGV[9]; more is TOO_MANY_LAPSED, the caller runs cleanup and retries).

  KEYS[1] deadlines   KEYS[2] bcast   KEYS[3] bcidx   KEYS[4] bbody   KEYS[5] bseq   KEYS[6] seq
  KEYS[7] events      KEYS[8] bload   KEYS[9] idem:<source>/<key> (read and written only with a key)
  KEYS[10] inst:<source>   KEYS[11] inbox:<target>   KEYS[12] inboxb:<target>
          (a broadcast has no target: these two are then named with an empty id and never
          touched)
  (derived from ARGV[1]: each live member's record for the backlog bound; through the includes:
   inboxidx:<target>, inbox_oldest, msgseq, bpend:<source>, bfloor)

  ARGV[1] prefix  ARGV[2] mode 'direct'|'broadcast'  ARGV[3] source id  ARGV[4] target id ('' for
  broadcast)  ARGV[5] message_id  ARGV[6] body bytes  ARGV[7] inbox max pending
  ARGV[8] message TTL ms (0 = keep)  ARGV[9] lapsed members reported at most (broadcast)
  ARGV[10] Idempotency-Key ('' = none)  ARGV[11] its request fingerprint  ARGV[12] its window ms
  ARGV[13] what to remember with it ('' or a server-side request's correlation id)

  Returns (codes: includes/codes.lua)
    direct:    { code, expired_count, target }
    broadcast: { code, 0, bseq, join_seq, events_last_id, lapsed_count, lapsed id... }
               code NOBODY_ELSE_LIVE: stored nothing, nobody else is live
    code OK, NOT_LIVE source not live, TARGET_NOT_LIVE, INBOX_FULL (broadcast: followed by the
    ids of the recipients whose backlog is full), TOO_MANY_LAPSED members awaiting cleanup
    (followed by their count)
    With a key already used by this source within its window nothing is queued:
      REPLAYED: { REPLAYED, 0, first message_id, its ARGV[13], its mode, first success reply... }
      KEY_MISMATCH: the key was used for a different request (fingerprint)
    A success (OK, or NOBODY_ELSE_LIVE for a broadcast) stores that reply under the key
    (src/registry/idempotency.ts).
]]
-- @include "base"
-- @include "messages"

local P, mode, source, target = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mid, size = ARGV[5], ARGV[6]
local max, ttl, lapsedMax = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local now = nowMs()

-- Idempotency first: a retry returns the first result even if the target has left since.
local idem = (ARGV[10] or '') ~= '' and KEYS[9] or nil
if idem then
  local rec = redis.call('GET', idem)
  if rec then
    -- The body this attempt's MULTI wrote belongs to a message that will not exist.
    redis.call('HDEL', mode == 'direct' and KEYS[12] or KEYS[4], mid)
    local first = cjson.decode(rec)
    if first.f ~= ARGV[11] then return { KEY_MISMATCH, 0 } end
    return { REPLAYED, 0, first.m, first.x or '', first.k or 'direct', unpack(first.r) }
  end
end
-- `stored` is what a replay answers (no expiry count: that was this call's work).
local function remember(stored)
  if idem then
    redis.call('SET', idem, cjson.encode({ f = ARGV[11], m = mid, k = mode, x = ARGV[13], r = stored }), 'PX', ARGV[12])
  end
end

if mode == 'direct' then
  local body = KEYS[12]
  if not isLive(P, source, now) then redis.call('HDEL', body, mid); return { NOT_LIVE, 0 } end
  if not isLive(P, target, now) then redis.call('HDEL', body, mid); return { TARGET_NOT_LIVE, 0 } end
  local expired = expireInbox(P, target, now, ttl, 100)
  if redis.call('XLEN', KEYS[11]) >= max then
    redis.call('HDEL', body, mid)
    return { INBOX_FULL, expired }
  end
  enqueue(P, target, mid, size, now)
  remember({ OK, 0, target })
  return { OK, expired, target }
end

-- broadcast
local function refuse(...)
  redis.call('HDEL', KEYS[4], mid)
  return { ... }
end
if not isLive(P, source, now) then return refuse(NOT_LIVE, 0) end
if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') <= 1 then
  remember({ NOBODY_ELSE_LIVE, 0 })
  return refuse(NOBODY_ELSE_LIVE, 0)
end

-- The bound is per recipient, like an inbox: its backlog is what it took and has not acked
-- (pending) plus what it has not taken yet (the other members' broadcasts after its cursor).
-- `bload` orders members by cursor + own broadcasts after it - pending, so the members at or
-- over the bound are the lowest scores: a range query, not a loop over members.
local head = tonumber(redis.call('GET', KEYS[5]) or '0')
local full = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[8], '-inf', head - max, 'BYSCORE', 'LIMIT', 0, 64)) do
  if id ~= source and isLive(P, id, now) then full[#full + 1] = id end
end
if #full > 0 then return refuse(INBOX_FULL, 0, unpack(full)) end

local lapsedCount = redis.call('ZCOUNT', KEYS[1], '-inf', now)
if lapsedCount > lapsedMax then return refuse(TOO_MANY_LAPSED, 0, lapsedCount) end
local lapsed = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE')

local bseq = redis.call('INCR', KEYS[5])
redis.call('XADD', KEYS[2], bseq .. '-0', 'm', mid, 's', source, 'q', nextSeq(P), 'n', size, 't', now)
redis.call('HSET', KEYS[3], mid, bseq)

-- The sender never receives its own broadcast. When its cursor was at the newest broadcast, move
-- it past this one now; otherwise count it, so its own broadcasts never count as its backlog.
local inst = KEYS[10]
if tonumber(redis.call('HGET', inst, 'bc') or '0') == head then
  redis.call('HSET', inst, 'bc', bseq)
else
  redis.call('HINCRBY', inst, 'bown', 1)
end
syncBroadcastState(P, source)

local last = redis.call('XREVRANGE', KEYS[7], '+', '-', 'COUNT', 1)
local out = { OK, 0, bseq, tonumber(redis.call('GET', KEYS[6]) or '0'), last[1] and last[1][1] or '0-0', #lapsed }
for _, id in ipairs(lapsed) do out[#out + 1] = id end
remember(out)
return out
