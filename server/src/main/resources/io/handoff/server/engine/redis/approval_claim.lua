-- Binds an unclaimed pending request to the first user who looks it up.
-- KEYS: 1 request hash
-- ARGV: 1 user, 2 now ms
-- Returns the request's fields (HGETALL) when the user may see it, else an empty list.
local s = redis.call('HMGET', KEYS[1], 'state', 'expires', 'user')
if not s[1] or s[1] ~= 'PENDING' or tonumber(s[2]) <= tonumber(ARGV[2]) then
  return {}
end
if s[3] == '' then
  redis.call('HSET', KEYS[1], 'user', ARGV[1])
elseif s[3] ~= ARGV[1] then
  return {}
end
return redis.call('HGETALL', KEYS[1])
