-- A device's presence entry: "online|connection|last_seen_ms|deadline_ms" in the user's hash.
-- KEYS[1] the user's presence hash.
-- ARGV 'up': device, connection, now ms, deadline ms, max devices, key lifetime ms.
--   Online through this connection until the deadline; makes room by dropping the entry offline
--   the longest. Returns 1.
-- ARGV 'down': device, connection, now ms.
--   Offline (last seen now) if online through this connection; returns 1 if it was online.
local mode = ARGV[1]
local now = tonumber(ARGV[4])
local function parse(v)
  return string.match(v, '^(%d)|(.*)|(%d+)|(%d+)$')
end
if mode == 'up' then
  if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0
      and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then
    local all = redis.call('HGETALL', KEYS[1])
    local victim, oldest = nil, nil
    for i = 1, #all, 2 do
      local on, conn, seen, dl = parse(all[i + 1])
      local s = tonumber(seen) or 0
      if on == '1' and tonumber(dl) > now then
        s = math.huge
      end
      if oldest == nil or s < oldest then
        oldest = s
        victim = all[i]
      end
    end
    if victim then
      redis.call('HDEL', KEYS[1], victim)
    end
  end
  redis.call('HSET', KEYS[1], ARGV[2], '1|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  return 1
end
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then
  return 0
end
local on, conn, seen, dl = parse(v)
if on ~= '1' or conn ~= ARGV[3] then
  return 0
end
if tonumber(dl) <= now then
  redis.call('HSET', KEYS[1], ARGV[2], '0|' .. conn .. '|' .. seen .. '|' .. dl)
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], '0|' .. conn .. '|' .. ARGV[4] .. '|' .. dl)
return 1
