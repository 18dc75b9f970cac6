-- Deletes every device session of a user, tombstones included.
-- KEYS: 1 device->session hash (dev), 2 tombstone zset (dt), 3 the split guard (the user's channel,
-- never a key: RedisKeys.splitGuard); session keys derive from KEYS[1].
local base = string.sub(KEYS[1], 1, -4)
local devs = redis.call('HGETALL', KEYS[1])
for i = 2, #devs, 2 do
  redis.call('DEL', base .. 'ds:' .. devs[i], base .. 'do:' .. devs[i])
end
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', base .. 'ds:' .. sid, base .. 'do:' .. sid)
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
