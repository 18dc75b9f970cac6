-- Remembers one sign-in request of a user, so erasure finds every request of the user by name. Run
-- before the request is bound to the user (stored with the user, claimed or answered): the two are
-- other slots, so a node that dies between them leaves an entry naming a request that is not the
-- user's (approval_erase.lua leaves it alone), never a request of the user that erasure cannot find.
-- KEYS: 1 the user's request index zset (request id -> end of the request's retention ms)
-- ARGV: 1 request id, 2 end of retention ms, 3 now ms
-- Drops entries whose retention ended; the index lives as long as its longest-kept request.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local left = tonumber(ARGV[2]) - tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < left then
  redis.call('PEXPIRE', KEYS[1], left)
end
return 1
