--[[
  Reply codes, inlined by `-- @include "codes"` (base includes it). One meaning per number across
  every script; src/redis/scripts/reply-codes.ts mirrors this table (a unit test compares them)
  and is the one place that turns a number back into a name.
]]
local OK = 1
-- broadcast: stored nothing, nobody else is live
local NOBODY_ELSE_LIVE = 2
-- the Idempotency-Key was used: the first send's reply follows, nothing was queued now
local REPLAYED = 3
-- the acting member (the caller's id, a send's source) is unknown or its heartbeat lapsed
local NOT_LIVE = -1
local TARGET_NOT_LIVE = -2
local INBOX_FULL = -3
-- no live holder of the capability (or A2A skill)
local NO_HOLDER = -4
-- more lapsed members await cleanup than one broadcast may name
local TOO_MANY_LAPSED = -5
-- only lapsed holders among the entries examined: clean up and try again
local HOLDERS_LAPSED = -6
-- the Idempotency-Key was used for a different request
local KEY_MISMATCH = -7
-- the id is registered and live, and the caller lacks its instance token
local ID_IN_USE = -8
-- the caller's instance token is not the member's
local NOT_OWNER = -9
