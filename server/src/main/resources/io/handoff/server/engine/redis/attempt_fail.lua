-- Counts one failed attempt in a window that starts with the first.
-- KEYS: 1 counter; for an attempt of a user's device session (ApprovalStore.failBySession) also
--       2 the user's erasure mark (er), 3 that session's hash (ds:SID): the user's hash tag, the
--       counter's slot
-- ARGV: 1 window ms
-- Returns the count; -1, counting nothing, when the session of KEYS[3] is gone (erased, revoked or
-- expired) or the user is being erased: a counter made then would outlive the erasure.
if KEYS[2] then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    return -1
  end
  local s = redis.call('HMGET', KEYS[3], 'did', 'rev')
  if not s[1] or s[2] == '1' then
    return -1
  end
end
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
