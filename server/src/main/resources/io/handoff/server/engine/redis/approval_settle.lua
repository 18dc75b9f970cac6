-- The session of an approval a poll consumed was made: no poll consumes it again.
-- KEYS: 1 request hash
-- ARGV: 1 secret hash
-- Returns 1 when settled, 0 when the request is not there consumed with this secret (erased).
local s = redis.call('HMGET', KEYS[1], 'state', 'secret')
if s[1] ~= 'CONSUMED' or s[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'settled', '1')
return 1
