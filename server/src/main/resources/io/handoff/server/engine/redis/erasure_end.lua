-- Ends one erasure's mark (ApprovalStore.endErasure), dropping any other mark that lapsed.
-- KEYS: 1 the user's erasure marks (er, see erasure_mark.lua)
-- ARGV: 1 erasure id
-- Returns 1 when the mark still held, 0 when it lapsed or was never made.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
-- A write after TIME needs effects replication: the default from Redis 5 on, asked for here in
-- case a Redis 6 is configured to replicate whole scripts (a no-op on Redis 7).
redis.replicate_commands()
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local marks = redis.call('HGETALL', KEYS[1])
local held = 0
for i = 1, #marks, 2 do
  local ends = tonumber(marks[i + 1]) or 0
  local lapsed = ends >= 1e12 and ends <= now
  if marks[i] == ARGV[1] then
    redis.call('HDEL', KEYS[1], marks[i])
    if not lapsed then
      held = 1
    end
  elseif lapsed then
    redis.call('HDEL', KEYS[1], marks[i])
  end
end
return held
