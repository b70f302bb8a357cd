--[[
  Lists live instances in join order (oldest first), electing a leader first when the seat is
  vacant so the listing's leader and is_leader flags always agree.

  KEYS[1] joined   KEYS[2] deadlines   KEYS[3] leader   KEYS[4] term   KEYS[5] events
  (derived: inst:<id>, cap:<name>)

  ARGV[1] prefix  ARGV[2] events maxlen
  ARGV[3] mode: 'all' | 'cap' (ARGV[4] = capability) | 'one' (ARGV[4] = instance id)
  ARGV[5] after: join-sequence cursor, exclusive ('' = from the start; 'all' mode only)
  ARGV[6] limit (0 = no limit)

  Returns { leader|false, term, leader_changed, next_cursor|false, count, row... }
    where each row is { id, host, port, caps, profiles, created, hb, status, metrics }
]]
-- @include "base"

local P = ARGV[1]
local now = nowMs()
local leader, term, changed = ensureLeader(P, now, tonumber(ARGV[2]))
local mode, arg = ARGV[3], ARGV[4]
local limit = tonumber(ARGV[6])
local rows, nextCursor = {}, false

if mode == 'one' then
  if isLive(P, arg, now) then rows[1] = instanceRow(P, arg) end
elseif mode == 'cap' then
  local members = redis.call('SMEMBERS', P .. 'cap:' .. arg)
  local withSeq = {}
  for _, id in ipairs(members) do
    if isLive(P, id, now) then
      withSeq[#withSeq + 1] = { tonumber(redis.call('ZSCORE', KEYS[1], id)), id }
    end
  end
  table.sort(withSeq, function(a, b) return a[1] < b[1] end)
  for _, e in ipairs(withSeq) do rows[#rows + 1] = instanceRow(P, e[2]) end
else
  -- Page by rank, not by LIMIT offset: each page is O(log N + page), so a full listing is O(N).
  local start = 0
  if ARGV[5] ~= '' then start = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[5]) end
  local done = false
  while not done do
    local page = redis.call('ZRANGE', KEYS[1], start, start + 499, 'WITHSCORES')
    if #page == 0 then break end
    for i = 1, #page, 2 do
      local id = page[i]
      if isLive(P, id, now) then
        rows[#rows + 1] = instanceRow(P, id)
        if limit > 0 and #rows >= limit then
          nextCursor = page[i + 1]
          done = true
          break
        end
      end
    end
    start = start + 500
  end
end

local out = { leader, term, changed and 1 or 0, nextCursor, #rows }
for _, r in ipairs(rows) do out[#out + 1] = r end
return out
