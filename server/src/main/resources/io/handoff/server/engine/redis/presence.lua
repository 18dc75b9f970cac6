-- A device's presence entry: "online|connection|instance|last_seen_ms|deadline_ms" in the user's
-- hash (part_presence_up.lua).
-- KEYS[1] the user's presence hash.
-- ARGV 'up': device, connection, its Hello instance, now ms, deadline ms, max devices, key
--   lifetime ms.
--   Online through this connection until the deadline; makes room by dropping the entry offline
--   the longest. Returns 1.
-- ARGV 'down': device, connection, now ms.
--   Offline (last seen now) if online through this connection, its instance kept; returns 1 if
--   it was online.
-- ARGV 'back': as 'down', for a connection whose resume failed after its script marked it online
--   (RedisResume.takeBack), run after that script however late: the entry's deadline is set to 0,
--   which marks it taken back; a live connection of the device refreshes over such an entry
--   whatever its last-seen time (presence_keep.lua), as the script may have overwritten that
--   connection's entry, and last-seen times of different nodes' clocks cannot be compared.
--   KEYS[2] the user's channel, ARGV[5] the signal that the device went offline: published when
--   the entry changes, so the user's devices are told even when the node that sent this is gone
--   (stopped) or gave up on its answer by the time Redis runs it.
-- include: part_presence_up.lua
local mode = ARGV[1]
local now = tonumber(ARGV[4])
if mode == 'up' then
  presence_up(KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
  return 1
end
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then
  return 0
end
local on, conn, seen, dl, inst = parse_presence(v)
if on ~= '1' or conn ~= ARGV[3] then
  return 0
end
local mark = mode == 'back' and '0' or dl
if tonumber(dl) <= now then
  redis.call('HSET', KEYS[1], ARGV[2], '0|' .. conn .. '|' .. inst .. '|' .. seen .. '|' .. mark)
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], '0|' .. conn .. '|' .. inst .. '|' .. ARGV[4] .. '|' .. mark)
if mode == 'back' then
  redis.call('PUBLISH', KEYS[2], ARGV[5])
end
return 1
