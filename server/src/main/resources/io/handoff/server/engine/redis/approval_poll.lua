-- A waiting device polls its request (RFC 8628 §3.4): an approved request is consumed exactly once.
-- KEYS: 1 request hash
-- ARGV: 1 secret hash, 2 now ms, 3 slow-down step ms
-- Returns {status, first time seen expired "1"/"0", fields...} with status one of PENDING
-- SLOW_DOWN APPROVED DENIED EXPIRED CONSUMED UNKNOWN; fields are as after the call.
local s = redis.call('HMGET', KEYS[1], 'state', 'expires', 'secret', 'lastpoll', 'interval')
if not s[1] or s[3] ~= ARGV[1] then
  return {'UNKNOWN', '0'}
end
local now = tonumber(ARGV[2])
local out = {'', '0'}
if s[1] == 'APPROVED' then
  redis.call('HSET', KEYS[1], 'state', 'CONSUMED')
  out[1] = 'APPROVED'
elseif s[1] ~= 'PENDING' then
  out[1] = s[1]
elseif tonumber(s[2]) <= now then
  redis.call('HSET', KEYS[1], 'state', 'EXPIRED', 'by', '', 'decided', ARGV[2])
  out[1] = 'EXPIRED'
  out[2] = '1'
else
  redis.call('HSET', KEYS[1], 'lastpoll', ARGV[2])
  if s[4] and s[4] ~= '' and now - tonumber(s[4]) < tonumber(s[5]) then
    redis.call('HINCRBY', KEYS[1], 'interval', ARGV[3])
    out[1] = 'SLOW_DOWN'
  else
    out[1] = 'PENDING'
  end
end
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  out[#out + 1] = v
end
return out
