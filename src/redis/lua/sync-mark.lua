--[[
  The replica-sync barrier's marker (src/registry/replica-sync.ts): one small write, so that the
  WAIT sent right after it on the same connection waits for everything the master had applied
  when the barrier ran - whichever connection wrote it (another replica's first attempt of a
  send that is now replayed, an ack that a retry finds already done). A WAIT alone only covers
  the calling connection's own last write.
  A script (not a plain INCR) for its allow-oom flag: acks and leaving must still be confirmed
  when Redis is full (src/redis/script-flags.ts).

  KEYS[1] sync (string counter)
  Returns the counter's new value.
]]
return redis.call('INCR', KEYS[1])
