-- Part of presence.lua (its 'up'), presence_keep.lua and resume.lua, put in where they include
-- it (RedisScript.source).
-- A device's presence entry is "online|connection|last_seen_ms|deadline_ms" in the user's hash.
local function parse_presence(v)
  return string.match(v, '^(%d)|(.*)|(%d+)|(%d+)$')
end
-- The device online through this connection until the deadline (now and deadline in ms, as
-- strings); makes room by dropping the entry offline the longest when the hash holds max_devices.
-- With every entry online, the device is not listed: no online device is dropped for it.
local function presence_up(key, device, connection, now, deadline, max_devices, lifetime)
  if redis.call('HEXISTS', key, device) == 0
      and redis.call('HLEN', key) >= tonumber(max_devices) then
    local all = redis.call('HGETALL', key)
    local t = tonumber(now)
    local victim, oldest = nil, nil
    for i = 1, #all, 2 do
      local on, _, seen, dl = parse_presence(all[i + 1])
      local s = tonumber(seen) or 0
      if not (on == '1' and tonumber(dl) > t) and (oldest == nil or s < oldest) then
        oldest = s
        victim = all[i]
      end
    end
    if not victim then
      return
    end
    redis.call('HDEL', key, victim)
  end
  redis.call('HSET', key, device, '1|' .. connection .. '|' .. now .. '|' .. deadline)
  redis.call('PEXPIRE', key, lifetime)
end
