-- The lease of a node id: one process at a time runs a node with the id on this Redis and prefix.
-- KEYS[1] the lease (PREFIX{node:ID}:lease), a string holding the holder's token.
-- ARGV 'hold': token, lease ms. Held by this token: its lifetime is renewed, returns {1}; missing
--   (never claimed, released, or lapsed): claimed for this token, returns {2}; held by another
--   token: left alone, returns {0, the lease's remaining ms}, which a holder renewing it makes grow.
-- ARGV 'release': token. Deleted if this token holds it; returns {1} if it did, else {0}.
local v = redis.call('GET', KEYS[1])
if ARGV[1] == 'release' then
  if v == ARGV[2] then
    redis.call('DEL', KEYS[1])
    return {1}
  end
  return {0}
end
if v == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1}
end
if not v then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {2}
end
return {0, redis.call('PTTL', KEYS[1])}
