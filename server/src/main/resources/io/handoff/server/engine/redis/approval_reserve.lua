-- Reserves a place for a pending sign-in request in one bounded index (of an address, of a user, or
-- of the whole deployment).
-- KEYS: 1 index zset (request id -> deadline ms)
-- ARGV: 1 request id, 2 deadline ms, 3 now ms, 4 max pending, 5 TTL of the index ms
-- Returns 1 when reserved, 0 when the index holds the maximum of pending requests already, -1 when
-- the id is in the index already (another pending request has it: the caller must not release it).
-- Expired entries are dropped first, so a request past its deadline frees its place. The index's
-- TTL only grows: a shorter-lived request must not take the index away from longer-lived ones.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return -1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return 1
