-- Binds an unclaimed pending request to the first user who looks it up.
-- KEYS: 1 request hash
-- ARGV: 1 user, 2 now ms, 3 "1" when the request is in the user's request index already
-- Returns the request's fields (HGETALL) when the user may see it, else an empty list; {'UNBOUND',
-- expires} for an unclaimed request not yet in the user's index: the caller notes it there
-- (approval_index.lua) and calls again, so no request is ever the user's without erasure finding it.
local s = redis.call('HMGET', KEYS[1], 'state', 'expires', 'user')
if not s[1] or s[1] ~= 'PENDING' or tonumber(s[2]) <= tonumber(ARGV[2]) then
  return {}
end
if s[3] == '' then
  if ARGV[3] ~= '1' then
    return {'UNBOUND', s[2]}
  end
  redis.call('HSET', KEYS[1], 'user', ARGV[1])
elseif s[3] ~= ARGV[1] then
  return {}
end
return redis.call('HGETALL', KEYS[1])
