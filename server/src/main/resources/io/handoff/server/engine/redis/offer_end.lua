-- Ends a live offer, atomically: the first call that may end it flips its state; every later call
-- sees that outcome. Outcomes: 1 ACCEPTED, 2 DECLINED (targets only), 3 CANCELLED (offerer only),
-- 4 EXPIRED (anyone, once the deadline passed). Any other outcome asked at or past the deadline of an
-- offer nobody ended records it EXPIRED at its deadline (and says so as this call's end): the device
-- is told it expired, so no later call, from a node whose clock is behind or one this store held
-- back, may end it otherwise.
-- KEYS[1] the offer's hash, KEYS[2] the user's live-offer set, KEYS[3] the recently ended set,
-- KEYS[4] the split guard (the user's channel, never a key: RedisKeys.splitGuard).
-- ARGV: offer id, device id, outcome, now ms, retention ms, max recently ended.
-- Returns {'notfound'} | {'ended', offer, outcome, by, ended_ms} | {'early', offer}
--       | {'denied', offer} | {'ok', offer, outcome, by, ended_ms}
local f = redis.call('HMGET', KEYS[1], 'o', 'st', 'by', 'end', 'from', 'to', 'exp')
if not f[1] then
  return {'notfound'}
end
local now = tonumber(ARGV[4])
local exp = tonumber(f[7])
if tonumber(f[2]) ~= 0 then
  return {'ended', f[1], tonumber(f[2]), f[3], tonumber(f[4])}
end
local outcome = tonumber(ARGV[3])
local dev = ARGV[2]
local at = now
if outcome == 4 then
  if exp > now then
    return {'early', f[1]}
  end
  dev = ''
elseif exp <= now then
  outcome = 4
  dev = ''
  at = exp
else
  local ok = false
  if outcome == 1 or outcome == 2 then
    if f[6] == '' then
      ok = dev ~= f[5]
    else
      ok = dev == f[6]
    end
  elseif outcome == 3 then
    ok = dev == f[5]
    dev = ''
  end
  if not ok then
    return {'denied', f[1]}
  end
end
redis.call('HSET', KEYS[1], 'st', outcome, 'by', dev, 'end', at)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], at, ARGV[1])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[6])
if excess > 0 then
  -- Forgotten offers go with their hashes: the sets index every offer key, for erasure.
  local base = string.sub(KEYS[3], 1, -6)
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess - 1)) do
    redis.call('DEL', base .. 'of:' .. id)
    redis.call('ZREM', KEYS[3], id)
  end
end
local ttl = math.max(exp - now, 0) + tonumber(ARGV[5]) + 1000
if redis.call('PTTL', KEYS[3]) < ttl then
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {'ok', f[1], outcome, dev, at}
