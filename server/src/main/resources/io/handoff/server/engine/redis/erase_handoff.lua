-- Deletes every activity, offer (live, ended or expired) and presence entry of a user.
-- KEYS: 1 activities (act), 2 live offers (offers), 3 ended offers (ended), 4 presence (pr), 5 the
-- split guard (the user's channel, never a key: RedisKeys.splitGuard).
-- Every offer hash is indexed by one of the two offer sets until the hash expires (the scripts that
-- trim a set delete the hashes they drop), so the sets name every offer key to delete.
local base = string.sub(KEYS[1], 1, -4)
for i = 2, 3 do
  for _, id in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
    redis.call('DEL', base .. 'of:' .. id)
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 1
