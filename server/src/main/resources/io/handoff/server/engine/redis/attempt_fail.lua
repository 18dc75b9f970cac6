-- Counts one failed attempt in a window that starts with the first.
-- KEYS: 1 counter; for an attempt of a user's device session (ApprovalStore.failBySession) also
--       2 the user's erasure mark (er), 3 that session's hash (ds:SID): the user's hash tag, the
--       counter's slot
-- ARGV: 1 window ms
-- Returns the count; counting nothing, -2 when the user is being erased (or an erasure's mark
-- outlived it), -1 when the session of KEYS[3] is gone (erased, revoked or expired): a counter
-- made then would outlive the erasure.

-- include: part_erasing.lua

if KEYS[2] then
  if erasing(KEYS[2]) then
    return -2
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
