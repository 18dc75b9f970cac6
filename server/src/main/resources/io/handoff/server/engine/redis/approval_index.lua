-- Remembers one sign-in request of a user, so erasure finds every request of the user by name. Run
-- before the request is bound to the user (stored with the user, claimed or answered): the two are
-- other slots, so a node that dies between them leaves an entry naming a request that is not the
-- user's yet (erasure deletes it anyway, approval_erase.lua), never a request of the user that
-- erasure cannot find.
-- KEYS: 1 the user's request index zset (request id -> end of the request's retention ms), 2 (for
--       a claim or an answer by a device session) that session's hash, PREFIX{user}:ds:SID, and 3
--       the user's erasure marks (er): the same hash tag, so the same slot
-- ARGV: 1 request id, 2 end of retention ms, 3 now ms
-- Returns 1 when noted; 0, noting nothing, when the session of KEYS[2] is gone (erased, revoked or
-- expired) or the user is being erased (erasure_mark.lua). Checked here, with the noting, because
-- erasure deletes the sessions before it reads the index a last time: a session seen alive here
-- with no mark means that read is still to come and finds the request; a session gone means it
-- may have come already, so the request must not become the user's. The mark, made after the
-- sessions went and before that read, covers a session made during the erasure.

-- include: part_erasing.lua

if KEYS[2] then
  if erasing(KEYS[3]) then
    return 0
  end
  local s = redis.call('HMGET', KEYS[2], 'did', 'rev')
  if not s[1] or s[2] == '1' then
    return 0
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local left = tonumber(ARGV[2]) - tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < left then
  redis.call('PEXPIRE', KEYS[1], left)
end
return 1
