-- Stores a new live offer unless the user holds one with its id already (live or remembered) or
-- has too many live ones. Returns {1} when stored, {0} when too many, {2, Offer bytes} when the id
-- was taken (that offer, unchanged).
-- KEYS[1] the offer's hash, KEYS[2] the user's live-offer set (offer id scored by deadline),
-- KEYS[3] the user's recently ended set (offer id scored by end time), KEYS[4] the split guard (the
-- user's channel, never a key: RedisKeys.splitGuard).
-- ARGV: offer id, Offer bytes, now ms, deadline ms, max live, from device, target device,
--       key lifetime ms (deadline - now + retention), retention ms, max recently ended.
local now = tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES')
for i = 1, #expired, 2 do
  redis.call('ZADD', KEYS[3], expired[i + 1], expired[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
-- The offer hashes dropped from the ended set go with them: the sets index every offer key.
local base = string.sub(KEYS[3], 1, -6)
local forgotten = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[9]))
local excess = redis.call('ZCARD', KEYS[3]) - #forgotten - tonumber(ARGV[10])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], #forgotten, #forgotten + excess - 1)) do
    forgotten[#forgotten + 1] = id
  end
end
for _, id in ipairs(forgotten) do
  redis.call('DEL', base .. 'of:' .. id)
  redis.call('ZREM', KEYS[3], id)
end
local keep = tonumber(ARGV[9]) + 1000
if redis.call('EXISTS', KEYS[3]) == 1 and redis.call('PTTL', KEYS[3]) < keep then
  redis.call('PEXPIRE', KEYS[3], keep)
end
local earlier = redis.call('HGET', KEYS[1], 'o')
if earlier then
  return {2, earlier}
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return {0}
end
redis.call('HSET', KEYS[1], 'o', ARGV[2], 'st', '0', 'by', '', 'end', '0',
  'from', ARGV[6], 'to', ARGV[7], 'exp', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
-- The sets outlive every offer hash they index (deadline + retention), so erasure finds them all.
local ttl = tonumber(last[2]) - now + tonumber(ARGV[9]) + 1000
for k = 2, 3 do
  if redis.call('PTTL', KEYS[k]) < ttl then
    redis.call('PEXPIRE', KEYS[k], ttl)
  end
end
return {1}
