-- Gives back an approval a poll consumed but could not turn into a session (the device limit, a store
-- error): polled again with its secret, it is APPROVED once more. Nothing unless it is CONSUMED.
-- KEYS: 1 request hash
-- ARGV: 1 secret hash
-- Returns 1 if given back, else 0.
local s = redis.call('HMGET', KEYS[1], 'state', 'secret')
if s[1] ~= 'CONSUMED' or s[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'APPROVED')
return 1
