-- Deletes one sign-in request in the erasure of its user.
-- KEYS: 1 request hash
-- ARGV: 1 user
-- Returns the request's address when it was the user's and is deleted, else false (none, or another
-- user's: a user's index may name a request before it is bound, and another user may have won it).
local s = redis.call('HMGET', KEYS[1], 'user', 'addr')
if not s[1] or s[1] ~= ARGV[1] then
  return false
end
redis.call('DEL', KEYS[1])
return s[2]
