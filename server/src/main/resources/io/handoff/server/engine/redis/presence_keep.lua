-- The presence keeper's call for one user, once per period: refreshes the user's devices online
-- through this node, then reads every entry of the user, in one round trip.
-- KEYS[1] the user's presence hash.
-- ARGV: now ms, deadline ms, max devices, key lifetime ms, then (device, connection) pairs.
-- Returns the hash as HGETALL does (field, value, ...).
-- include: part_presence_up.lua
for i = 5, #ARGV, 2 do
  presence_up(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
end
return redis.call('HGETALL', KEYS[1])
