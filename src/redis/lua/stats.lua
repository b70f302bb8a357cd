--[[
  Read-only snapshot for /metrics, taken at scrape time so every replica reports the same truth.
  One round trip, one consistent moment (Redis TIME), bounded work: O(log N) counts plus one XLEN
  per scanned inbox, at most ARGV[2] of them (oldest first: the inboxes most likely to be stuck).

  KEYS[1] deadlines   KEYS[2] joined   KEYS[3] leader   KEYS[4] term   KEYS[5] inbox_oldest
  KEYS[6] bcast       KEYS[7] events
  (derived: inbox:<id>)
  ARGV[1] prefix  ARGV[2] max inboxes to scan

  Returns { live, registered, lapsed, leader|false, term, inbox_total, inbox_max, inboxes_scanned,
            inbox_truncated(0/1), broadcast_len, events_len }
    leader is false when the seat is empty or its holder's heartbeat lapsed (not yet re-elected).
]]
local P = ARGV[1]
local maxScan = tonumber(ARGV[2])
-- @include "time"

local now = nowMs()

local live = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
local lapsed = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local registered = redis.call('ZCARD', KEYS[2])

local leader = redis.call('GET', KEYS[3])
if leader then
  local d = redis.call('ZSCORE', KEYS[1], leader)
  if not d or tonumber(d) <= now then leader = false end
end
local term = tonumber(redis.call('GET', KEYS[4]) or '0')

local total, deepest = 0, 0
local ids = redis.call('ZRANGE', KEYS[5], 0, maxScan - 1)
for _, id in ipairs(ids) do
  local n = redis.call('XLEN', P .. 'inbox:' .. id)
  total = total + n
  if n > deepest then deepest = n end
end
local truncated = 0
if redis.call('ZCARD', KEYS[5]) > #ids then truncated = 1 end

return { live, registered, lapsed, leader, term, total, deepest, #ids, truncated,
  redis.call('XLEN', KEYS[6]), redis.call('XLEN', KEYS[7]) }
