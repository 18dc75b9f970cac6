-- The lease of a node id: one process at a time runs a node with the id on this Redis and prefix.
-- KEYS[1] the lease (PREFIX{node:ID}:lease), a string holding the holder's token.
-- KEYS[2] the claims refused while the lease was held (PREFIX{node:ID}:refused), a count; same
--   hash tag, so one slot. Releases before passed KEYS[1] alone: without KEYS[2] nothing is counted
--   or read.
-- ARGV 'hold': token, lease ms. Held by this token: its lifetime is renewed, returns {1, refused};
--   missing (never claimed, released, or lapsed): claimed for this token, returns {2, refused};
--   held by another token: left alone, returns {0, the lease's remaining ms}, which a holder
--   renewing it makes grow. refused: the count in KEYS[2], 0 when missing (releases before return
--   {1} and {2}).
-- ARGV 'refused': token, lease ms. A claim by this token was refused as the lease is another's:
--   counted in KEYS[2], which then expires a lease's time after the lease would lapse unrenewed
--   (the holder reads it at its next renewal, well before); returns {the count}. Not counted if the
--   lease is missing or this token's: returns {0}.
-- ARGV 'release': token. Deleted if this token holds it; returns {1} if it did, else {0}.
local v = redis.call('GET', KEYS[1])
if ARGV[1] == 'release' then
  if v == ARGV[2] then
    redis.call('DEL', KEYS[1])
    return {1}
  end
  return {0}
end
if ARGV[1] == 'refused' then
  if not v or v == ARGV[2] then
    return {0}
  end
  local n = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], math.max(0, redis.call('PTTL', KEYS[1])) + tonumber(ARGV[3]))
  return {n}
end
local refused = 0
if KEYS[2] then
  refused = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
end
if v == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, refused}
end
if not v then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {2, refused}
end
return {0, redis.call('PTTL', KEYS[1])}
