-- Stores a new sign-in request unless its id is taken.
-- KEYS: 1 request hash
-- ARGV: 1 TTL ms, then field/value pairs
-- Returns 1 when stored, 0 when the id is taken.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 2, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
