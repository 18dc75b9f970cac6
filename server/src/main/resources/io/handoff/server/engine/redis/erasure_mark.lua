-- Marks a user as being erased by one erasure (ApprovalStore.beginErasure): while any mark holds,
-- approval_index.lua notes no request for a device session, attempt_fail.lua counts no attempt
-- of one, and approval_approvable.lua approves nothing.
-- KEYS: 1 the user's erasure marks (er): erasure id -> when its mark lapses, ms of Redis TIME
-- ARGV: 1 erasure id, 2 the longest a mark holds, ms
-- Each mark lapses on its own, judged by Redis's clock (not a node's) wherever marks are read: a
-- mark left by an erasure whose node died holds its own lifetime, however many erasures of the
-- user came after it. Lapsed marks are dropped here and by the scripts that read them. The key's
-- TTL, never shortened, is only a backstop: it outlives every mark in it. A mark of '1' (releases
-- before, during a rolling upgrade) holds as long as the key.
-- A write after TIME needs effects replication: the default from Redis 5 on, asked for here in
-- case a Redis 6 is configured to replicate whole scripts (a no-op on Redis 7).
redis.replicate_commands()
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local marks = redis.call('HGETALL', KEYS[1])
for i = 1, #marks, 2 do
  local ends = tonumber(marks[i + 1]) or 0
  if ends >= 1e12 and ends <= now then
    redis.call('HDEL', KEYS[1], marks[i])
  end
end
local life = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + life))
if redis.call('PTTL', KEYS[1]) < life then
  redis.call('PEXPIRE', KEYS[1], life)
end
return 1
