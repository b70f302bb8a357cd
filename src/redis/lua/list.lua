--[[
  One page of live instances in join order (oldest first), electing a leader first when the seat
  is vacant so the page's leader and is_leader flags always agree. Bounded: at most ARGV[6] rows
  and ARGV[7] index entries examined per call, whatever the size of the mesh; callers that want
  more follow the cursor with more calls.

  KEYS[1] joined   KEYS[2] deadlines   KEYS[3] leader   KEYS[4] term   KEYS[5] events
  KEYS[6] <index>   the zset the page is read from, scored by join sequence: joined (modes 'all'
          and 'one'), capz:<name> (mode 'cap') or skillz:<value> (mode 'skill')
  (derived from ARGV[1]: inst:<id> of each row; through the includes: electfloor)

  ARGV[1] prefix  ARGV[2] events maxlen
  ARGV[3] mode: 'all' | 'cap' (ARGV[4] = capability) | 'skill' (ARGV[4] = A2A skill id or tag)
          | 'one' (ARGV[4] = instance id)
  ARGV[5] after: join-sequence cursor, exclusive ('0' = from the start)
  ARGV[6] limit: rows at most   ARGV[7] budget: index entries examined at most

  Returns { leader|false, term, leader_changed, next_cursor|false, count, row... }
    where each row is { id, host, port, caps, profiles, created, hb, status, metrics }
    next_cursor is false when nothing follows
]]
-- @include "base"

local P = ARGV[1]
local now = nowMs()
local leader, term, changed = ensureLeader(P, now, tonumber(ARGV[2]))
local mode, arg = ARGV[3], ARGV[4]
local limit, budget = tonumber(ARGV[6]), tonumber(ARGV[7])
local rows, nextCursor = {}, false

if mode == 'one' then
  if isLive(P, arg, now) then rows[1] = instanceRow(P, arg) end
else
  rows, nextCursor = liveRowsAfter(P, KEYS[6], ARGV[5], limit, budget, now)
end

local out = { leader, term, changed and 1 or 0, nextCursor, #rows }
for _, r in ipairs(rows) do out[#out + 1] = r end
return out
