--[[
  Picks the recipient of a capability-routed message: among live holders of the capability
  (the sender excluded), the one with the fewest pending messages, ties broken by a rotating
  start so that equal peers share the load. Bounded: it looks at a window of up to ARGV[4] live
  holders starting at a rotating rank, examining at most ARGV[5] index entries - with a handful
  of holders that is all of them (exact least-loaded); with thousands it is the least loaded of
  a rotating sample (power-of-k choices), never a scan of every holder.
  The message itself is then queued by send.lua (direct), which re-checks the target.

  Holders are the members with the capability AND the members whose A2A Agent Card has a skill
  with that id or tag: the two indexes read as one sequence (capz first, then skillz, each in
  join order), ranks 0..n-1 over both; a member in both counts once, at its first rank. The
  window, the budget, the rotation and the least-loaded choice are the same as with one index.

  KEYS[1] capz:<capability>   KEYS[2] rr   KEYS[3] skillz:<capability>
  (derived from ARGV[1]: inbox:<id> of each candidate; through the includes: deadlines)
  ARGV[1] prefix  ARGV[2] source id  ARGV[3] inbox max pending  ARGV[4] window  ARGV[5] scan budget

  Returns { code, target|false }    (codes: includes/codes.lua)
    code OK, NOT_LIVE source not live, INBOX_FULL every candidate's inbox is full, NO_HOLDER no
    live holder, HOLDERS_LAPSED no live holder among the entries examined (lapsed members not
    yet cleaned up): clean up and retry
]]
-- @include "base"

local P, source = ARGV[1], ARGV[2]
local max, window, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = nowMs()
if not isLive(P, source, now) then return { NOT_LIVE, false } end

local ncap = redis.call('ZCARD', KEYS[1])
local n = ncap + redis.call('ZCARD', KEYS[3])
if n == 0 then return { NO_HOLDER, false } end

-- Appends the entries at ranks [from, to] (inclusive, 0 <= from <= to < n) of capz ++ skillz.
local function appendRanks(out, from, to)
  if to < from then return end
  if from < ncap then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[1], from, math.min(to, ncap - 1))) do out[#out + 1] = id end
  end
  if to >= ncap then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[3], math.max(from, ncap) - ncap, to - ncap)) do out[#out + 1] = id end
  end
end

local r = redis.call('INCR', KEYS[2])
local start = r % n
local ids = {}
appendRanks(ids, start, math.min(start + budget, n) - 1)
if #ids < budget and start > 0 then appendRanks(ids, 0, math.min(start, budget - #ids) - 1) end

-- The window: live holders in rank order from the rotating start; each with its inbox length.
local cands, bestLen, seen = {}, nil, {}
for offset, id in ipairs(ids) do
  local first = not seen[id]
  seen[id] = true
  if first and id ~= source and isLive(P, id, now) then
    local len = redis.call('XLEN', P .. 'inbox:' .. id)
    cands[#cands + 1] = { id = id, len = len, rank = (start + offset - 1) % n }
    if len < max and (bestLen == nil or len < bestLen) then bestLen = len end
    if #cands >= window then break end
  end
end
if bestLen == nil then
  if #cands > 0 then return { INBOX_FULL, false } end
  if #ids < n then return { HOLDERS_LAPSED, false } end
  return { NO_HOLDER, false }
end
-- Equally loaded holders take turns: in a stable (rank) order, the counter picks one.
local ties = {}
for _, c in ipairs(cands) do
  if c.len == bestLen then ties[#ties + 1] = c end
end
table.sort(ties, function(a, b) return a.rank < b.rank end)
return { OK, ties[r % #ties + 1].id }
