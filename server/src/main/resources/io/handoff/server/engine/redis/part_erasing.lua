-- Part of approval_index.lua, attempt_fail.lua and approval_approvable.lua, put in where they
-- include it (RedisScript.source), before any write of theirs.
-- Whether an erasure's mark in key holds (erasure_mark.lua): each lapses at its own time, by
-- Redis's clock, and the lapsed ones are dropped. Most calls find no key and stop at the EXISTS.
local function erasing(key)
  if redis.call('EXISTS', key) == 0 then
    return false
  end
  -- A write after TIME needs effects replication: the default from Redis 5 on, asked for here in
  -- case a Redis 6 is configured to replicate whole scripts (a no-op on Redis 7).
  redis.replicate_commands()
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  local marks = redis.call('HGETALL', key)
  local held = false
  for i = 1, #marks, 2 do
    local ends = tonumber(marks[i + 1]) or 0
    if ends >= 1e12 and ends <= now then
      redis.call('HDEL', key, marks[i])
    else
      held = true -- a mark of '1' (releases before) holds as long as its key
    end
  end
  return held
end
