-- Deletes one sign-in request in the erasure of its user.
-- KEYS: 1 request hash
-- ARGV: 1 user
-- Returns the request's address when it is deleted, else false. Deleted when it is the user's, or
-- no one's: the user's index names a request before it is bound (approval_index.lua), and a claim
-- or an answer of the user may still bind it once the erasure has passed. Another user's (who won
-- it) is left alone.
local s = redis.call('HMGET', KEYS[1], 'user', 'addr')
if not s[1] or (s[1] ~= ARGV[1] and s[1] ~= '') then
  return false
end
redis.call('DEL', KEYS[1])
return s[2]
