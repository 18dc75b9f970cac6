-- A waiting device polls its request (RFC 8628 §3.4): an approved request is consumed exactly once.
-- KEYS: 1 request hash
-- A consumed approval whose node never settled it (approval_settle.lua: its session was made) is
-- SETTLING for the lease, then APPROVED again: the consuming poll's answer may have been lost (a
-- store timeout, a node that died), and the device polls on.
-- ARGV: 1 secret hash, 2 now ms, 3 slow-down step ms, 4 consume lease ms
-- Returns {status, first time seen expired "1"/"0", fields...} with status one of PENDING
-- SLOW_DOWN APPROVED DENIED EXPIRED CONSUMED SETTLING UNKNOWN; fields are as after the call.
local s = redis.call('HMGET', KEYS[1], 'state', 'expires', 'secret', 'lastpoll', 'interval',
  'consumed', 'settled')
if not s[1] or s[3] ~= ARGV[1] then
  return {'UNKNOWN', '0'}
end
local now = tonumber(ARGV[2])
local out = {'', '0'}
local unsettled = s[1] == 'CONSUMED' and s[6] and s[7] ~= '1'
if s[1] == 'APPROVED' or (unsettled and now - tonumber(s[6]) >= tonumber(ARGV[4])) then
  redis.call('HSET', KEYS[1], 'state', 'CONSUMED', 'consumed', ARGV[2])
  out[1] = 'APPROVED'
elseif unsettled then
  out[1] = 'SETTLING'
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
